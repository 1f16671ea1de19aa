"""The run store against real SQLite files."""

from __future__ import annotations

import sqlite3
import time
from pathlib import Path

import pytest

from runs.models import Idea, MetricSpec, Node, NodeStatus, Run, RunConfig
from runs.store import RunStore, StoreError


def make_run(run_id: str = "r1", created: float | None = None) -> Run:
    idea = Idea(title="T", metric=MetricSpec(name="acc"), baseline="X = 1\n")
    return Run(id=run_id, idea=idea, config=RunConfig(budget=5), created_at=created or time.time())


def test_run_and_node_round_trip(runs_dir: Path) -> None:
    store = RunStore(runs_dir)
    store.create_run(make_run())
    node = Node(run_id="r1", id=1, operator="draft", status=NodeStatus.good, metric=0.5,
                params={"LR": 0.1, "NAME": "x", "ON": True}, metrics={"acc": 0.5, "nested": {"a": [1]}},
                code="print(1)\n", plan="p", timed_out=True, pruned=True)
    store.save_node(node)
    again = RunStore(runs_dir, readonly=True).get_node("r1", 1)
    assert again == node
    light = store.nodes("r1", with_code=False)[0]
    assert light.code is None and light.metric == 0.5 and light.params == node.params
    assert store.get_run("r1").idea.baseline == "X = 1\n"
    assert store.count_nodes("r1") == {"good": 1}
    assert store.db.execute("pragma journal_mode").fetchone()[0] == "wal"


def test_resolve_run(runs_dir: Path) -> None:
    store = RunStore(runs_dir)
    with pytest.raises(StoreError, match="no runs yet"):
        store.resolve_run(None)
    store.create_run(make_run("20260101-000000-alpha", 1.0))
    store.create_run(make_run("20260102-000000-beta", 2.0))
    assert store.resolve_run(None) == "20260102-000000-beta"
    assert store.resolve_run("latest") == "20260102-000000-beta"
    assert store.resolve_run("alpha") == "20260101-000000-alpha"
    assert store.resolve_run("20260101") == "20260101-000000-alpha"
    with pytest.raises(StoreError, match="ambiguous"):
        store.resolve_run("2026")
    with pytest.raises(StoreError, match="no such run"):
        store.resolve_run("gamma")


def test_events_and_commands(runs_dir: Path) -> None:
    store = RunStore(runs_dir)
    store.create_run(make_run())
    store.add_event("r1", "a", "first")
    store.add_event("r1", "b", "second", node_id=3)
    events = store.events("r1")
    assert [e.kind for _, e in events] == ["a", "b"]
    assert [e.kind for _, e in store.events("r1", after_id=events[0][0])] == ["b"]
    cid = store.add_command("r1", "prune", 3)
    reader = RunStore(runs_dir, readonly=True)
    assert [(c.kind, c.node_id) for c in reader.pending_commands("r1")] == [("prune", 3)]
    store.mark_command_done(cid)
    assert reader.pending_commands("r1") == []


def test_unwritable_and_missing(tmp_path: Path) -> None:
    with pytest.raises(StoreError, match="no run database"):
        RunStore(tmp_path / "none", readonly=True)
    blocker = tmp_path / "file"
    blocker.write_text("not a folder")
    with pytest.raises(StoreError, match="cannot create the runs folder"):
        RunStore(blocker / "runs")


def test_reader_sees_committed_rows_while_writer_holds_connection(runs_dir: Path) -> None:
    store = RunStore(runs_dir)
    store.create_run(make_run())
    store.save_nodes(Node(run_id="r1", id=i, status=NodeStatus.running) for i in range(1, 101))
    conn = sqlite3.connect(store.db_path)
    assert conn.execute("select count(*) from nodes").fetchone()[0] == 100
    assert store.next_node_id("r1") == 101


def test_an_older_store_gains_the_new_columns(runs_dir: Path) -> None:
    runs_dir.mkdir(parents=True)
    conn = sqlite3.connect(runs_dir / "discover.db")
    conn.execute("create table nodes (run_id text, id integer, status text, primary key (run_id, id))")
    conn.execute("insert into nodes values ('r', 1, 'good')")
    conn.commit()
    conn.close()
    store = RunStore(runs_dir)
    columns = store.db["nodes"].columns_dict
    assert {"updated_at", "visits", "q", "metric_source", "code"} <= set(columns)
    assert store.db.execute("select status from nodes").fetchone() == ("good",)  # nothing stored is lost
    assert "llm_calls" in store.db.table_names()


def test_subtree_stats_are_written_for_the_tui(runs_dir: Path) -> None:
    store = RunStore(runs_dir)
    store.create_run(make_run())
    store.save_nodes([Node(run_id="r1", id=1), Node(run_id="r1", id=2, parent_id=1)])
    store.set_subtree_stats("r1", [(1, 2, 0.9), (2, 1, 0.9)])
    rows = store.db.execute("select id, visits, q from nodes order by id").fetchall()
    assert rows == [(1, 2, 0.9), (2, 1, 0.9)]
    assert store.get_node("r1", 1).id == 1  # the bookkeeping columns do not leak into Node
