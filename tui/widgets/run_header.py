"""The header: what the run is, how far it has got, and what it has found."""

from __future__ import annotations

from rich.text import Text
from textual.widgets import Static

from runs.display import printable
from tui.data import RunWatcher
from tui.format import duration_text, metric_text


class RunHeader(Static):
    """Two lines about the run, redrawn when the run row or the node counts move."""

    def __init__(self, watcher: RunWatcher, *, id: str | None = None) -> None:
        super().__init__(id=id)
        self.watcher = watcher

    def on_mount(self) -> None:
        self.refresh_header()

    def refresh_header(self) -> None:
        """Redraw from the watcher's current state."""
        self.update(header_text(self.watcher))


def header_text(w: RunWatcher) -> Text:
    """Run name and idea; then state, best metric, nodes, workers, time, cost, policy, model.

    The second line is ordered by what a glance needs most, since a narrow terminal cuts its end.
    """
    run, cfg = w.run, w.run.config
    state = run.status
    if run.status == "running" and w.paused:
        state = "paused"
    state_style = {"running": "bold green", "paused": "bold yellow", "finished": "bold blue",
                   "stopped": "bold magenta", "crashed": "bold red"}.get(state, "bold")
    text = Text()
    text.append(f" {run.id}", style="bold")
    text.append(f"  {printable(run.idea.title)}", style="italic")
    if run.parent_run_id:
        text.append(f"  (fork of {run.parent_run_id} #{run.parent_node_id})", style="dim")
    text.append("\n ")
    text.append(f"{state}", style=state_style)
    metric = run.idea.metric
    best = w.rows.get(w.best_id) if w.best_id is not None else None
    text.append(f"  best {metric.name} ", style="dim")
    text.append(metric_text(best.metric if best else None), style="bold yellow" if best else "")
    if best:
        text.append(f" (#{best.id})", style="dim")
    time_limit = f"/{duration_text(cfg.time_limit)}" if cfg.time_limit else ""
    cost_limit = f"/${cfg.max_cost:.2f}" if cfg.max_cost is not None else ""
    for label, value in (
        ("nodes", f"{w.finished}/{cfg.budget}"), ("workers", f"{w.in_flight}/{cfg.workers}"),
        ("time", f"{duration_text(run.elapsed)}{time_limit}"), ("cost", f"${run.cost:.2f}{cost_limit}"),
        ("policy", cfg.policy), ("model", (cfg.llm or {}).get("model") or run.agent),
    ):
        text.append(f"  {label} ", style="dim")
        text.append(value)
    res = run.resources or {}
    if res.get("gpus_total"):
        text.append("  gpus free ", style="dim")
        text.append(f"{res['gpus_free']:g}/{res['gpus_total']:g}")
    if res.get("nodes"):
        text.append("  cluster ", style="dim")
        text.append(f"{res['nodes']} nodes, {res.get('cpus_free', 0):g}/{res.get('cpus_total', 0):g} CPUs free")
    if res.get("error"):
        text.append("  cluster ", style="dim")
        text.append(printable(str(res["error"])), style="red")
    return text
