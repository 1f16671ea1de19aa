"""The literature cache and the papers a run used, in a real SQLite store."""

from __future__ import annotations

import sqlite3
import time
from pathlib import Path

from runs.models import Idea, MetricSpec, Paper, Run, RunConfig
from runs.store import RunStore

FULL = Paper(id="arxiv:1609.04836", source="semantic_scholar", source_id="8ec5", title="On Large-Batch Training",
             authors=["Nitish Shirish Keskar", "Jorge Nocedal"], year=2016, abstract="Large batches find sharp minima.",
             venue="ICLR", arxiv_id="1609.04836")


def test_a_later_copy_without_an_abstract_keeps_the_known_one(tmp_path: Path) -> None:
    store = RunStore(tmp_path)
    store.save_papers([FULL])
    store.save_papers([FULL.model_copy(update={"source": "arxiv", "abstract": None, "venue": None, "citations": 9})])
    kept = store.paper(FULL.id)
    assert kept is not None and kept.source == "arxiv" and kept.citations == 9
    assert kept.abstract == FULL.abstract and kept.venue == "ICLR"
    assert store.papers(["nope", FULL.id, FULL.id]) == [kept]


def test_queries_are_cached_by_backend_query_and_limit_with_an_age(tmp_path: Path) -> None:
    store = RunStore(tmp_path)
    store.save_papers([FULL])
    store.save_query("openalex", "sharp minima", 8, [FULL.id, "arxiv:missing"])
    assert store.cached_query("openalex", "sharp minima", 8) == [FULL]  # an id never stored is left out
    assert store.cached_query("openalex", "sharp minima", 5) is None
    assert store.cached_query("arxiv", "sharp minima", 8) is None
    time.sleep(0.05)
    assert store.cached_query("openalex", "sharp minima", 8, max_age=0.01) is None
    assert store.cached_query("openalex", "sharp minima", 8, max_age=60) == [FULL]


def test_run_papers_are_the_idea_s_then_the_linked_ones(tmp_path: Path) -> None:
    store = RunStore(tmp_path)
    other = FULL.model_copy(update={"id": "doi:10.1/x", "title": "Other", "arxiv_id": None, "doi": "10.1/x"})
    store.save_papers([FULL, other])
    idea = Idea(title="Sharp or flat", metric=MetricSpec(name="acc"), papers=[FULL.id, "arxiv:gone"])
    store.create_run(Run(id="r", idea=idea, config=RunConfig(), created_at=1.0))
    store.note_idea_papers("Sharp or flat", {FULL.id: "overlap high: did it"})
    store.link_papers("r", [other.id, FULL.id], "related", {other.id: "found by the report"})
    store.link_papers("r", [other.id], "related")  # linking again keeps one row
    papers = store.run_papers("r")
    assert [(p.paper.id, p.purpose, p.note) for p in papers] == [
        (FULL.id, "idea", "overlap high: did it"), (other.id, "related", ""), (FULL.id, "related", "")]


def test_an_older_store_gains_the_tables_and_reads_without_them(tmp_path: Path) -> None:
    store = RunStore(tmp_path)
    store.create_run(Run(id="r", idea=Idea(title="t", metric=MetricSpec(name="acc")), config=RunConfig(),
                         created_at=1.0))
    store.close()
    conn = sqlite3.connect(tmp_path / "discover.db")
    for table in ("papers", "literature_queries", "run_papers", "idea_papers"):
        conn.execute(f"drop table {table}")
    conn.commit()
    conn.close()
    old = RunStore(tmp_path, readonly=True)
    assert old.run_papers("r") == [] and old.cached_query("openalex", "q", 8) is None and old.papers(["x"]) == []
    old.close()
    RunStore(tmp_path).close()  # a writable open adds the missing tables
    conn = sqlite3.connect(tmp_path / "discover.db")
    tables = {r[0] for r in conn.execute("select name from sqlite_master where type = 'table'")}
    conn.close()
    assert {"papers", "literature_queries", "run_papers", "idea_papers"} <= tables
