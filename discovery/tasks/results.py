"""A task run's outcome in a few numbers: validation against test, and the leaderboard standing."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from runs.models import NodeStatus
from runs.store import RunStore


@dataclass(frozen=True)
class TaskResult:
    metric: str
    direction: str
    layout: str
    node_id: int | None  # the chosen node
    validation: float | None  # its score on the hidden validation split (what the search optimised)
    self_reported: float | None  # what the node said about itself in metrics.json
    test: float | None  # its grade on the private answers
    test_error: str | None
    graded: bool  # the final grading ran
    validation_rows: int | None
    standing: dict[str, Any] | None  # rank, of, beats, medal, thresholds
    submission: str | None
    isolation: str | None
    has_answers: bool


def task_result(store: RunStore, run_id: str) -> TaskResult | None:
    """The outcome of a task run (None for an ordinary idea)."""
    run = store.get_run(run_id)
    task = run.idea.task
    if task is None:
        return None
    metric = run.idea.metric
    node = store.get_node(run_id, run.best_node_id) if run.best_node_id else None
    test = next((e for e in store.evaluations(run_id) if e.kind == "test" and node and e.node_id == node.id), None)
    own = (node.metrics.get("self_reported") or {}).get(metric.name) if node else None
    standing = None
    if test and "rank" in test.metrics:
        standing = {k: test.metrics[k] for k in ("rank", "of", "beats", "medal", "thresholds")}
    return TaskResult(
        metric=metric.name, direction=metric.direction, layout=task.layout, node_id=node.id if node else None,
        validation=node.metric if node and node.status == NodeStatus.good else None,
        self_reported=own if isinstance(own, (int, float)) and not isinstance(own, bool) else None,
        test=test.metric if test else None, test_error=test.error if test else None, graded=test is not None,
        validation_rows=node.metrics.get("validation_rows") if node else None, standing=standing,
        submission=test.metrics.get("submission") if test else None, isolation=task.isolation,
        has_answers=task.answers is not None,
    )


def score_lines(store: RunStore, run_id: str) -> list[str]:
    """What a user wants to read first: validation and test score of the chosen node, its rank."""
    r = task_result(store, run_id)
    if r is None:
        return []
    lines = [f"task ({r.layout}): {r.metric} ({r.direction}), scored by the framework on a hidden validation split"
             + (f"; isolation: {r.isolation.split(' (')[0].split(':')[0]}" if r.isolation else "")]
    if r.node_id is None or r.validation is None:
        return lines + ["  no node wrote a valid submission"]
    own = f" (the node's own estimate: {r.self_reported:.6g})" if r.self_reported is not None else ""
    lines.append(f"  validation {r.metric} {r.validation:.6g} on {r.validation_rows} held-back rows, node {r.node_id}"
                 + own)
    if r.test is not None:
        lines.append(f"  test {r.metric} {r.test:.6g} on the private answers")
    elif r.test_error:
        lines.append(f"  test: not graded ({r.test_error})")
    elif not r.has_answers:
        lines.append("  test: no private answers in an AIDE task; the final submission is written for you to submit")
    elif not r.graded:
        lines.append("  test: not graded yet (the run did not reach its end)")
    if r.standing:
        s = r.standing
        medal = f", {s['medal']} medal" if s["medal"] != "none" else ", no medal"
        lines.append(f"  leaderboard: rank {s['rank']} of {s['of']}, beats {s['beats']:.0%} of its entries{medal} "
                     f"(gold needs {s['thresholds']['gold']:.6g})")
    if r.submission:
        lines.append(f"  final submission: {r.submission}")
    return lines
