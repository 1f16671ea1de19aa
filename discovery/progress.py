"""What the terminal shows while a run searches, and the summary at its end."""

from __future__ import annotations

import shutil
import sys
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol, TextIO

from discovery.durations import format_duration
from runs.models import Node, NodeStatus

if TYPE_CHECKING:
    from discovery.engine import Engine

_MARK = {
    NodeStatus.good: "ok ", NodeStatus.buggy: "bug", NodeStatus.flagged: "flg",
    NodeStatus.failed: "err", NodeStatus.cancelled: "cnl",
}


class Progress(Protocol):
    """Receives the engine's milestones; must be cheap, it runs on the loop."""

    def node_started(self, engine: Engine, node: Node) -> None: ...
    def node_finished(self, engine: Engine, node: Node) -> None: ...
    def message(self, text: str) -> None: ...
    def finished(self, engine: Engine, report: Path | None) -> None: ...


class SilentProgress:
    """Shows nothing (library use, tests)."""

    def node_started(self, engine: Engine, node: Node) -> None: ...
    def node_finished(self, engine: Engine, node: Node) -> None: ...
    def message(self, text: str) -> None: ...
    def finished(self, engine: Engine, report: Path | None) -> None: ...


class TerminalProgress:
    """A line per finished node, and on a terminal a live status line under them."""

    def __init__(self, stream: TextIO | None = None) -> None:
        self.stream = stream or sys.stderr
        self.live = self.stream.isatty()
        self.last_status = 0.0

    def _status(self, engine: Engine) -> str:
        best = engine.tree.best()
        best_text = f"{best.metric:.6g} (node {best.id})" if best else "-"
        return (
            f"[{engine.spent_nodes()}/{engine.config.budget} nodes] running {len(engine.tasks)} "
            f"| best {engine.idea.metric.name} {best_text} | {format_duration(engine.elapsed())}"
        )

    def _print(self, text: str) -> None:
        if self.live:
            width = shutil.get_terminal_size((100, 20)).columns
            self.stream.write("\r\033[K" + text[: width - 1] + "\n")
        else:
            self.stream.write(text + "\n")
        self.stream.flush()

    def _redraw(self, engine: Engine) -> None:
        if self.live:
            width = shutil.get_terminal_size((100, 20)).columns
            self.stream.write("\r\033[K" + self._status(engine)[: width - 1])
            self.stream.flush()

    def node_started(self, engine: Engine, node: Node) -> None:
        self._redraw(engine)

    def node_finished(self, engine: Engine, node: Node) -> None:
        mark = _MARK.get(node.status, "   ")
        if node.status == NodeStatus.good:
            detail = f"{engine.idea.metric.name} = {node.metric:.6g}"
        else:
            detail = (node.error or "").splitlines()[0][:90] if node.error else ""
        parent = f"<-{node.parent_id}" if node.parent_id else "   "
        star = " *" if engine.tree.best_id == node.id else ""
        self._print(f"  {mark} #{node.id:<4} {parent:<6} {node.operator:<7} {detail}{star}")
        if not self.live and time.monotonic() - self.last_status > 10:
            self.last_status = time.monotonic()
            self._print(self._status(engine))
        self._redraw(engine)

    def message(self, text: str) -> None:
        self._print(text)

    def finished(self, engine: Engine, report: Path | None) -> None:
        if self.live:
            self.stream.write("\r\033[K")
        self.stream.write(summary_table(engine.store, engine.run.id) + "\n")
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
