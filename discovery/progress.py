"""What the terminal shows while a run searches, and the summary at its end."""

from __future__ import annotations

import shutil
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol, TextIO

from discovery.durations import format_duration
from runs.display import printable
from runs.models import Node, NodeStatus

_MARK = {
    NodeStatus.good: "ok ", NodeStatus.buggy: "bug", NodeStatus.flagged: "flg",
    NodeStatus.failed: "err", NodeStatus.cancelled: "cnl",
}


@dataclass(frozen=True, slots=True)
class SearchStatus:
    """Where the search stands at one moment, as a progress display shows it."""

    run_id: str
    metric: str  # the metric's name
    spent: int  # nodes counted against the budget
    budget: int
    running: int  # nodes in flight
    best_id: int | None
    best_metric: float | None
    elapsed: float  # seconds searching, over all sessions


class Progress(Protocol):
    """Receives the engine's milestones; must be cheap, it runs on the loop."""

    def node_started(self, status: SearchStatus, node: Node) -> None: ...
    def node_finished(self, status: SearchStatus, node: Node) -> None: ...
    def message(self, text: str) -> None: ...
    def finished(self, store: Any, run_id: str, report: Path | None) -> None: ...


class SilentProgress:
    """Shows nothing (library use, tests)."""

    def node_started(self, status: SearchStatus, node: Node) -> None: ...
    def node_finished(self, status: SearchStatus, node: Node) -> None: ...
    def message(self, text: str) -> None: ...
    def finished(self, store: Any, run_id: str, report: Path | None) -> None: ...


class TerminalProgress:
    """A line per finished node, and on a terminal a live status line under them."""

    def __init__(self, stream: TextIO | None = None) -> None:
        self.stream = stream or sys.stderr
        self.live = self.stream.isatty()
        self.last_status = 0.0

    def _status(self, status: SearchStatus) -> str:
        best_text = f"{status.best_metric:.6g} (node {status.best_id})" if status.best_id is not None else "-"
        return (
            f"[{status.spent}/{status.budget} nodes] running {status.running} "
            f"| best {status.metric} {best_text} | {format_duration(status.elapsed)}"
        )

    def _print(self, text: str) -> None:
        if self.live:
            width = shutil.get_terminal_size((100, 20)).columns
            self.stream.write("\r\033[K" + text[: width - 1] + "\n")
        else:
            self.stream.write(text + "\n")
        self.stream.flush()

    def _redraw(self, status: SearchStatus) -> None:
        if self.live:
            width = shutil.get_terminal_size((100, 20)).columns
            self.stream.write("\r\033[K" + self._status(status)[: width - 1])
            self.stream.flush()

    def node_started(self, status: SearchStatus, node: Node) -> None:
        self._redraw(status)

    def node_finished(self, status: SearchStatus, node: Node) -> None:
        mark = _MARK.get(node.status, "   ")
        if node.status == NodeStatus.good:
            detail = f"{status.metric} = {node.metric:.6g}"
        else:
            detail = printable(node.error.splitlines()[0])[:90] if node.error else ""
        parent = f"<-{node.parent_id}" if node.parent_id else "   "
        star = " *" if status.best_id == node.id else ""
        self._print(f"  {mark} #{node.id:<4} {parent:<6} {node.operator:<7} {detail}{star}")
        if not self.live and time.monotonic() - self.last_status > 10:
            self.last_status = time.monotonic()
            self._print(self._status(status))
        self._redraw(status)

    def message(self, text: str) -> None:
        self._print(text)

    def finished(self, store: Any, run_id: str, report: Path | None) -> None:
        if self.live:
            self.stream.write("\r\033[K")
        self.stream.write(printable(summary_table(store, run_id)) + "\n")
        if report is not None:
            self.stream.write(f"report: {report}\n")
        self.stream.flush()


def summary_table(store: Any, run_id: str, top: int = 5) -> str:
    """The run's outcome in a few lines: status, counts and the top nodes."""
    run = store.get_run(run_id)
    nodes = store.nodes(run_id, with_code=False)
    metric = run.idea.metric
    counts: dict[str, int] = {}
    for n in nodes:
        counts[n.status.value] = counts.get(n.status.value, 0) + 1
    good = metric.rank(nodes)
    lines = [
        f"run {run.id}: {run.status}, {len(nodes)} nodes ("
        + ", ".join(f"{v} {k}" for k, v in sorted(counts.items())) + f") in {format_duration(run.elapsed)}",
        f"{'node':>6} {'parent':>6} {'operator':<8} {metric.name + ' (' + metric.direction + ')':>28}  plan",
    ]
    for n in good[:top]:
        plan = n.plan.replace("\n", " ")[:70]
        lines.append(f"{n.id:>6} {str(n.parent_id or '-'):>6} {n.operator:<8} {n.metric:>28.6g}  {plan}")
    if not good:
        lines.append("  no node produced a valid metric")
    if run.idea.task is not None:
        from discovery.tasks.results import score_lines

        lines += score_lines(store, run_id)
    return "\n".join(lines)
