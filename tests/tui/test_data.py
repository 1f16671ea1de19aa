"""The watcher's incremental polls against a real store written by another connection."""

from __future__ import annotations

from pathlib import Path

from runs.models import NodeStatus
from runs.store import RunStore
from tests.tui.conftest import RUN_ID, T0, demo_node
from tui.data import RunWatcher


def _watch(root: Path) -> tuple[RunWatcher, RunStore]:
    reader = RunStore(root, readonly=True)
    return RunWatcher(reader, RUN_ID), RunStore(root)


def test_load_counts_best_and_curve(demo_store):
    root, _ = demo_store
    watcher, _ = _watch(root)
    assert len(watcher.rows) == 9
    assert watcher.in_flight == 2  # node 6 running, node 9 pending
    assert watcher.finished == 7
    # Node 7 (0.9) is flagged and node 8 pruned: neither may be best.
    assert watcher.best_id == 4
    assert watcher.best_path() == [1, 4]
    # In finish order: 0.5, 0.61, 0.7, 0.55 (5), 0.65 (8): the best so far only rises.
    assert watcher.best_curve == [0.5, 0.61, 0.7, 0.7, 0.7]
    assert watcher.children[4] == [6, 8, 9]


def test_poll_without_writes_reports_nothing(demo_store):
    watcher, _ = _watch(demo_store[0])
    assert not watcher.poll()


def test_poll_finds_new_finished_pruned_and_removed_nodes(demo_store):
    root, _ = demo_store
    watcher, writer = _watch(root)
    running = writer.get_node(RUN_ID, 6)
    writer.save_node(running.model_copy(update={"status": NodeStatus.good, "metric": 0.95,
                                                "finished_at": T0 + 100}))
    writer.save_node(demo_node(RUN_ID, 10, 6, "improve", "running", None).model_copy(
        update={"created_at": T0 + 101, "started_at": T0 + 101}))
    changes = watcher.poll()
    assert changes.added == [10]
    assert changes.changed == [6]
    assert changes.best_changed and changes.old_best_path == [1, 4]
    assert watcher.best_id == 6 and watcher.best_path() == [1, 4, 6]
    assert watcher.best_curve[-1] == 0.95
    assert watcher.in_flight == 2  # 9 pending, 10 running

    # Pruning rewrites the flag and no timestamp: the pruned count must still catch it.
    writer.save_nodes([writer.get_node(RUN_ID, i).model_copy(update={"pruned": True}) for i in (6, 10)])
    changes = watcher.poll()
    assert sorted(changes.changed) == [6, 10]
    assert watcher.rows[6].pruned and watcher.rows[10].pruned
    assert watcher.best_id == 4  # the pruned best gives way

    # The orchestrator deletes a selection the agent had nothing for.
    writer._db.execute("delete from nodes where run_id = ? and id = 9", [RUN_ID])
    writer._db.conn.commit()
    changes = watcher.poll()
    assert changes.removed == [9] and changes.removed_parents == {4}
    assert 9 not in watcher.rows and 9 not in watcher.children[4]
    assert watcher.in_flight == 1


def test_late_value_is_caught_at_once_through_updated_at(demo_store):
    root, _ = demo_store
    watcher, writer = _watch(root)
    writer.save_node(writer.get_node(RUN_ID, 3).model_copy(update={"value": 0.42}))  # no new life-cycle timestamp
    assert watcher.poll().changed == [3]
    assert watcher.rows[3].value == 0.42


def test_paused_follows_the_last_pause_or_resume(demo_store):
    root, _ = demo_store
    watcher, writer = _watch(root)
    writer.add_command(RUN_ID, "pause")
    assert watcher.poll().run_changed and watcher.paused
    writer.add_command(RUN_ID, "resume")
    watcher.poll()
    assert not watcher.paused


def test_report_written_after_the_last_database_write_is_seen(demo_store):
    watcher, _ = _watch(demo_store[0])
    assert not watcher.poll().report_appeared
    report = demo_store[0] / RUN_ID / "report"
    report.mkdir(parents=True)
    (report / "report.md").write_text("# r\n")
    changes = watcher.poll()
    assert changes.report_appeared and bool(changes)


def test_events_and_report_arrive_once(demo_store):
    root, _ = demo_store
    watcher, writer = _watch(root)
    writer.add_event(RUN_ID, "stopping", "user")
    report = root / RUN_ID / "report"
    report.mkdir(parents=True)
    (report / "report.md").write_text("# r\n")
    changes = watcher.poll()
    assert [e.kind for _, e in changes.events] == ["stopping"]
    assert changes.report_appeared
    writer.update_run(RUN_ID, heartbeat=T0 + 500)
    again = watcher.poll()
    assert not again.events and not again.report_appeared and again.run_changed


def test_curve_follows_rescoring_and_flagging(demo_store):
    root, _ = demo_store
    watcher, writer = _watch(root)
    # Node 4 (0.7, finished third) is flagged by a reviewer: it was never a valid result.
    writer.save_node(writer.get_node(RUN_ID, 4).model_copy(update={"status": NodeStatus.flagged,
                                                                   "finished_at": T0 + 20}))
    watcher.poll()
    assert watcher.best_curve == [0.5, 0.61, 0.61, 0.65]
    assert watcher.best_id == 3  # 8 (0.65) is pruned
    # Node 1 is rescored upward: every later point follows.
    writer.save_node(writer.get_node(RUN_ID, 1).model_copy(update={"metric": 0.8, "finished_at": T0 + 21}))
    watcher.poll()
    assert watcher.best_curve == [0.61, 0.61, 0.65, 0.8]
    assert watcher.best_id == 1
