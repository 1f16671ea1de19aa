"""The TUI application: watch a run's tree grow and steer the search through the store.

It reads only the run store and writes only command rows (and forks), so it attaches to a
run in another process, or to a finished one, exactly as to its own.
"""

from __future__ import annotations

import sqlite3
import time
from pathlib import Path
from typing import ClassVar

from textual import on
from textual.app import App, ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Horizontal
from textual.widgets import Footer

from runs.store import RunStore, StoreError
from tui.commands import CommandError, CommandWriter
from tui.data import RunWatcher
from tui.details import load_details
from tui.screens.choice import confirm, quit_live_run
from tui.screens.help import HelpScreen
from tui.screens.papers import PapersScreen
from tui.screens.report import ReportScreen
from tui.widgets.best_chart import BestChart
from tui.widgets.event_log import EventLog
from tui.widgets.node_pane import NodePane
from tui.widgets.run_header import RunHeader
from tui.widgets.run_tree import RunTree

POLL_SECONDS = 0.5


class DiscoverApp(App[str | None]):
    """One run's tree, node pane, best-metric chart and event log.

    ``attached_to_live_run``: the app was opened by ``discover run`` for the run it is
    driving; quitting then asks whether to stop the run or leave it in the background, and
    the app's return value is that choice.
    """

    CSS_PATH = "app.tcss"
    TITLE = "discover"
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("p", "pause", "Pause"),
        Binding("r", "resume", "Resume"),
        Binding("s", "stop", "Stop"),
        Binding("x", "prune", "Prune"),
        Binding("e", "expand", "Expand next"),
        Binding("f", "fork", "Fork"),
        Binding("w", "report", "Write-up"),
        Binding("l", "papers", "Papers", show=False),
        Binding("b", "best", "Best", show=False),
        Binding("1", "tab('overview')", "Overview", show=False),
        Binding("2", "tab('code')", "Code", show=False),
        Binding("3", "tab('output')", "Output", show=False),
        Binding("4", "tab('diff')", "Diff", show=False),
        Binding("question_mark", "help", "Help"),
        Binding("q", "quit", "Quit"),
        # Researchers reach for ctrl+c; it asks the same question as q rather than just hinting.
        Binding("ctrl+c", "quit", "Quit", show=False, priority=True),
    ]
    KEY_HELP: ClassVar[list[tuple[str, str]]] = [
        ("p", "pause the search (running nodes go on; no new ones start)"),
        ("r", "resume the search"),
        ("s", "stop: running nodes finish, then the report is written"),
        ("x", "prune the selected node's subtree from the search"),
        ("e", "expand the selected node next"),
        ("f", "fork a new run from the selected node (start it with discover resume)"),
        ("w", "open the write-up, once the run has one"),
        ("l", "the papers the run used (its idea's novelty check, the write-up's literature)"),
        ("b", "jump to the best node"),
        ("1 2 3 4", "node pane: overview, code, output, diff against the parent"),
        ("?", "this help"),
        ("q ctrl+c", "quit (asks whether to stop a run this terminal started)"),
    ]

    def __init__(self, runs_dir: str | Path, run_id: str, *, attached_to_live_run: bool = False,
                 poll_seconds: float = POLL_SECONDS) -> None:
        super().__init__()
        self.runs_dir = Path(runs_dir)
        self.store = RunStore(self.runs_dir, readonly=True)
        self.run_id = run_id
        self.attached_to_live_run = attached_to_live_run
        self.poll_seconds = poll_seconds
        self.watcher = RunWatcher(self.store, run_id)
        self.commands = CommandWriter(self.runs_dir, run_id)
        self._poll_failed = False
        self.last_refresh_ms = 0.0  # how long the last poll-and-update took; read by the benchmark

    def compose(self) -> ComposeResult:
        yield RunHeader(self.watcher, id="header")
        with Horizontal(id="main"):
            yield RunTree(self.watcher, id="tree")
            yield NodePane(id="node")
        with Horizontal(id="bottom"):
            yield BestChart(self.watcher, id="chart")
            yield EventLog(self.watcher.run.created_at, id="log")
        yield Footer()

    def on_mount(self) -> None:
        self.sub_title = self.run_id
        self.query_one(EventLog).add_events(self.watcher.backlog())
        tree = self.query_one(RunTree)
        tree.border_title = "tree"
        tree.focus()
        self.query_one(EventLog).border_title = "events"
        self.query_one(BestChart).border_title = "best so far"
        if self.poll_seconds > 0:
            self.set_interval(self.poll_seconds, self.refresh_from_store)

    def on_unmount(self) -> None:
        self.commands.close()
        self.store.close()

    # -- keeping up with the store ----------------------------------------------------------------

    def refresh_from_store(self) -> None:
        """Poll the store once and pass what changed to the widgets that show it."""
        started = time.perf_counter()
        was_live = self.watcher.live
        try:
            changes = self.watcher.poll()
        except (sqlite3.Error, StoreError) as exc:
            # A store busy with a long write, or moved away: say so once and keep trying.
            if not self._poll_failed:
                self.notify(f"cannot read the run store: {exc}", severity="error")
            self._poll_failed = True
            return
        self._poll_failed = False
        if changes:
            self.query_one(RunTree).apply(changes)
            if changes.nodes_moved or changes.run_changed:
                self.query_one(RunHeader).refresh_header()
                self.query_one(BestChart).refresh_chart()
            if changes.events:
                self.query_one(EventLog).add_events(changes.events)
            if changes.report_appeared:
                self.notify("The write-up is ready: press w to read it.")
            if was_live and not self.watcher.live:
                self.notify(f"The run has {self.watcher.run.status}.")
        self.last_refresh_ms = (time.perf_counter() - started) * 1000

    @on(RunTree.NodeChosen)
    def show_node(self, event: RunTree.NodeChosen) -> None:
        self.query_one(NodePane).show(load_details(self.store, self.run_id, event.node_id))

    # -- actions ------------------------------------------------------------------------------------

    def _selected(self) -> int | None:
        node_id = self.query_one(RunTree).chosen
        if node_id is None:
            self.notify("Select a node first.", severity="warning")
        return node_id

    def _send(self, kind: str, node_id: int | None = None, done: str = "") -> None:
        if not self.watcher.live:
            self.notify(f"The run has {self.watcher.run.status}: nothing reads commands now.", severity="warning")
            return
        try:
            self.commands.send(kind, node_id)
        except CommandError as exc:
            self.notify(str(exc), severity="error", markup=False)
            return
        self.notify(done or f"{kind}: sent")
        self.refresh_from_store()  # the header shows "paused" at once

    def action_pause(self) -> None:
        self._send("pause", done="pause: sent; running nodes finish, no new ones start")

    def action_resume(self) -> None:
        self._send("resume", done="resume: sent")

    def action_stop(self) -> None:
        if not self.watcher.live:
            self._send("stop")
            return

        def answered(choice: str | None) -> None:
            if choice == "yes":
                self._send("stop", done="stop: sent; running nodes finish, then the report is written")

        self.push_screen(confirm("Stop the run? Running nodes finish and the report is written."), answered)

    def action_prune(self) -> None:
        node_id = self._selected()
        if node_id is None:
            return
        if not self.watcher.live:
            self._send("prune", node_id)
            return
        size = self._subtree_size(node_id)

        def answered(choice: str | None) -> None:
            if choice == "yes":
                self._send("prune", node_id, done=f"prune: sent for node {node_id} ({size} nodes)")

        self.push_screen(confirm(f"Prune node {node_id} and its subtree ({size} nodes) from the search?"), answered)

    def _subtree_size(self, node_id: int) -> int:
        children, stack, size = self.watcher.children, [node_id], 0
        while stack:
            size += 1
            stack.extend(children.get(stack.pop(), []))
        return size

    def action_expand(self) -> None:
        node_id = self._selected()
        if node_id is not None:
            self._send("expand", node_id, done=f"expand: node {node_id} goes next")

    def action_fork(self) -> None:
        node_id = self._selected()
        if node_id is None:
            return
        try:
            new_id = self.commands.fork(node_id)
        except CommandError as exc:
            self.notify(str(exc), severity="error", markup=False)
            return
        self.notify(f"Forked run {new_id} from node {node_id}. Start it with: discover resume {new_id}", timeout=15)

    def action_report(self) -> None:
        path = self.watcher.report_path
        if not path.exists():
            self.notify("No write-up yet: it is written when the run ends.", severity="warning")
            return
        self.push_screen(ReportScreen(path))

    def action_papers(self) -> None:
        papers = self.store.run_papers(self.run_id)
        if not papers:
            self.notify("No papers: the idea did not come from `discover ideate`, and no literature search was "
                        "linked to this run (`discover report RUN --literature`).", severity="warning")
            return
        self.push_screen(PapersScreen(papers))

    def action_tab(self, pane_id: str) -> None:
        self.query_one(NodePane).open_tab(pane_id)

    def action_best(self) -> None:
        self.query_one(RunTree).action_cursor_best()

    def action_help(self) -> None:
        self.push_screen(HelpScreen(self.KEY_HELP))

    async def action_quit(self) -> None:
        if not (self.attached_to_live_run and self.watcher.live):
            self.exit(None)
            return

        def answered(choice: str | None) -> None:
            if choice == "stop":
                try:
                    self.commands.send("stop")
                except CommandError as exc:
                    self.notify(str(exc), severity="error", markup=False)
                    return
                self.exit("stop")
            elif choice == "background":
                self.exit("background")

        self.push_screen(quit_live_run(), answered)


def run_tui(runs_dir: str | Path, run_id: str | None, *, live: bool = False) -> str | None:
    """Open the TUI on a run (``None``: the latest) and block until the user quits.

    ``live``: this process started the run and is driving it. Returns the user's answer on
    quitting a run that is still searching, ``"stop"`` (the stop command is already written)
    or ``"background"``; ``None`` otherwise.
    """
    store = RunStore(runs_dir, readonly=True)
    try:
        resolved = store.resolve_run(run_id)
    finally:
        store.close()
    return DiscoverApp(runs_dir, resolved, attached_to_live_run=live).run()
