"""arXiv's API (export.arxiv.org/api/query): Atom XML, one request every 3 seconds."""

from __future__ import annotations

import re
import xml.etree.ElementTree as ET

from agents.literature.base import Backend, make_paper
from agents.literature.http import LiteratureError, Request
from runs.models import Paper

_NS = {"a": "http://www.w3.org/2005/Atom", "arxiv": "http://arxiv.org/schemas/atom"}
_WORD = re.compile(r"[A-Za-z0-9][A-Za-z0-9\-]+")
_STOP = {"a", "an", "and", "are", "as", "at", "be", "by", "for", "from", "how", "in", "into", "is", "it", "of",
         "on", "or", "the", "to", "with", "we", "our", "does", "do", "can", "that", "this", "than", "using"}


class Arxiv(Backend):
    name = "arxiv"
    resolves = ("arxiv",)

    def search_request(self, query: str, limit: int) -> Request:
        return Request("/api/query", {"search_query": search_query(query), "start": 0,
                                      "max_results": min(max(limit, 1), 100), "sortBy": "relevance"})

    def parse_search(self, text: str) -> list[Paper]:
        return parse_feed(text)

    def paper_request(self, kind: str, ident: str) -> Request:
        return Request("/api/query", {"id_list": ident, "max_results": 1})

    def parse_paper(self, text: str) -> Paper | None:
        papers = parse_feed(text)
        return papers[0] if papers else None


def search_query(query: str, words: int = 8) -> str:
    """arXiv's query syntax for free text: its significant words in any field, any of them (requiring all
    of several words finds almost nothing; sorted by relevance, papers with more of them come first)."""
    terms = [w for w in _WORD.findall(query) if w.lower() not in _STOP][:words]
    return " OR ".join(f"all:{w}" for w in terms) or "all:" + (query.strip() or "*")


def parse_feed(text: str) -> list[Paper]:
    """The entries of an arXiv Atom feed (an error entry becomes a LiteratureError)."""
    try:
        root = ET.fromstring(text)
    except ET.ParseError as exc:
        raise LiteratureError(f"arxiv: the reply is not Atom XML ({exc})") from None
    papers = []
    for entry in root.findall("a:entry", _NS):
        ident = (entry.findtext("a:id", "", _NS) or "").strip()
        if "/api/errors" in ident:
            raise LiteratureError(f"arxiv: {' '.join((entry.findtext('a:summary', '', _NS) or '').split())}")
        authors = [(a.findtext("a:name", "", _NS) or "").strip() for a in entry.findall("a:author", _NS)]
        published = entry.findtext("a:published", "", _NS) or ""
        year = int(published[:4]) if published[:4].isdigit() else None
        link = next((ln.get("href") for ln in entry.findall("a:link", _NS)
                     if ln.get("rel") == "alternate" and ln.get("href")), ident or None)
        paper = make_paper("arxiv", ident.rsplit("/abs/", 1)[-1], entry.findtext("a:title", "", _NS),
                           authors=authors, year=year, venue=entry.findtext("arxiv:journal_ref", None, _NS) or "arXiv",
                           abstract=entry.findtext("a:summary", "", _NS), doi=entry.findtext("arxiv:doi", None, _NS),
                           arxiv_id=ident, url=link)
        if paper is not None:
            papers.append(paper)
    return papers
