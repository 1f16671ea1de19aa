"""Turn an execution result into a node status and metric, saying why when it is buggy."""

from __future__ import annotations

import math
from dataclasses import dataclass

from runs.models import MetricSpec, NodeStatus
from workspace.base import ExecResult


@dataclass(frozen=True)
class Verdict:
    status: NodeStatus
    metric: float | None = None
    error: str | None = None


def judge(result: ExecResult, metric: MetricSpec) -> Verdict:
    """Good only when the process exited 0 in time and wrote a finite value for the metric."""
    if result.cancelled:
        return Verdict(NodeStatus.cancelled, error="cancelled: the run was stopped while it ran")
    if result.disk_exceeded:
        return Verdict(NodeStatus.buggy, error="disk quota exceeded (its folder reached the --node-disk quota)")
    if result.timed_out:
        return Verdict(NodeStatus.buggy, error=f"timed out after {result.duration:.1f}s")
    if result.oom_killed:
        return Verdict(NodeStatus.buggy, error="killed: out of memory")
    if result.exit_code != 0:
        return Verdict(NodeStatus.buggy, error=f"exit code {result.exit_code}: {_last_line(result.stderr)}")
    if result.metrics is None:
        return Verdict(NodeStatus.buggy, error=result.metrics_error or "no metrics")
    if metric.name not in result.metrics:
        names = ", ".join(sorted(result.metrics)[:10]) or "nothing"
        return Verdict(NodeStatus.buggy, error=f"metrics.json has no {metric.name!r} (it has {names})")
    value = result.metrics[metric.name]
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        shown = repr(value)
        shown = shown if len(shown) <= 80 else shown[:77] + "..."
        return Verdict(NodeStatus.buggy, error=f"metric {metric.name!r} is {shown}, not a number")
    if not math.isfinite(value):
        return Verdict(NodeStatus.buggy, error=f"metric {metric.name!r} is {value}")
    if result.review:
        # The framework's own guards (a dataset task's score limits): kept, but never the best.
        return Verdict(NodeStatus.flagged, metric=float(value), error=f"flagged for review: {result.review}")
    return Verdict(NodeStatus.good, metric=float(value))


def _last_line(text: str) -> str:
    lines = [line for line in text.strip().splitlines() if line.strip()]
    return lines[-1][:300] if lines else "(no stderr)"
