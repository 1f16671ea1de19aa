"""The best metric so far, one point per good node in the order they finished."""

from __future__ import annotations

from rich.text import Text
from textual.app import ComposeResult
from textual.containers import Vertical
from textual.widgets import Label, Sparkline

from tui.data import RunWatcher
from tui.format import metric_text


class BestChart(Vertical):
    """A sparkline of the best-so-far curve with its first and last values."""

    def __init__(self, watcher: RunWatcher, *, id: str | None = None) -> None:
        super().__init__(id=id)
        self.watcher = watcher
        self._version = -1

    def compose(self) -> ComposeResult:
        yield Label("", id="best-caption")
        yield Sparkline([], summary_function=max if self.watcher.maximize else min, id="best-spark")

    def on_mount(self) -> None:
        self.refresh_chart()

    def refresh_chart(self) -> None:
        """Redraw when the curve changed; a no-op otherwise."""
        if self.watcher.curve.version == self._version:
            return
        self._version = self.watcher.curve.version
        curve = self.watcher.best_curve
        metric = self.watcher.run.idea.metric
        if curve:
            caption = f"best {metric.name}: {metric_text(curve[0])} → {metric_text(curve[-1])} ({len(curve)} good nodes)"
        else:
            caption = f"best {metric.name}: no good node yet"
        # Text, not markup: the metric name is the idea's.
        self.query_one("#best-caption", Label).update(Text(caption))
        # A minimised metric is drawn upside down so that "better" always points up.
        self.query_one("#best-spark", Sparkline).data = list(curve) if self.watcher.maximize else [-v for v in curve]
