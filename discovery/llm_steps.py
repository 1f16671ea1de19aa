"""The model-driven parts of a node's evaluate step: metric reader, reviewers, value agent.

Each one is optional help: a failure is recorded as an event and the node goes on with
what it has. Nothing here runs without a configured model.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from discovery.evaluate import judge
from runs.models import NodeStatus
from runs.store import RunStore

if TYPE_CHECKING:
    from discovery.engine import Engine, NodeWork


def review_notes(store: RunStore, run_id: str, node_id: int) -> list[str]:
    """A node's stored reviews as short lines, for the improve operator's prompt."""
    from reviewers.models import Review

    notes: list[str] = []
    for row in store.reviews(run_id, node_id):
        notes.extend(Review.model_validate(row.model_dump(include={
            "reviewer", "model", "score", "verdict", "issues", "summary", "plots"})).notes())
    return notes


async def value_before(engine: Engine, work: NodeWork) -> None:
    """The value agent's estimate from the plan and code, made while the node runs."""
    await _value(engine, work, "before")


async def evaluate_with_llm(engine: Engine, work: NodeWork) -> None:
    """Read a missing metric, review a good node (code and plots), then re-estimate its value."""
    from agents.llm import LLMError
    from agents.metric_reader import read_metric
    from reviewers.node_review import review_node
    from reviewers.plot_review import find_plots, review_plots

    result, metric = work.result, engine.idea.metric
    assert result is not None
    run_id, node = engine.run.id, work.node
    # A task's metric is the framework's score of the submission: a model never reads one from the output.
    if (result.exit_code == 0 and not result.timed_out and metric.name not in (result.metrics or {})
            and engine.idea.task is None):
        try:
            reading = await read_metric(engine.llm, metric, result.stdout, result.stderr)
        except LLMError as exc:
            engine.store.add_event(run_id, "metric_read_failed", str(exc), node.id)
        else:
            if reading.found and reading.value is not None:
                result.metrics = {**(result.metrics or {}), metric.name: reading.value}
                result.metrics_error = None
                work.metric_source = "llm"
    verdict = judge(result, metric)
    if verdict.status == NodeStatus.good:
        seen = node.model_copy(update={"metric": verdict.metric, "metrics": result.metrics or {},
                                       "stdout_tail": result.stdout[-4000:], "stderr_tail": result.stderr[-4000:]})
        folder = engine.store.node_dir(run_id, node.id)
        reviews = []
        for name, make in (("node", lambda: review_node(engine.llm, engine.idea, seen)),
                           ("plot", lambda: review_plots(engine.llm, engine.idea, seen,
                                                         find_plots(folder, result.artifacts)))):
            try:
                review = await make()
            except LLMError as exc:
                engine.store.add_event(run_id, "review_failed", f"{name} review: {exc}", node.id)
                continue
            if review is not None:
                engine.store.add_review(run_id, node.id, review.model_dump())
                reviews.append(review)
        invalid = [r for r in reviews if r.invalid]
        if invalid:
            work.flagged = invalid[0].summary or "judged invalid"
    if engine.config.value_agent:
        await _value(engine, work, "after", outcome=verdict.metric)


async def _value(engine: Engine, work: NodeWork, stage: str, outcome: float | None = None) -> None:
    from agents.llm import LLMError
    from agents.value import estimate_value

    node = work.node
    if stage == "after":
        node = node.model_copy(update={"metric": outcome, "status": judge(work.result, engine.idea.metric).status})
    best = engine.tree.best()
    try:
        estimate = await estimate_value(engine.llm, engine.agent_idea, node, stage=stage,
                                        best=best.metric if best else None)
    except LLMError as exc:
        engine.store.add_event(engine.run.id, "value_failed", f"{stage}: {exc}", node.id)
        return
    engine.store.add_value(engine.run.id, node.id, stage, estimate.value, estimate.explanation, estimate.model)
    work.value = estimate.value
