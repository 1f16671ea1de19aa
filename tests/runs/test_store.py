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
    assert store._db.execute("pragma journal_mode").fetchone()[0] == "wal"


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
    assert store.create_node(Node(run_id="r1", id=0)).id == 101


def test_an_older_store_gains_the_new_columns(runs_dir: Path) -> None:
    runs_dir.mkdir(parents=True)
    conn = sqlite3.connect(runs_dir / "discover.db")
    conn.execute("create table nodes (run_id text, id integer, status text, primary key (run_id, id))")
    conn.execute("insert into nodes values ('r', 1, 'good')")
    conn.commit()
    conn.close()
    store = RunStore(runs_dir)
    columns = store._db["nodes"].columns_dict
    assert {"updated_at", "visits", "q", "metric_source", "code"} <= set(columns)
    assert store._db.execute("select status from nodes").fetchone() == ("good",)  # nothing stored is lost
    assert "llm_calls" in store._db.table_names()


def test_a_config_stored_with_model_and_api_base_loads_as_llm(runs_dir: Path) -> None:
    import json

    store = RunStore(runs_dir)
    store.create_run(make_run())
    store.create_run(make_run("r2"))
    old = {**RunConfig(budget=5).model_dump(exclude={"llm"}), "model": "openai/x", "api_base": "http://h/v1"}
    both = {**old, "llm": {"model": "openai/y", "timeout": 30}}  # the full settings win over the old copies
    offline = {**old, "model": None, "api_base": None, "llm": None}
    for run_id, config in (("r1", old), ("r2", both)):
        store._db.execute("update runs set config = ? where id = ?", [json.dumps(config), run_id])
    store._db.conn.commit()
    assert store.get_run("r1").config.llm == {"model": "openai/x", "api_base": "http://h/v1"}
    assert store.get_run("r2").config.llm == {"model": "openai/y", "timeout": 30}
    assert RunConfig.model_validate(offline).llm is None and "model" not in RunConfig.model_fields


def test_subtree_stats_are_written_for_the_tui(runs_dir: Path) -> None:
    store = RunStore(runs_dir)
    store.create_run(make_run())
    store.save_nodes([Node(run_id="r1", id=1), Node(run_id="r1", id=2, parent_id=1)])
    store.set_subtree_stats("r1", [(1, 2, 0.9), (2, 1, 0.9)])
    rows = store._db.execute("select id, visits, q from nodes order by id").fetchall()
    assert rows == [(1, 2, 0.9), (2, 1, 0.9)]
    assert store.get_node("r1", 1).id == 1  # the bookkeeping columns do not leak into Node


def test_node_ids_only_grow_even_past_dropped_nodes(runs_dir: Path) -> None:
    store = RunStore(runs_dir)
    store.create_run(make_run())
    first, second = store.create_node(Node(run_id="r1", id=0)), store.create_node(Node(run_id="r1", id=0))
    assert (first.id, second.id) == (1, 2) and store.get_node("r1", 2) == second
    store.delete_node("r1", 2)  # selected, then the agent had nothing for it
    store.close()
    store = RunStore(runs_dir)  # a new session knows the mark
    assert store.create_node(Node(run_id="r1", id=0)).id == 3
    assert [n.id for n in store.nodes("r1")] == [1, 3]


def test_an_older_store_without_the_mark_skips_ids_its_model_calls_used(runs_dir: Path) -> None:
    store = RunStore(runs_dir)
    store.create_run(make_run())
    store.save_node(Node(run_id="r1", id=1))
    store.add_llm_call("r1", {"node_id": 4, "role": "draft", "cost": 0.0})  # node 4 was dropped
    store._db.execute("update runs set last_node_id = null")
    store._db.conn.commit()
    assert store.create_node(Node(run_id="r1", id=0, parent_id=1)).id == 5


def test_discarding_pending_commands_marks_them_done_unapplied(runs_dir: Path) -> None:
    store = RunStore(runs_dir)
    store.create_run(make_run())
    store.create_run(make_run("r2"))
    store.add_command("r1", "stop")
    store.add_command("r1", "prune", 3)
    store.add_command("r2", "pause")
    stale = store.discard_pending_commands("r1")
    assert [(c.kind, c.node_id) for c in stale] == [("stop", None), ("prune", 3)]
    assert store.pending_commands("r1") == [] and [c.kind for c in store.pending_commands("r2")] == ["pause"]
    assert store.discard_pending_commands("r1") == []


def test_resume_does_not_requeue_pruned_nodes(runs_dir: Path) -> None:
    from runs.resume import requeue_unfinished

    store = RunStore(runs_dir)
    store.create_run(make_run())
    store.save_nodes([
        Node(run_id="r1", id=1, status=NodeStatus.good, metric=0.5),
        Node(run_id="r1", id=2, parent_id=1, status=NodeStatus.running, code="x", attempts=1, pruned=True),
        Node(run_id="r1", id=3, parent_id=1, status=NodeStatus.cancelled, code="x", attempts=1, pruned=True),
        Node(run_id="r1", id=4, parent_id=1, status=NodeStatus.running, code="x", attempts=1),
    ])
    assert requeue_unfinished(store, "r1") == [4]
    nodes = {n.id: n for n in store.nodes("r1")}
    assert nodes[2].status == NodeStatus.cancelled and nodes[2].pruned
    assert nodes[3].status == NodeStatus.cancelled and nodes[3].pruned
    assert nodes[4].status == NodeStatus.pending


def test_a_damaged_or_foreign_file_is_refused_before_anything_is_written(tmp_path: Path) -> None:
    garbage = tmp_path / "garbage"
    garbage.mkdir()
    (garbage / "discover.db").write_bytes(b"\x00\xff" * 3000)
    foreign = tmp_path / "foreign"
    foreign.mkdir()
    conn = sqlite3.connect(foreign / "discover.db")
    conn.execute("create table people (name text)")
    conn.commit()
    conn.close()
    for folder, why in ((garbage, "cannot read it as a run database"), (foreign, "not a discover run database")):
        before = (folder / "discover.db").read_bytes()
        for readonly in (True, False):
            with pytest.raises(StoreError, match=why):
                RunStore(folder, readonly=readonly)
        assert (folder / "discover.db").read_bytes() == before
        assert sorted(p.name for p in folder.iterdir()) == ["discover.db"]


def test_two_processes_starting_one_idea_in_the_same_second_get_two_runs(runs_dir: Path) -> None:
    # Each process picks the free id, then inserts: the second to insert finds it taken and
    # must get the next free one, not a crash (seen with two `discover run` started together).
    first, second = RunStore(runs_dir), RunStore(runs_dir)
    wanted = first.new_run_id("Same idea")
    assert second.new_run_id("Same idea") == wanted
    a = first.create_run(make_run(wanted))
    b = second.create_run(make_run(wanted))
    c = second.create_run(make_run(wanted))
    assert a.id == wanted and b.id == f"{wanted}-2" and c.id == f"{wanted}-3"
    reader = RunStore(runs_dir, readonly=True)
    assert sorted(r.id for r in reader.list_runs()) == [wanted, f"{wanted}-2", f"{wanted}-3"]


CREATE_ONE = """
import sys, time
from runs.models import Idea, MetricSpec, Run, RunConfig
from runs.store import RunStore
store = RunStore(sys.argv[1])
idea = Idea(title="Same idea", metric=MetricSpec(name="acc"), baseline="X = 1\\n")
print(store.create_run(Run(id=store.new_run_id(idea.title), idea=idea, config=RunConfig(), created_at=time.time())).id)
"""


def test_processes_opening_a_new_store_at_once_each_store_their_run(runs_dir: Path) -> None:
    # Real processes on one new folder: the schema is made once, under a lock, and every run
    # gets its own id (before, a second process creating a table crashed).
    import subprocess
    import sys

    from tests.conftest import ROOT

    procs = [subprocess.Popen([sys.executable, "-c", CREATE_ONE, str(runs_dir)], cwd=ROOT, text=True,
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE) for _ in range(6)]
    outs = [p.communicate(timeout=120) for p in procs]
    assert all(p.returncode == 0 for p in procs), [err for _, err in outs]
    ids = {out.strip() for out, _ in outs}
    assert len(ids) == 6
    assert {r.id for r in RunStore(runs_dir, readonly=True).list_runs()} == ids
