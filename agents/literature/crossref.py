"""Crossref's REST API (api.crossref.org): ``/works?query=`` and ``/works/{doi}``; abstracts are JATS XML."""

from __future__ import annotations

import re
from typing import Any
from urllib.parse import quote

from agents.literature.base import Backend, json_body, make_paper
from agents.literature.http import LiteratureError, Request
from runs.models import Paper

SELECT = "DOI,title,author,issued,published,container-title,abstract,URL,is-referenced-by-count"


class Crossref(Backend):
    name = "crossref"
    resolves = ("doi",)

    def __init__(self, mailto: str | None = None) -> None:
        self.mailto = mailto

    def search_request(self, query: str, limit: int) -> Request:
        params: dict[str, Any] = {"query": query, "rows": min(max(limit, 1), 100), "select": SELECT}
        if self.mailto:
            params["mailto"] = self.mailto
        return Request("/works", params)

    def parse_search(self, text: str) -> list[Paper]:
        body = json_body(text, self.name)
        message = body.get("message") if isinstance(body, dict) else None
        items = message.get("items") if isinstance(message, dict) else None
        if not isinstance(items, list):
            raise LiteratureError(f"{self.name}: no 'message.items' list in the reply")
        return [p for p in (parse_item(i) for i in items) if p is not None]

    def paper_request(self, kind: str, ident: str) -> Request:
        return Request(f"/works/{quote(ident, safe='/')}", {"mailto": self.mailto} if self.mailto else {})

    def parse_paper(self, text: str) -> Paper | None:
        body = json_body(text, self.name)
        return parse_item(body.get("message")) if isinstance(body, dict) else None


def parse_item(item: Any) -> Paper | None:
    """One Crossref work."""
    if not isinstance(item, dict):
        return None
    authors = []
    for a in item.get("author") or []:
        if isinstance(a, dict):
            name = " ".join(str(a[k]) for k in ("given", "family") if a.get(k)) or a.get("name")
            authors.append(name)
    year = None
    for key in ("issued", "published", "published-print", "published-online"):
        parts = (item.get(key) or {}).get("date-parts") if isinstance(item.get(key), dict) else None
        if isinstance(parts, list) and parts and isinstance(parts[0], list) and parts[0] and \
                isinstance(parts[0][0], int):
            year = parts[0][0]
            break
    abstract = item.get("abstract")
    if isinstance(abstract, str):  # JATS abstracts often open with a heading that says "Abstract"
        abstract = re.sub(r"^\s*<jats:title>[^<]{0,40}</jats:title>", "", abstract)
    titles = item.get("title")
    venues = item.get("container-title")
    doi = item.get("DOI")
    return make_paper("crossref", doi, titles[0] if isinstance(titles, list) and titles else titles,
                      authors=authors, year=year, venue=venues[0] if isinstance(venues, list) and venues else None,
                      abstract=abstract, doi=doi, url=item.get("URL"),
                      citations=item.get("is-referenced-by-count"))
