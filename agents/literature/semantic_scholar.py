"""Semantic Scholar Graph API: ``/graph/v1/paper/search`` and ``/graph/v1/paper/{id}`` (x-api-key optional)."""

from __future__ import annotations

from typing import Any

from agents.literature.base import Backend, json_body, make_paper
from agents.literature.http import LiteratureError, Request
from runs.models import Paper

FIELDS = "title,abstract,year,authors,venue,externalIds,url,citationCount"


class SemanticScholar(Backend):
    name = "semantic_scholar"
    resolves = ("s2", "doi", "arxiv")

    def search_request(self, query: str, limit: int) -> Request:
        return Request("/graph/v1/paper/search", {"query": query, "limit": min(max(limit, 1), 100),
                                                   "fields": FIELDS})

    def parse_search(self, text: str) -> list[Paper]:
        body = json_body(text, self.name)
        if not isinstance(body, dict):
            raise LiteratureError(f"{self.name}: the reply is not an object")
        data = body.get("data", [] if body.get("total") == 0 else None)  # no 'data' when nothing matched
        if not isinstance(data, list):
            raise LiteratureError(f"{self.name}: no 'data' list in the reply")
        return [p for p in (parse_s2(d) for d in data) if p is not None]

    def paper_request(self, kind: str, ident: str) -> Request:
        ref = {"doi": f"DOI:{ident}", "arxiv": f"ARXIV:{ident}"}.get(kind, ident)
        return Request(f"/graph/v1/paper/{ref}", {"fields": FIELDS})

    def parse_paper(self, text: str) -> Paper | None:
        body = json_body(text, self.name)
        return parse_s2(body) if isinstance(body, dict) else None


def parse_s2(item: Any) -> Paper | None:
    """One Semantic Scholar paper object."""
    if not isinstance(item, dict):
        return None
    ext = item.get("externalIds") if isinstance(item.get("externalIds"), dict) else {}
    authors = [a.get("name") for a in item.get("authors") or [] if isinstance(a, dict)]
    return make_paper("semantic_scholar", item.get("paperId"), item.get("title"), authors=authors,
                      year=item.get("year"), venue=item.get("venue") or None, abstract=item.get("abstract"),
                      doi=ext.get("DOI"), arxiv_id=ext.get("ArXiv"), url=item.get("url"),
                      citations=item.get("citationCount"))
