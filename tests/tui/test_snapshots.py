"""Snapshots of the main screens on the deterministic demo store (fixed ids, times and values).

Update them after a deliberate change of the look with ``pytest tests/tui --snapshot-update``
and look at the SVGs in ``__snapshots__`` before committing them.
"""

from __future__ import annotations

from tests.tui.conftest import RUN_ID
from tui.app import DiscoverApp
from tui.widgets.run_tree import RunTree

SIZE = (140, 40)


def _app(root) -> DiscoverApp:
    return DiscoverApp(root, RUN_ID, poll_seconds=0)


def test_main_screen(demo_store, snap_compare):
    assert snap_compare(_app(demo_store[0]), terminal_size=SIZE)


def test_node_pane_diff(demo_store, snap_compare):
    async def choose_node(pilot) -> None:
        pilot.app.query_one(RunTree).reveal(5)
        await pilot.pause()

    assert snap_compare(_app(demo_store[0]), terminal_size=SIZE, run_before=choose_node, press=["4"])


def test_node_pane_code(demo_store, snap_compare):
    assert snap_compare(_app(demo_store[0]), terminal_size=SIZE, press=["2"])


def test_help_screen(demo_store, snap_compare):
    assert snap_compare(_app(demo_store[0]), terminal_size=SIZE, press=["question_mark"])
