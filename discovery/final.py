"""Final selection: re-run the top nodes with several seeds, and run the held-out script.

The search picks nodes by one execution each, so its best node is partly its luckiest.
With ``--final-seeds S`` the top ``k`` valid nodes run S more times with other seeds and the
best mean wins. If the idea has a held-out evaluation script (which the agents never see),
it runs on the chosen node, and the report shows the validation/held-out gap.
"""

from __future__ import annotations

import asyncio
import shutil
import statistics
import time
from dataclasses import dataclass
from typing import TYPE_CHECKING

from agents.params import find_params, set_params
from discovery.evaluate import judge
from runs.models import Evaluation, Node, NodeStatus
from workspace.base import ExecRequest

if TYPE_CHECKING:
    from discovery.engine import Engine

SEED_NAME = "SEED"  # a top-level constant of this name is set to each seed, as well as DISCOVER_SEED


@dataclass(frozen=True)
class SeedSummary:
    node_id: int
    mean: float
    std: float
    n: int


def summarise(evaluations: list[Evaluation], nodes: dict[int, Node]) -> list[SeedSummary]:
    """Mean and spread per node over its original run and its good seed re-runs."""
    by_node: dict[int, list[float]] = {}
    for e in evaluations:
        if e.kind == "seed" and e.status == NodeStatus.good and e.metric is not None:
            by_node.setdefault(e.node_id, []).append(e.metric)
    out = []
    for node_id, values in by_node.items():
        original = nodes[node_id].metric
        values = ([original] if original is not None else []) + values
        out.append(SeedSummary(node_id, statistics.fmean(values), statistics.stdev(values) if len(values) > 1 else 0.0,
                               len(values)))
    return out


async def final_selection(engine: Engine) -> int | None:
    """Run the seeds and the held-out script; return the chosen node's id."""
    config, idea = engine.config, engine.idea
    best = engine.tree.best_id
    if config.final_seeds > 0:
        good = [engine.nodes[i] for i in engine.tree.nodes if engine.tree.nodes[i].valid and not engine.nodes[i].pruned]
        good.sort(key=lambda n: n.metric, reverse=idea.metric.direction == "maximize")
        top = good[: config.final_top_k]
        seeds = [config.seed + 1000 * (s + 1) for s in range(config.final_seeds)]
        engine.progress.message(f"final selection: {len(top)} nodes x {len(seeds)} seeds")
        jobs = [(n, s) for n in top for s in seeds]
        limit = asyncio.Semaphore(config.workers)

        async def one(node: Node, seed: int) -> Evaluation:
            async with limit:
                return await _seed_run(engine, node, seed)

        results = await asyncio.gather(*(one(n, s) for n, s in jobs))
        for evaluation in results:
            engine.store.save_evaluation(evaluation)
        summaries = summarise(list(results), engine.nodes)
        if summaries:
            pick = summaries[0]
            for s in summaries[1:]:
                if idea.metric.better(s.mean, pick.mean):
                    pick = s
            best = pick.node_id
            engine.store.add_event(engine.run.id, "final_selection",
                                   f"node {pick.node_id}: mean {pick.mean:.6g} +/- {pick.std:.3g} over {pick.n} runs",
                                   pick.node_id)
    if idea.holdout and best is not None:
        evaluation = await _holdout_run(engine, engine.nodes[best])
        engine.store.save_evaluation(evaluation)
        engine.store.add_event(engine.run.id, "holdout", f"node {best}: {evaluation.metric}", best)
    return best


async def grade_on_test(engine: Engine, best: int) -> None:
    """A dataset task: grade the chosen node's submission once on the private test answers."""
    from discovery.tasks.grading import grade_chosen

    store, run = engine.store, engine.run
    try:
        evaluation = await asyncio.to_thread(grade_chosen, run, store.run_dir(run.id).resolve(), best,
                                             store.node_dir(run.id, best).resolve())
    except Exception as exc:  # a task file gone missing must not lose the finished run
        store.add_event(run.id, "test_score", f"node {best}: grading failed: {type(exc).__name__}: {exc}", best)
        engine.progress.message(f"final: grading failed: {type(exc).__name__}: {exc}")
        return
    store.save_evaluation(evaluation)
    if evaluation.metric is not None:
        text = f"node {best}: test {engine.idea.metric.name} {evaluation.metric:.6g}"
    else:
        text = f"node {best}: " + (evaluation.error or str(evaluation.metrics.get("note", "not graded")))
    store.add_event(run.id, "test_score", text, best)
    engine.progress.message(f"final: {text}")


async def _seed_run(engine: Engine, node: Node, seed: int) -> Evaluation:
    code = engine.store.get_node(engine.run.id, node.id).code or ""
    if SEED_NAME in find_params(code):
        code = set_params(code, {SEED_NAME: seed})
    workdir = engine.store.node_dir(engine.run.id, node.id).resolve() / "seeds" / str(seed)
    return await _evaluate(engine, node, "seed", seed, code, workdir)


async def _holdout_run(engine: Engine, node: Node) -> Evaluation:
    """Run the held-out script in a copy of the node's folder, where the experiment's outputs are."""
    source = engine.store.node_dir(engine.run.id, node.id).resolve()
    workdir = source / "holdout"
    if workdir.exists():
        shutil.rmtree(workdir)
    shutil.copytree(source, workdir, symlinks=True, ignore=shutil.ignore_patterns("seeds", "holdout", "metrics.json"))
    return await _evaluate(engine, node, "holdout", engine.config.seed, engine.idea.holdout or "", workdir)


async def _evaluate(engine: Engine, node: Node, kind: str, seed: int, code: str, workdir) -> Evaluation:  # noqa: ANN001
    request = ExecRequest(
        run_id=engine.run.id, node_id=node.id, workdir=workdir, code=code, time_limit=engine.idea.time_limit,
        output_cap=engine.config.output_cap, data=engine.idea.data, seed=seed, network=engine.idea.network,
        image=engine.idea.image,
    )
    result = await engine.workspace.execute(request)
    verdict = judge(result, engine.idea.metric)
    return Evaluation(run_id=engine.run.id, node_id=node.id, kind=kind, seed=seed, status=verdict.status,
                      metric=verdict.metric, metrics=result.metrics or {}, error=verdict.error,
                      exec_seconds=result.duration, created_at=time.time())
