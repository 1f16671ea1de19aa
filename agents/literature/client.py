"""The literature client: one interface over the backends, a cache in the run store, a fallback order.

``search`` answers from the cache when any backend answered the same query before (so a
repeated query makes no request), else asks the backends in order and returns the first
answer; a backend that failed ``max_failures`` times in a row is skipped for ``skip_for``
seconds. Offline, only the cache answers. Every paper found is saved in the store.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

from pydantic import BaseModel, Field

from agents.literature.arxiv import Arxiv
from agents.literature.base import Backend, split_id
from agents.literature.config import LiteratureConfig
from agents.literature.crossref import Crossref
from agents.literature.http import Fetcher, LiteratureError, NotFound
from agents.literature.openalex import OpenAlex
from agents.literature.semantic_scholar import SemanticScholar
from runs.models import Paper


class SearchResult(BaseModel):
    """The papers a query found, who answered, and what went wrong on the way."""

    query: str
    papers: list[Paper] = Field(default_factory=list)
    backend: str | None = None  # the backend whose answer this is; None when none answered
    cached: bool = False  # answered from the run store, no request made
    errors: list[str] = Field(default_factory=list)  # one line per backend that failed
    skipped: list[str] = Field(default_factory=list)  # backends left out because they kept failing

    @property
    def answered(self) -> bool:
        return self.backend is not None


class BackendHealth:
    """Consecutive failures per backend; a backend that keeps failing is skipped for a while."""

    def __init__(self, max_failures: int, skip_for: float, clock: Callable[[], float] = time.monotonic) -> None:
        self.max_failures = max_failures
        self.skip_for = skip_for
        self.clock = clock
        self.failures: dict[str, int] = {}
        self.until: dict[str, float] = {}

    def available(self, name: str) -> bool:
        until = self.until.get(name)
        if until is None:
            return True
        if self.clock() >= until:  # its time out is over: one more chance
            del self.until[name]
            self.failures[name] = self.max_failures - 1
            return True
        return False

    def failed(self, name: str) -> None:
        self.failures[name] = self.failures.get(name, 0) + 1
        if self.failures[name] >= self.max_failures:
            self.until[name] = self.clock() + self.skip_for

    def succeeded(self, name: str) -> None:
        self.failures[name] = 0
        self.until.pop(name, None)


def make_backend(name: str, config: LiteratureConfig) -> Backend:
    if name == "openalex":
        return OpenAlex(config.mailto)
    if name == "semantic_scholar":
        return SemanticScholar()
    if name == "arxiv":
        return Arxiv()
    if name == "crossref":
        return Crossref(config.mailto)
    raise ValueError(f"unknown literature backend {name!r}")


class LiteratureClient:
    """Search papers and fetch their metadata, cached in ``store`` (a runs.store.RunStore, or None)."""

    def __init__(self, config: LiteratureConfig | None = None, store: Any = None, *,
                 fetcher: Fetcher | None = None) -> None:
        self.config = config or LiteratureConfig()
        self.store = store
        self.fetcher = fetcher or Fetcher(self.config)
        self.backends = [make_backend(name, self.config) for name in self.config.backends]
        self.health = BackendHealth(self.config.max_failures, self.config.skip_for)

    async def __aenter__(self) -> LiteratureClient:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.aclose()

    async def aclose(self) -> None:
        await self.fetcher.aclose()

    @property
    def requests(self) -> int:
        """HTTP requests made so far."""
        return self.fetcher.requests

    async def search(self, query: str, limit: int = 10) -> SearchResult:
        """Papers for ``query``: from the cache when any backend answered it before, else from the first
        backend (in order) that answers."""
        query = " ".join(query.split())
        key = query.lower()
        result = SearchResult(query=query)
        if not key:
            return result
        if self.store is not None:
            for backend in self.backends:
                cached = self.store.cached_query(backend.name, key, limit, self.config.max_age)
                if cached is not None:
                    return result.model_copy(update={"papers": cached, "backend": backend.name, "cached": True})
        if self.config.offline:
            result.errors.append("offline: this query is not in the cache")
            return result
        for backend in self.backends:
            if not self.health.available(backend.name):
                result.skipped.append(backend.name)
                continue
            try:
                reply = await self.fetcher.get(backend.name, backend.search_request(query, limit))
                papers = _unique(backend.parse_search(reply.text))[:limit]
            except LiteratureError as exc:
                self.health.failed(backend.name)
                result.errors.append(str(exc) if str(exc).startswith(backend.name) else f"{backend.name}: {exc}")
                continue
            self.health.succeeded(backend.name)
            if self.store is not None:
                self.store.save_papers(papers)
                self.store.save_query(backend.name, key, limit, [p.id for p in papers])
            return result.model_copy(update={"papers": papers, "backend": backend.name})
        return result

    async def paper(self, paper_id: str) -> Paper | None:
        """A paper's metadata and abstract by id (``doi:``, ``arxiv:``, ``openalex:``, ``s2:``): the stored copy
        when it has an abstract (or offline), else from the first backend that resolves that kind of id."""
        kind, ident = split_id(paper_id)
        wanted = f"{kind}:{ident.lower() if kind == 'doi' else ident}"
        cached = self.store.paper(wanted) if self.store is not None else None
        if cached is not None and (cached.abstract or self.config.offline):
            return cached
        if self.config.offline:
            return None
        for backend in self.backends:
            own = {"openalex": "openalex", "semantic_scholar": "s2"}.get(backend.name)
            if kind not in backend.resolves or (kind in ("openalex", "s2") and kind != own):
                continue
            if not self.health.available(backend.name):
                continue
            try:
                reply = await self.fetcher.get(backend.name, backend.paper_request(kind, ident))
                found = backend.parse_paper(reply.text)
            except NotFound:
                continue
            except LiteratureError:
                self.health.failed(backend.name)
                continue
            self.health.succeeded(backend.name)
            if found is not None:
                if self.store is not None:
                    self.store.save_papers([found])
                    found = self.store.paper(found.id) or found
                return found
        return cached


def _unique(papers: list[Paper]) -> list[Paper]:
    """Papers once each, by id and by title (two records of one paper from one backend)."""
    seen: set[str] = set()
    out = []
    for p in papers:
        title = " ".join(p.title.lower().split())
        if p.id in seen or title in seen:
            continue
        seen.update((p.id, title))
        out.append(p)
    return out
