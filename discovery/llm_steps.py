"""The model-driven steps of a node's pipeline: metric reader, reviewers, value agent.

Each one is optional help: a failure is recorded as an event and the node goes on with
what it has. Nothing here runs without a configured model. Each step gets a ``Judges`` (the
client, the store and the idea), not the engine, and returns what it found.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from discovery.evaluate import judge
from runs.models import Idea, Node, NodeStatus
from runs.store import RunStore
from workspace.base import ExecResult

_TAIL = 4000  # characters of output a reviewer sees (what the node's row keeps)


@dataclass(frozen=True)
class Judges:
    """What the model-driven steps need of a run."""

    llm: Any  # agents.llm.LLMClient
    store: RunStore
    run_id: str
    idea: Idea  # as the reviewers read it
    agent_idea: Idea  # as the value agent reads it (no held-out script)


def review_notes(store: RunStore, run_id: str, node_id: int) -> list[str]:
    """A node's stored reviews as short lines, for the improve operator's prompt."""
    from reviewers.models import Review

    notes: list[str] = []
    for row in store.reviews(run_id, node_id):
        notes.extend(Review.model_validate(row.model_dump(include={
            "reviewer", "model", "score", "verdict", "issues", "summary", "plots"})).notes())
    return notes


async def read_missing_metric(judges: Judges, node: Node, result: ExecResult) -> dict[str, Any] | None:
    """The result's metrics with the metric a model read from the output, when the script ran
    cleanly but wrote none; None when there is nothing to read or the model found nothing.

    A task's metric is the framework's score of the submission: a model never reads one."""
    from agents.llm import LLMError
    from agents.metric_reader import read_metric

    metric = judges.idea.metric
    if (result.exit_code != 0 or result.timed_out or result.cancelled or metric.name in (result.metrics or {})
            or judges.idea.task is not None):
        return None
    try:
        reading = await read_metric(judges.llm, metric, result.stdout, result.stderr)
    except LLMError as exc:
        judges.store.add_event(judges.run_id, "metric_read_failed", str(exc), node.id)
        return None
    if not reading.found or reading.value is None:
        return None
    return {**(result.metrics or {}), metric.name: reading.value}


async def review(judges: Judges, node: Node, result: ExecResult) -> str | None:
    """Review a good node's code and plots (stored); why one reviewer judged it invalid, or None."""
    from agents.llm import LLMError
    from reviewers.node_review import review_node
    from reviewers.plot_review import find_plots, review_plots

    verdict = judge(result, judges.idea.metric)
    if result.cancelled or verdict.status != NodeStatus.good:
        return None
    seen = node.model_copy(update={"metric": verdict.metric, "metrics": result.metrics or {},
                                   "stdout_tail": result.stdout[-_TAIL:], "stderr_tail": result.stderr[-_TAIL:]})
    folder = judges.store.node_dir(judges.run_id, node.id)
    reviews = []
    for name, make in (("node", lambda: review_node(judges.llm, judges.idea, seen)),
                       ("plot", lambda: review_plots(judges.llm, judges.idea, seen,
                                                     find_plots(folder, result.artifacts)))):
        try:
            found = await make()
        except LLMError as exc:
            judges.store.add_event(judges.run_id, "review_failed", f"{name} review: {exc}", node.id)
            continue
        if found is not None:
            judges.store.add_review(judges.run_id, node.id, found.model_dump())
            reviews.append(found)
    invalid = [r for r in reviews if r.invalid]
    return (invalid[0].summary or "judged invalid") if invalid else None


async def value(judges: Judges, node: Node, stage: str, *, best: float | None,
                result: ExecResult | None = None) -> float | None:
    """The value agent's estimate of ``node`` (stored): ``before`` from its plan and code, ``after``
    with its ``result`` too; None when the agent failed."""
    from agents.llm import LLMError
    from agents.value import estimate_value

    if result is not None:
        verdict = judge(result, judges.idea.metric)
        node = node.model_copy(update={"metric": verdict.metric, "status": verdict.status})
    try:
        estimate = await estimate_value(judges.llm, judges.agent_idea, node, stage=stage, best=best)
    except LLMError as exc:
        judges.store.add_event(judges.run_id, "value_failed", f"{stage}: {exc}", node.id)
        return None
    judges.store.add_value(judges.run_id, node.id, stage, estimate.value, estimate.explanation, estimate.model)
    return estimate.value
