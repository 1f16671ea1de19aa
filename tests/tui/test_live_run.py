"""The TUI attached to a real `discover run` in another process: it sees the tree grow and its
pause command reaches the orchestrator through the store."""

from __future__ import annotations

import asyncio
import subprocess
import sys
import time
from pathlib import Path

import pytest

from runs.store import RunStore, StoreError
from tui.app import DiscoverApp
from tui.widgets.run_tree import RunTree

IDEA = """---
title: Slow toy for the TUI
metric: score
direction: maximize
baseline: baseline.py
search_space:
  X: [1, 2, 3, 4, 5, 6, 7, 8]
time_limit: 30
---

# Slow toy for the TUI

## Hypothesis

A larger X scores higher; each experiment takes a moment so that the TUI can steer it.
"""

BASELINE = """import json
import time

X = 1

time.sleep(0.4)
print(f"X={X}")
with open("metrics.json", "w") as f:
    json.dump({"score": X / 10}, f)
"""


def _wait_for_run(root: Path, proc: subprocess.Popen, timeout: float = 60) -> str:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise AssertionError(f"discover run exited early: {proc.stderr.read() if proc.stderr else ''}")
        try:
            store = RunStore(root, readonly=True)
            try:
                return store.resolve_run(None)
            finally:
                store.close()
        except StoreError:
            time.sleep(0.1)
    raise AssertionError("the run never appeared in the store")


@pytest.mark.slow
async def test_attached_tui_follows_and_pauses_a_run_in_another_process(tmp_path):
    (tmp_path / "idea.md").write_text(IDEA)
    (tmp_path / "baseline.py").write_text(BASELINE)
    root = tmp_path / "runs"
    proc = subprocess.Popen(  # noqa: ASYNC220 - starting it does not block; waits go to a thread
        [sys.executable, "-m", "discovery.cli", "--runs-dir", str(root), "run", str(tmp_path / "idea.md"),
         "--budget", "5", "--workers", "1", "--quiet"],
        cwd=tmp_path, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )
    try:
        run_id = _wait_for_run(root, proc)
        app = DiscoverApp(root, run_id, poll_seconds=0.2)
        async with app.run_test(size=(120, 36)) as pilot:
            await pilot.press("p")
            # The orchestrator logs each command it applies; wait for the pause to be taken.
            for _ in range(100):
                await pilot.pause(0.1)
                if any(e.kind == "command" and e.message == "pause" for _, e in _events(root, run_id)):
                    break
            else:
                raise AssertionError("the orchestrator never applied the pause")
            await pilot.pause(0.6)  # a running node may still finish
            held = len(app.watcher.rows)
            await pilot.pause(1.0)
            assert len(app.watcher.rows) == held  # paused: no new node started
            assert "paused" in str(app.query_one("#header").content)
            await pilot.press("r")
            for _ in range(300):
                await pilot.pause(0.1)
                if app.watcher.run.status != "running":
                    break
            assert app.watcher.run.status == "finished"
            store = RunStore(root, readonly=True)
            ids = {n.id for n in store.nodes(run_id, with_code=False)}
            store.close()
            assert len(ids) == 5
            assert set(app.query_one(RunTree).shown) == ids
            assert app.watcher.best_id is not None and app.watcher.rows[app.watcher.best_id].metric is not None
        assert await asyncio.to_thread(proc.wait, 60) == 0
    finally:
        if proc.poll() is None:  # only when an assertion above failed
            proc.terminate()
            proc.wait(30)


def _events(root: Path, run_id: str) -> list:
    store = RunStore(root, readonly=True)
    try:
        return store.events(run_id)
    finally:
        store.close()
