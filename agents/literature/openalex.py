"""OpenAlex (api.openalex.org): ``/works?search=`` and ``/works/{id}``; abstracts come as an inverted index."""

from __future__ import annotations

from typing import Any

from agents.literature.base import Backend, json_body, make_paper
from agents.literature.http import LiteratureError, Request
from runs.models import Paper


class OpenAlex(Backend):
    name = "openalex"
    resolves = ("openalex", "doi")

    def __init__(self, mailto: str | None = None) -> None:
        self.mailto = mailto

    def _params(self, **params: Any) -> dict[str, Any]:
        return {**params, **({"mailto": self.mailto} if self.mailto else {})}

    def search_request(self, query: str, limit: int) -> Request:
        return Request("/works", self._params(search=query, **{"per-page": min(max(limit, 1), 200)}))

    def parse_search(self, text: str) -> list[Paper]:
        body = json_body(text, self.name)
        results = body.get("results") if isinstance(body, dict) else None
        if not isinstance(results, list):
            raise LiteratureError(f"{self.name}: no 'results' list in the reply")
        return [p for p in (parse_work(w) for w in results) if p is not None]

    def paper_request(self, kind: str, ident: str) -> Request:
        ref = f"doi:{ident}" if kind == "doi" else ident.rsplit("/", 1)[-1]
        return Request(f"/works/{ref}", self._params())

    def parse_paper(self, text: str) -> Paper | None:
        body = json_body(text, self.name)
        return parse_work(body) if isinstance(body, dict) else None


def parse_work(work: Any) -> Paper | None:
    """One OpenAlex work object."""
    if not isinstance(work, dict):
        return None
    ident = str(work.get("id") or "").rsplit("/", 1)[-1]
    ids = work.get("ids") if isinstance(work.get("ids"), dict) else {}
    location = work.get("primary_location") if isinstance(work.get("primary_location"), dict) else {}
    source = location.get("source") if isinstance(location.get("source"), dict) else {}
    authors = [a.get("author", {}).get("display_name") for a in work.get("authorships") or []
               if isinstance(a, dict) and isinstance(a.get("author"), dict)]
    arxiv = ids.get("arxiv") if isinstance(ids.get("arxiv"), str) else None
    landing = location.get("landing_page_url")
    if arxiv is None and isinstance(landing, str) and "arxiv.org/abs/" in landing:
        arxiv = landing
    return make_paper("openalex", ident, work.get("title") or work.get("display_name"),
                      authors=authors, year=work.get("publication_year"), venue=source.get("display_name"),
                      abstract=inverted_abstract(work.get("abstract_inverted_index")),
                      doi=work.get("doi") or ids.get("doi"), arxiv_id=arxiv,
                      url=landing if isinstance(landing, str) else work.get("id"),
                      citations=work.get("cited_by_count"))


def inverted_abstract(index: Any) -> str | None:
    """The abstract text from OpenAlex's ``{word: [positions]}`` index."""
    if not isinstance(index, dict) or not index:
        return None
    slots: dict[int, str] = {}
    for word, positions in index.items():
        if not isinstance(positions, list):
            continue
        for p in positions:
            if isinstance(p, int) and 0 <= p < 20_000:
                slots[p] = str(word)
    return " ".join(slots[i] for i in sorted(slots)) or None
