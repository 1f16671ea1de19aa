"""What every backend offers, and the identifiers that let two backends agree on one paper.

A backend turns a query or a paper id into an HTTP request and parses the reply into
``Paper`` models. Parsing is pure (a reply body in, papers out), so each backend's parser is
tested on replies shaped like the real API's; replies are untrusted input: a malformed
entry is skipped, never trusted.
"""

from __future__ import annotations

import html
import re
import time
from typing import Any, ClassVar

from agents.literature.http import LiteratureError, Request
from runs.models import Paper

_DOI = re.compile(r"10\.\d{4,9}/\S+")
_ARXIV_NEW = re.compile(r"(\d{4}\.\d{4,5})(?:v\d+)?")
_ARXIV_OLD = re.compile(r"([a-z\-]+(?:\.[A-Z]{2})?/\d{7})(?:v\d+)?")
_TAGS = re.compile(r"<[^>]{0,200}>")
_TEXT_CAP = 20_000  # characters kept of an abstract


class Backend:
    """One literature service. Subclasses fill in the requests and parsers."""

    name: ClassVar[str] = ""
    # The kinds of paper id (doi, arxiv, or the backend's own name) it can look up.
    resolves: ClassVar[tuple[str, ...]] = ()

    def search_request(self, query: str, limit: int) -> Request:
        raise NotImplementedError

    def parse_search(self, text: str) -> list[Paper]:
        raise NotImplementedError

    def paper_request(self, kind: str, ident: str) -> Request:
        raise NotImplementedError

    def parse_paper(self, text: str) -> Paper | None:
        raise NotImplementedError


def split_id(paper_id: str) -> tuple[str, str]:
    """``doi:10.1/x`` -> (doi, 10.1/x); a bare DOI or arXiv id is recognised too."""
    kind, sep, ident = paper_id.partition(":")
    if sep and kind.lower() in ("doi", "arxiv", "openalex", "s2", "semantic_scholar", "crossref"):
        kind = kind.lower()
        return ("s2" if kind == "semantic_scholar" else kind), ident.strip()
    doi = normalize_doi(paper_id)
    if doi:
        return "doi", doi
    arxiv = normalize_arxiv(paper_id)
    if arxiv:
        return "arxiv", arxiv
    raise LiteratureError(f"{paper_id!r} is not a paper id (doi:..., arxiv:..., openalex:W..., s2:...)")


def normalize_doi(value: Any) -> str | None:
    """A DOI, lower-cased, from a bare DOI or a doi.org URL."""
    if not isinstance(value, str):
        return None
    m = _DOI.search(value.strip())
    return m.group(0).rstrip(".,;").lower() if m else None


def normalize_arxiv(value: Any) -> str | None:
    """An arXiv id without its version, from an id or an abs/pdf URL."""
    if not isinstance(value, str):
        return None
    value = value.strip()
    m = _ARXIV_NEW.search(value) or _ARXIV_OLD.search(value)
    return m.group(1) if m else None


def paper_id(source: str, source_id: str, doi: str | None, arxiv_id: str | None) -> str:
    """The id two backends agree on: the arXiv id, else the DOI, else the backend's own."""
    if arxiv_id:  # arXiv DOIs (10.48550/arxiv.N) and the arXiv id name the same preprint
        return f"arxiv:{arxiv_id}"
    if doi:
        m = re.fullmatch(r"10\.48550/arxiv\.(.+)", doi)
        return f"arxiv:{m.group(1)}" if m else f"doi:{doi}"
    return f"{'s2' if source == 'semantic_scholar' else source}:{source_id}"


def clean_text(value: Any, cap: int = _TEXT_CAP) -> str | None:
    """Plain text: markup (JATS, HTML) stripped, entities decoded, whitespace collapsed."""
    if not isinstance(value, str):
        return None
    text = " ".join(html.unescape(_TAGS.sub(" ", value)).split())
    return text[:cap] or None


def make_paper(source: str, source_id: Any, title: Any, **fields: Any) -> Paper | None:
    """A Paper from parsed fields, or None when the entry lacks an id or a title."""
    title = clean_text(title, 1000)
    source_id = str(source_id or "").strip()
    if not title or not source_id:
        return None
    doi = normalize_doi(fields.pop("doi", None))
    arxiv = normalize_arxiv(fields.pop("arxiv_id", None))
    if arxiv is None and doi:
        m = re.fullmatch(r"10\.48550/arxiv\.(.+)", doi)
        arxiv = m.group(1) if m else None
    authors = [a for a in (clean_text(x, 200) for x in fields.pop("authors", []) or []) if a][:50]
    year = fields.pop("year", None)
    year = year if isinstance(year, int) and 1000 < year < 3000 else None
    citations = fields.pop("citations", None)
    return Paper(id=paper_id(source, source_id, doi, arxiv), source=source, source_id=source_id, title=title,
                 authors=authors, year=year, venue=clean_text(fields.pop("venue", None), 300),
                 abstract=clean_text(fields.pop("abstract", None)), doi=doi, arxiv_id=arxiv,
                 url=fields.pop("url", None) if isinstance(fields.get("url"), str) else None,
                 citations=citations if isinstance(citations, int) and citations >= 0 else None,
                 fetched_at=time.time())


def json_body(text: str, backend: str) -> Any:
    import json

    try:
        return json.loads(text)
    except ValueError:
        raise LiteratureError(f"{backend}: the reply is not JSON ({' '.join(text.split())[:120]!r})") from None
