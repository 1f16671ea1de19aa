"""The citation check: a write-up may cite only papers the literature search stored for the run.

Citations are written ``[@key]`` with the keys the writer was given. Other ways of citing are
recognised too and checked against the stored papers: ``Foret et al. (2020)``, ``(Foret et al.,
2020)``, ``Foret and Kleiner (2020)``, ``Foret (2020)``, an arXiv id or a DOI. One that matches a
stored paper (an author's surname and the year, or the id) becomes ``[@key]``; one that does
not, a bracketed key or number that names no stored paper (``[@smith2019]``, ``[3]``), is
invented: its sentence fails, and no citation is better than an invented one.

Pure functions, no I/O: the caller supplies the stored papers and their keys.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field

from reviewers.grounding import GroundingReport, SentenceCheck, split_sentences
from runs.models import Paper

_NAME = r"[A-Z][A-Za-z'\u00C0-\u017F\-]+"
_YEAR = r"(?:19|20)\d{2}"
# Foret et al. (2020) | Foret et al., 2020 | Foret and Kleiner (2020) | Foret (2020)
_NARRATIVE = re.compile(
    rf"(?<![\w@])(?P<name>{_NAME})(?P<rest>\s+et\s+al\.?|\s+(?:and|&)\s+{_NAME})?"
    rf"(?:\s*\(\s*(?P<year1>{_YEAR})[a-z]?\s*\)|(?(rest),?\s+(?P<year2>{_YEAR})[a-z]?\b|(?!)))")
# (Foret et al., 2020) | (Foret, 2020) | (Foret and Kleiner, 2020; Keskar et al., 2016)
_PAREN = re.compile(rf"\((?P<body>(?:\s*{_NAME}(?:\s+et\s+al\.?|\s+(?:and|&)\s+{_NAME})?,?\s+{_YEAR}[a-z]?\s*;?)+)\)")
_PAREN_ONE = re.compile(rf"(?P<name>{_NAME})(?:\s+et\s+al\.?|\s+(?:and|&)\s+{_NAME})?,?\s+(?P<year>{_YEAR})")
_BRACKET = re.compile(r"\[(?P<body>[^\[\]\n]{1,200})\](?!\()")
_KEYLIKE = re.compile(r"^\s*@?[A-Za-z][\w:.\-]*(?:19|20)\d{2}[\w:.\-]*\s*$|^\s*\d{1,3}(?:\s*[,;\-–]\s*\d{1,3})*\s*$")
_ARXIV = re.compile(r"\barXiv\s*:\s*(\d{4}\.\d{4,5})(?:v\d+)?", re.IGNORECASE)
_DOI = re.compile(r"\b(?:doi\s*:\s*|https?://(?:dx\.)?doi\.org/)?(10\.\d{4,9}/[^\s,;()\]]*[^\s,;()\].])",
                  re.IGNORECASE)


@dataclass(frozen=True)
class CitablePaper:
    """What a citation may be matched on."""

    key: str
    surnames: tuple[str, ...]  # folded to lower-case ASCII
    year: int | None
    doi: str | None = None
    arxiv_id: str | None = None


@dataclass
class Citations:
    """The stored papers a text may cite, by key."""

    papers: dict[str, CitablePaper] = field(default_factory=dict)

    @classmethod
    def of(cls, papers: Iterable[Paper], keys: Mapping[str, str]) -> Citations:
        """From stored papers and their keys (paper id -> key)."""
        out = cls()
        for p in papers:
            key = keys.get(p.id)
            if key is not None:
                out.papers[key] = CitablePaper(key=key, surnames=tuple(_fold(n) for n in p.surnames), year=p.year,
                                               doi=(p.doi or "").lower() or None, arxiv_id=p.arxiv_id)
        return out

    def by_author_year(self, name: str, year: str) -> str | None:
        folded = _fold(name)
        hits = [c.key for c in self.papers.values() if c.year == int(year) and folded in c.surnames]
        return hits[0] if hits else None

    def by_id(self, arxiv: str | None = None, doi: str | None = None) -> str | None:
        for c in self.papers.values():
            if (arxiv and c.arxiv_id == arxiv) or (doi and c.doi == doi.lower().rstrip(".")):
                return c.key
        return None


def normalise(sentence: str, known: Citations) -> tuple[str, list[str], list[str]]:
    """(the sentence with every valid citation written ``[@key]``, keys cited, invented citations)."""
    bad: list[str] = []

    def paren(m: re.Match[str]) -> str:
        parts = [p for p in re.split(r";", m.group("body")) if p.strip()]
        keys = []
        for part in parts:
            one = _PAREN_ONE.search(part)
            key = known.by_author_year(one.group("name"), one.group("year")) if one else None
            if key is None:
                bad.append(part.strip())
                return m.group(0)
            keys.append(key)
        return "".join(f"[@{k}]" for k in keys)

    def narrative(m: re.Match[str]) -> str:
        year = m.group("year1") or m.group("year2")
        key = known.by_author_year(m.group("name"), year)
        if key is None:
            bad.append(m.group(0).strip())
            return m.group(0)
        return f"{m.group('name')}{m.group('rest') or ''} [@{key}]"

    def bracket(m: re.Match[str]) -> str:
        body = m.group("body")
        if "@" in body:
            keys = [k.strip().lstrip("@") for k in re.split(r"[;,]", body) if k.strip()]
            if all(k in known.papers for k in keys):
                return "".join(f"[@{k}]" for k in keys)
            bad.extend(f"[@{k}]" for k in keys if k not in known.papers)
            return m.group(0)
        if _KEYLIKE.match(body):
            if body.strip() in known.papers:
                return f"[@{body.strip()}]"
            bad.append(m.group(0))
        return m.group(0)

    def ident(m: re.Match[str], arxiv: bool) -> str:
        key = known.by_id(arxiv=m.group(1)) if arxiv else known.by_id(doi=m.group(1))
        if key is None:
            bad.append(m.group(0))
            return m.group(0)
        return f"[@{key}]"

    text = _PAREN.sub(paren, sentence)
    text = _NARRATIVE.sub(narrative, text)
    text = _BRACKET.sub(bracket, text)
    text = _ARXIV.sub(lambda m: ident(m, True), text)
    text = _DOI.sub(lambda m: ident(m, False), text)
    cited = re.findall(r"\[@([^\]\s;,]+)\]", text)
    return text, cited, bad


def check_citations(text: str, known: Citations) -> GroundingReport:
    """Sentences of ``text`` that cite what the store does not hold."""
    report = GroundingReport()
    for sentence in split_sentences(text):
        _, cited, bad = normalise(sentence, known)
        report.checked += len(cited) + len(bad)
        if bad:
            report.failures.append(SentenceCheck(sentence=sentence, reasons=[
                f"{b}: not a paper the literature search stored for this run" for b in bad]))
    return report


def describe(report: GroundingReport, limit: int = 12) -> str:
    lines = [f"- \"{f.sentence}\" ({'; '.join(f.reasons)})" for f in report.failures[:limit]]
    if len(report.failures) > limit:
        lines.append(f"- ... and {len(report.failures) - limit} more")
    return "\n".join(lines)


def _fold(name: str) -> str:
    return unicodedata.normalize("NFKD", name).encode("ascii", "ignore").decode().lower()
