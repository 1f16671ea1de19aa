"""BibTeX entries and citation keys, made from a stored paper's metadata.

Entries are written from the stored fields, not copied from a service, so every character in
them is one we escaped: a title from an API cannot break the LaTeX it ends up in.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Iterable

from runs.models import Paper

_SPECIAL = {"\\": "", "{": "", "}": "", "&": r"\&", "%": r"\%", "$": r"\$", "#": r"\#", "_": r"\_",
            "^": "", "~": "", "<": "", ">": ""}
_TITLE_SKIP = {"a", "an", "the", "on", "of", "for", "in", "to", "and", "with", "towards", "toward", "via", "is", "are",
               "do", "does", "how", "what", "why", "when", "from", "at", "by", "we", "can", "beyond", "into"}


def ascii_text(text: str) -> str:
    """``text`` in ASCII (accents dropped) with BibTeX/LaTeX specials escaped or removed."""
    plain = unicodedata.normalize("NFKD", text).encode("ascii", "ignore").decode()
    return "".join(_SPECIAL.get(ch, ch) for ch in " ".join(plain.split()))


def base_key(paper: Paper) -> str:
    """``vaswani2017attention``: first author's surname, year, first significant title word."""
    name = re.sub(r"[^a-z]", "", ascii_text(paper.surnames[0]).lower()) if paper.surnames else ""
    words = [w for w in re.findall(r"[a-z0-9]+", ascii_text(paper.title).lower()) if w not in _TITLE_SKIP]
    return f"{name or 'anon'}{paper.year or 'nd'}{words[0] if words else 'paper'}"


def cite_keys(papers: Iterable[Paper]) -> dict[str, str]:
    """A unique citation key per paper id (``...a``, ``...b`` suffixes where two would clash)."""
    keys: dict[str, str] = {}
    taken: set[str] = set()
    for paper in papers:
        if paper.id in keys:
            continue
        key, n = base_key(paper), 0
        while key in taken:
            key = base_key(paper) + "abcdefghijklmnopqrstuvwxyz"[n % 26] + ("" if n < 26 else str(n // 26))
            n += 1
        keys[paper.id] = key
        taken.add(key)
    return keys


def bibtex(paper: Paper, key: str) -> str:
    """One BibTeX entry: ``@article`` with a venue, ``@misc`` with an arXiv eprint otherwise."""
    fields: list[tuple[str, str]] = [("title", "{" + ascii_text(paper.title) + "}")]
    if paper.authors:
        fields.append(("author", " and ".join(ascii_text(a) for a in paper.authors[:30])
                       + (" and others" if len(paper.authors) > 30 else "")))
    if paper.year:
        fields.append(("year", str(paper.year)))
    venue = ascii_text(paper.venue) if paper.venue and paper.venue.lower() not in ("arxiv", "") else ""
    kind = "article" if venue else "misc"
    if venue:
        fields.append(("journal", venue))
    if paper.doi:
        fields.append(("doi", ascii_text(paper.doi)))
    if paper.arxiv_id:
        fields += [("eprint", ascii_text(paper.arxiv_id)), ("archivePrefix", "arXiv")]
    if paper.url:
        fields.append(("url", paper.url.replace("{", "").replace("}", "").replace(" ", "%20")))
    body = ",\n".join(f"  {name} = {{{value}}}" for name, value in fields)
    return f"@{kind}{{{key},\n{body}\n}}\n"


def reference_text(paper: Paper) -> str:
    """A reference as the report lists it: ``Vaswani, Shazeer et al. (2017). Title. Venue. doi:...``."""
    return paper.reference
