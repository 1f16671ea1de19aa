"""The TUI driven by Pilot against real stores: what it shows and the commands it writes."""

from __future__ import annotations

import importlib.util

import pytest
from textual.widgets import MarkdownViewer, Static, TabbedContent

from runs.models import NodeStatus
from runs.store import RunStore
from tests.tui.conftest import RUN_ID, T0, command_rows, demo_node, notices, screen_text, text_of, write_wide_tree
from tui.app import DiscoverApp
from tui.screens.choice import ChoiceScreen
from tui.screens.help import HelpScreen
from tui.screens.report import ReportScreen
from tui.widgets.node_pane import NodePane
from tui.widgets.run_tree import RunTree

SIZE = (140, 40)


def _app(root, run_id=RUN_ID, **kw) -> DiscoverApp:
    # Polling is driven by hand in most tests so that what they see does not depend on timing.
    kw.setdefault("poll_seconds", 0)
    return DiscoverApp(root, run_id, **kw)


async def _cursor_to(pilot, node_id: int) -> None:
    tree = pilot.app.query_one(RunTree)
    tree.reveal(node_id)
    await pilot.pause()
    assert tree.chosen == node_id


async def test_main_screen_shows_header_tree_chart_and_log(demo_store):
    root, _ = demo_store
    app = _app(root)
    async with app.run_test(size=SIZE) as pilot:
        await pilot.pause()
        text = screen_text(app)
        assert RUN_ID in text and "Learning rate and width of a tiny model" in text
        assert "running" in text and "policy greedy" in text and "workers 2/2" in text and "nodes 7/20" in text
        assert "time 2m05s" in text and "best score 0.7 (#4)" in text
        tree = app.query_one(RunTree)
        assert set(tree.shown) == set(range(1, 10))  # a small tree is shown whole
        assert "#8 tune 0.65  pruned" in text and "#4 improve 0.7  ★ best" in text
        assert "#7 improve 0.9" in text and "#6 improve running" in text
        assert tree.chosen == 4  # the cursor opens on the best node
        assert "0.5 → 0.7 (5 good nodes)" in text
        assert "node_finished #4 improve -> 0.7" in text and "+00:05" in text


async def test_node_pane_shows_plan_code_output_and_diff(demo_store):
    root, _ = demo_store
    app = _app(root)
    async with app.run_test(size=SIZE) as pilot:
        await _cursor_to(pilot, 2)
        pane = app.query_one(NodePane)
        overview = text_of(pane.query_one("#overview-body", Static).content)
        assert "node 2" in overview and "buggy" in overview and "draft from scratch: LR=0.3, HIDDEN=8" in overview
        assert "ValueError: shapes do not match" in overview
        await _cursor_to(pilot, 4)
        overview = text_of(pane.query_one("#overview-body", Static).content)
        assert "parent  #1" in overview and "train_loss" in overview and '"LR": 0.3' in overview
        await pilot.press("2")
        assert app.query_one(TabbedContent).active == "code"
        code = text_of(pane.query_one("#code-body", Static).content)
        assert "LR = 0.3" in code and "def train():" in code
        await pilot.press("3")
        assert "score 0.7" in text_of(pane.query_one("#output-body", Static).content)
        await pilot.press("4")
        diff = text_of(pane.query_one("#diff-body", Static).content)
        assert "-LR = 0.1" in diff and "+LR = 0.3" in diff and "+HIDDEN" not in diff
        # The tab stays open while the cursor moves.
        await _cursor_to(pilot, 5)
        assert app.query_one(TabbedContent).active == "diff"
        assert "+HIDDEN = 16" in text_of(pane.query_one("#diff-body", Static).content)


async def test_pause_resume_stop_prune_expand_write_commands(demo_store):
    root, run_id = demo_store
    app = _app(root)
    async with app.run_test(size=SIZE) as pilot:
        await pilot.press("p")
        assert command_rows(root, run_id) == [("pause", None)]
        assert "paused" in screen_text(app)
        await pilot.press("r")
        await _cursor_to(pilot, 3)
        await pilot.press("x")
        assert isinstance(app.screen, ChoiceScreen)
        assert "Prune node 3 and its subtree (2 nodes)" in screen_text(app)
        await pilot.press("y")
        await _cursor_to(pilot, 5)
        await pilot.press("e")
        await pilot.press("s")
        await pilot.press("n")  # answering no sends nothing
        await pilot.press("s", "y")
        assert command_rows(root, run_id) == [("pause", None), ("resume", None), ("prune", 3), ("expand", 5),
                                              ("stop", None)]


async def test_commands_are_refused_for_a_finished_run(finished_demo_store):
    root, run_id = finished_demo_store
    app = _app(root)
    async with app.run_test(size=SIZE) as pilot:
        await pilot.press("p", "x", "e")
        await pilot.pause()
        assert command_rows(root, run_id) == []
        assert any("finished: nothing reads commands now" in n for n in notices(app))


async def test_help_lists_every_key(demo_store):
    app = _app(demo_store[0])
    async with app.run_test(size=SIZE) as pilot:
        await pilot.press("question_mark")
        assert isinstance(app.screen, HelpScreen)
        text = screen_text(app)
        documented = set(" ".join(key for key, _ in app.KEY_HELP).split())
        for binding in app.BINDINGS:
            assert {"question_mark": "?"}.get(binding.key, binding.key) in documented, binding.key
        for key, description in app.KEY_HELP:
            assert description[:40] in text
        await pilot.press("escape")
        assert not isinstance(app.screen, HelpScreen)


async def test_report_viewer_opens_the_write_up(finished_demo_store):
    app = _app(finished_demo_store[0])
    async with app.run_test(size=SIZE) as pilot:
        await pilot.press("w")
        await pilot.pause()
        assert isinstance(app.screen, ReportScreen)
        assert "Demo write-up" in screen_text(app) and "The best node scored 0.7" in screen_text(app)
        await pilot.press("escape")
        assert not isinstance(app.screen, ReportScreen)


@pytest.mark.slow
async def test_write_up_of_a_real_offline_run(copied_run):
    root, run_id = copied_run
    store = RunStore(root, readonly=True)
    ids = {n.id for n in store.nodes(run_id, with_code=False)}
    best = store.get_run(run_id).best_node_id
    store.close()
    app = _app(root, run_id)
    async with app.run_test(size=SIZE) as pilot:
        await pilot.pause()
        tree = app.query_one(RunTree)
        assert set(tree.shown) == ids and tree.chosen == best
        assert "finished" in screen_text(app)
        # The search's statistics: the first draft's subtree holds at least itself, with its best metric.
        first = str(tree.shown[min(ids)].label)
        assert " n=" in first and " q=" in first
        await pilot.press("w")
        await pilot.pause()
        viewer = app.screen.query_one(MarkdownViewer)
        assert run_id in viewer.document.source or "val_accuracy" in viewer.document.source


async def test_write_up_missing_is_said(demo_store):
    app = _app(demo_store[0])
    async with app.run_test(size=SIZE) as pilot:
        await pilot.press("w")
        assert not isinstance(app.screen, ReportScreen)
        assert any("No write-up yet" in n for n in notices(app))


async def test_fork_creates_a_run_or_says_it_is_unavailable(demo_store):
    root, run_id = demo_store
    app = _app(root)
    async with app.run_test(size=SIZE) as pilot:
        await _cursor_to(pilot, 4)
        await pilot.press("f")
        await pilot.pause()
    if importlib.util.find_spec("runs.fork") is None:
        assert any("fork is not available" in n for n in notices(app))
    else:
        store = RunStore(root, readonly=True)
        forks = [r for r in store.list_runs() if r.parent_run_id == run_id]
        store.close()
        assert len(forks) == 1 and forks[0].parent_node_id == 4
        assert any(f"discover resume {forks[0].id}" in n for n in notices(app))


async def test_quitting_a_live_run_asks_and_stop_writes_the_command(demo_store):
    root, run_id = demo_store
    app = _app(root, attached_to_live_run=True)
    async with app.run_test(size=SIZE) as pilot:
        await pilot.press("q")
        assert isinstance(app.screen, ChoiceScreen) and "Stop the run" in screen_text(app)
        await pilot.press("c")  # cancel: still open
        assert app.is_running and not isinstance(app.screen, ChoiceScreen)
        await pilot.press("q", "s")
    assert app.return_value == "stop"
    assert command_rows(root, run_id) == [("stop", None)]


async def test_quitting_a_live_run_into_the_background(demo_store):
    root, run_id = demo_store
    app = _app(root, attached_to_live_run=True)
    async with app.run_test(size=SIZE) as pilot:
        await pilot.press("q")
        await pilot.click("#background")
    assert app.return_value == "background"
    assert command_rows(root, run_id) == []


async def test_quitting_when_not_driving_the_run_just_quits(demo_store):
    app = _app(demo_store[0])
    async with app.run_test(size=SIZE) as pilot:
        await pilot.press("q")
    assert app.return_value is None


async def test_store_changes_appear_while_the_cursor_stays(tmp_path):
    # A tree taller than the screen, scrolled down: a node added above the viewport must
    # neither move the cursor to another node nor shift what the user is looking at.
    root, run_id = write_wide_tree(tmp_path / "runs", 300)
    app = DiscoverApp(root, run_id, poll_seconds=0.1)
    async with app.run_test(size=(100, 30)) as pilot:
        tree = app.query_one(RunTree)
        await _cursor_to(pilot, 176)
        await pilot.pause()
        row_before = tree.cursor_line - int(tree.scroll_offset.y)
        top_before = tree.get_node_at_line(int(tree.scroll_offset.y)).data
        writer = RunStore(root)
        writer.save_node(demo_node(run_id, 301, 2, "improve", "running", None).model_copy(
            update={"created_at": T0 + 1000, "started_at": T0 + 1000}))
        writer.save_node(writer.get_node(run_id, 176).model_copy(update={"status": NodeStatus.good, "metric": 0.99,
                                                                         "finished_at": T0 + 1001}))
        for _ in range(20):
            await pilot.pause(0.1)
            if 301 in tree.shown and app.watcher.best_id == 176:
                break
        assert 301 in tree.shown
        assert tree.shown[2].is_expanded  # the new node sits in a subtree above the viewport
        assert tree.shown[301].line < tree.scroll_offset.y
        assert tree.chosen == 176
        assert tree.cursor_line - int(tree.scroll_offset.y) == row_before
        assert tree.get_node_at_line(int(tree.scroll_offset.y)).data == top_before
        assert "★ best" in str(tree.shown[176].label)
        writer.close()


async def test_large_tree_loads_subtrees_on_expand(tmp_path):
    root, run_id = write_wide_tree(tmp_path / "runs", 3000)
    app = _app(root, run_id)
    async with app.run_test(size=SIZE) as pilot:
        await pilot.pause()
        tree = app.query_one(RunTree)
        best_path = app.watcher.best_path()
        # Drafts, plus the children of each node on the way to the best: nowhere near 3000 lines.
        assert len(tree.shown) < 200
        assert all(i in tree.shown for i in best_path) and tree.chosen == best_path[-1]
        closed = next(i for i in app.watcher.children[None] if i not in best_path and app.watcher.children.get(i))
        assert not any(c in tree.shown for c in app.watcher.children[closed])
        assert "+8" in str(tree.shown[closed].label)
        tree.move_cursor(tree.shown[closed])
        await pilot.press("enter")
        assert all(c in tree.shown for c in app.watcher.children[closed])
        assert not tree.shown[app.watcher.children[closed][0]].is_expanded


def test_run_tui_names_an_unknown_run(demo_store):
    from runs.store import StoreError
    from tui.app import run_tui

    with pytest.raises(StoreError, match="run 'nope': no such run"):
        run_tui(demo_store[0], "nope")


async def test_an_empty_run_fills_in_as_nodes_arrive(tmp_path):
    from tests.tui.conftest import demo_run

    root = tmp_path / "runs"
    writer = RunStore(root)
    writer.create_run(demo_run())
    app = _app(root)
    async with app.run_test(size=SIZE) as pilot:
        await pilot.pause()
        assert "no good node yet" in screen_text(app) and "best score -" in screen_text(app)
        writer.save_node(demo_node(RUN_ID, 1, None, "draft", "good", 0.4))
        writer.save_node(demo_node(RUN_ID, 2, 1, "improve", "running", None))
        app.refresh_from_store()
        await pilot.pause()
        tree = app.query_one(RunTree)
        assert set(tree.shown) == {1, 2} and tree.shown[2].parent is tree.shown[1]
        # Parent and child arrived in one poll: the child is drawn once, not once per path that adds it.
        assert [line.data for line in tree.shown[1].children] == [2]
        assert "best score 0.4 (#1)" in screen_text(app) and "workers 1/2" in screen_text(app)
        await pilot.press("ctrl+c")
    assert app.return_value is None
    writer.close()


async def test_header_shows_the_machines_free_gpus_and_cluster(demo_store):
    root, run_id = demo_store
    writer = RunStore(root)
    writer.update_run(run_id, resources={"gpus_total": 2.0, "gpus_free": 0.5, "nodes": 3, "cpus_total": 12.0,
                                         "cpus_free": 7.0})
    writer.close()
    app = _app(root, run_id)
    async with app.run_test(size=(200, 40)) as pilot:
        await pilot.pause()
        text = screen_text(app)
        assert "gpus free 0.5/2" in text and "cluster 3 nodes, 7/12 CPUs free" in text
