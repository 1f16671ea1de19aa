"""The literature client over real HTTP against the fake service: politeness, fallback, cache, offline."""

from __future__ import annotations

import asyncio
import itertools
import time
from email.utils import formatdate
from pathlib import Path

import pytest

from agents.literature.client import LiteratureClient
from agents.literature.config import LiteratureConfig, LiteratureConfigError
from agents.literature.http import Fetcher, parse_retry_after
from runs.store import RunStore
from tests.literature_server import Fail, LiteratureServer


def config(lit: LiteratureServer, **kw: object) -> LiteratureConfig:
    fields: dict[str, object] = {"urls": lit.urls, "min_interval": dict(lit.no_wait), "timeout": 2.0,
                                 "max_retries": 2, "backoff": 0.01, "max_wait": 5.0}
    return LiteratureConfig(**{**fields, **kw})


@pytest.fixture
def store(tmp_path: Path) -> RunStore:
    s = RunStore(tmp_path / "runs")
    yield s
    s.close()


async def test_search_uses_the_first_backend_and_caches_the_answer(lit: LiteratureServer, store: RunStore) -> None:
    async with LiteratureClient(config(lit, mailto="lab@example.org"), store) as client:
        found = await client.search("sharp minima generalization", limit=3)
        assert found.backend == "openalex" and not found.cached and found.errors == []
        assert [p.id for p in found.papers][:2] == ["arxiv:1609.04836", "arxiv:2010.01412"]
        assert len(found.papers) == 3
        (seen,) = lit.seen("openalex")
        assert seen.params["search"] == "sharp minima generalization" and seen.params["per-page"] == "3"
        assert seen.params["mailto"] == "lab@example.org" and "discover/" in seen.headers["user-agent"]
        again = await client.search("  Sharp minima   GENERALIZATION ", limit=3)
        assert again.cached and again.backend == "openalex" and again.papers == found.papers
        assert len(lit.requests) == 1 and client.requests == 1  # a repeated query costs nothing
    stored = store.paper("arxiv:2010.01412")
    assert stored is not None and stored.abstract and stored.source == "openalex"


async def test_falls_back_in_order_and_skips_a_backend_that_keeps_failing(lit: LiteratureServer,
                                                                          store: RunStore) -> None:
    lit.down.add("openalex")
    async with LiteratureClient(config(lit, max_retries=1, max_failures=2, skip_for=0.3), store) as client:
        first = await client.search("adam stochastic optimization")
        assert first.backend == "semantic_scholar" and first.papers[0].title.startswith("Adam")
        assert first.errors and first.errors[0].startswith("openalex: failed after 2 attempts: HTTP 503")
        second = await client.search("cyclical learning rates")
        assert second.backend == "semantic_scholar" and len(lit.seen("openalex")) == 4
        third = await client.search("ridge regression")
        assert third.skipped == ["openalex"] and third.backend == "semantic_scholar"
        assert len(lit.seen("openalex")) == 4  # skipped: no request
        lit.down.clear()
        await asyncio.sleep(0.35)  # its time out is over: it gets another chance
        fourth = await client.search("loss landscape visualizing")
        assert fourth.backend == "openalex" and fourth.skipped == []


async def test_retry_after_is_honoured(lit: LiteratureServer, store: RunStore) -> None:
    lit.fail("semantic_scholar", Fail(429, {"Retry-After": "1"}))
    async with LiteratureClient(config(lit, backends=["semantic_scholar"]), store) as client:
        found = await client.search("deep learning")
    first, second = lit.seen("semantic_scholar")
    assert found.backend == "semantic_scholar" and found.papers
    assert second.at - first.at >= 0.95  # waited as asked, not the 0.01 s backoff


async def test_a_long_retry_after_falls_over_at_once(lit: LiteratureServer, store: RunStore) -> None:
    lit.fail("openalex", Fail(429, {"Retry-After": "3600"}))
    start = time.monotonic()
    async with LiteratureClient(config(lit, max_wait=30), store) as client:
        found = await client.search("deep learning")
    assert time.monotonic() - start < 2
    assert found.backend == "semantic_scholar" and len(lit.seen("openalex")) == 1
    assert "asks to wait 3600s, more than the 30s allowed" in found.errors[0]


async def test_retries_are_bounded_and_permanent_errors_not_retried(lit: LiteratureServer, store: RunStore) -> None:
    lit.down.add("crossref")
    async with LiteratureClient(config(lit, backends=["crossref"], max_retries=3), store) as client:
        found = await client.search("deep learning")
        assert not found.answered and found.papers == []
        assert len(lit.seen("crossref")) == 4  # the first attempt and three retries
        lit.down.clear()
        lit.fail("crossref", Fail(400, body='{"status": "failed", "message": "bad query"}'))
        bad = await client.search("ridge regression")
        assert len(lit.seen("crossref")) == 5 and "HTTP 400" in bad.errors[0]


async def test_a_hanging_backend_times_out(lit: LiteratureServer, store: RunStore) -> None:
    lit.fail("openalex", Fail(200, delay=1.5))
    async with LiteratureClient(config(lit, timeout=0.5, max_retries=0), store) as client:
        found = await client.search("deep learning")
    assert found.backend == "semantic_scholar" and "no answer" in found.errors[0]


async def test_requests_to_one_backend_are_spaced(lit: LiteratureServer, store: RunStore) -> None:
    async with LiteratureClient(config(lit, backends=["arxiv"], min_interval={"arxiv": 0.3}), store) as client:
        for query in ("adam", "sharpness", "loss landscape"):
            assert (await client.search(query)).backend == "arxiv"
    times = [r.at for r in lit.seen("arxiv")]
    assert len(times) == 3 and min(b - a for a, b in itertools.pairwise(times)) >= 0.28
    assert lit.seen("arxiv")[0].params["search_query"] == "all:adam"


async def test_offline_uses_only_the_cache(lit: LiteratureServer, store: RunStore) -> None:
    async with LiteratureClient(config(lit), store) as client:
        online = await client.search("ridge regression")
        await client.paper("doi:10.1038/nature14539")
    asked = len(lit.requests)
    async with LiteratureClient(config(lit, offline=True), store) as client:
        cached = await client.search("ridge regression")
        missing = await client.search("something never searched")
        paper = await client.paper("doi:10.1038/NATURE14539")
        unknown = await client.paper("arxiv:1412.6980")
    assert cached.cached and cached.papers == online.papers
    assert missing.papers == [] and missing.errors == ["offline: this query is not in the cache"]
    assert paper is not None and paper.title == "Deep learning" and unknown is None
    assert len(lit.requests) == asked  # not one request offline


async def test_paper_lookup_by_id(lit: LiteratureServer, store: RunStore) -> None:
    async with LiteratureClient(config(lit), store) as client:
        nature = await client.paper("https://doi.org/10.1038/nature14539")
        assert nature is not None and nature.source == "openalex" and nature.abstract.startswith("Deep learning")
        assert (await client.paper("doi:10.1038/nature14539")) == nature and len(lit.requests) == 1
        adam = await client.paper("arxiv:1412.6980")  # OpenAlex cannot look up arXiv ids: Semantic Scholar can
        assert adam is not None and adam.source == "semantic_scholar" and [r.backend for r in lit.requests] == \
            ["openalex", "semantic_scholar"]
        assert await client.paper("doi:10.9999/missing") is None


async def test_api_keys_come_from_the_environment(lit: LiteratureServer, store: RunStore) -> None:
    cfg = config(lit, backends=["openalex", "semantic_scholar"])
    env = {"OPENALEX_API_KEY": "oa-key", "S2_API_KEY": "s2-key"}
    lit.down.add("openalex")
    async with LiteratureClient(cfg, store, fetcher=Fetcher(cfg, env=env)) as client:
        await client.search("deep learning")
    assert lit.seen("openalex")[0].params["api_key"] == "oa-key"
    assert lit.seen("semantic_scholar")[0].headers["x-api-key"] == "s2-key"
    async with LiteratureClient(cfg, None, fetcher=Fetcher(cfg, env={})) as client:
        lit.requests.clear()
        await client.search("deep learning")
    assert "x-api-key" not in lit.seen("semantic_scholar")[0].headers


def test_retry_after_forms() -> None:
    assert parse_retry_after("7") == 7.0 and parse_retry_after(None) is None and parse_retry_after("soon") is None
    assert parse_retry_after(formatdate(time.time() + 30, usegmt=True)) == pytest.approx(30, abs=2)
    assert parse_retry_after(formatdate(time.time() - 30, usegmt=True)) == 0.0


def test_config_from_the_environment() -> None:
    cfg = LiteratureConfig.from_env({"DISCOVER_LITERATURE": "arxiv, s2", "DISCOVER_ARXIV_URL": "http://mirror/",
                                     "DISCOVER_MAILTO": "me@example.org"})
    assert cfg.backends == ["arxiv", "semantic_scholar"] and cfg.url("arxiv") == "http://mirror"
    assert cfg.mailto == "me@example.org" and not cfg.offline
    assert LiteratureConfig.from_env({"DISCOVER_LITERATURE": "offline"}).offline
    assert LiteratureConfig.from_env({}, offline=True, backends="crossref").backends == ["crossref"]
    with pytest.raises(LiteratureConfigError, match="--literature"):
        LiteratureConfig.from_env({"DISCOVER_LITERATURE": "google"})
