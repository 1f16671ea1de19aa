"""Final selection: re-run the top nodes with several seeds, and run the held-out script.

The search picks nodes by one execution each, so its best node is partly its luckiest.
With ``--final-seeds S`` the top ``k`` valid nodes run S more times with other seeds; a node
whose re-runs fail ranks below every node whose re-runs did not, and among equals the best
mean wins. If the idea has a held-out evaluation script (which the agents never see), it
runs on the chosen node, and the report shows the validation/held-out gap.

Re-runs and the held-out script run like nodes: in the run's workspace, with a node's GPU
share, threads and limits. Under ``--time`` they get what the search left them: a re-run
that could not start, or was cut short by the run's limit, is not counted against its node.

The held-out protocol: ``python holdout.py`` runs in ``nodes/<id>/holdout/``, a copy of the
chosen node's folder (its ``experiment.py`` and everything it saved, without its
``metrics.json`` and output), with the node's data under ``data/``, and must write the
idea's metric to ``metrics.json`` there. Its code is read from the idea's file at this
moment and run only when its hash matches the one stored when the run started; the copy
of the code is deleted once it has run, so no later node can find it.
"""

from __future__ import annotations

import asyncio
import statistics
import time
from contextlib import AbstractAsyncContextManager
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

from agents.params import find_params, set_params
from discovery.evaluate import judge
from runs.models import Evaluation, Idea, MetricSpec, Node, NodeStatus, Run, holdout_hash
from runs.store import RunStore
from workspace.base import ExecRequest, Workspace, clear_for_folder, copy_tree, remove_tree

SEED_NAME = "SEED"  # a top-level constant of this name is set to each seed, as well as DISCOVER_SEED
HOLDOUT_SCRIPT = "holdout.py"
HOLDOUT_DIR = "holdout"
_MIN_RUN_SECONDS = 1.0  # a re-run is not started with less time than this left
# What a copy of a node's folder for the held-out script leaves out: the node's own outputs
# (the held-out script writes its own) and the folders of earlier final selections.
_NOT_COPIED = ("seeds", HOLDOUT_DIR, "metrics.json", "stdout.txt", "stderr.txt", "pid", "tmp", "data")


class FinalRun(Protocol):
    """What the final selection needs of a run (discovery.engine.Engine is one)."""

    store: RunStore
    run: Run
    workspace: Workspace
    side_workspaces: list[Any]  # other workspaces it ran something in (killed on a hard exit)

    def message(self, text: str) -> None:
        """Tell the user (the run's progress display)."""

    def elapsed(self) -> float:
        """Seconds the run has searched, over all its sessions."""

    def best_nodes(self, k: int) -> list[Node]:
        """The search's ``k`` best valid, unpruned nodes, best first."""

    def gpu_lease(self) -> AbstractAsyncContextManager[list[str]]:
        """A node's share of the GPUs for the duration of the block."""

    def exec_request(self, node_id: int, code: str, workdir: Path, *, seed: int, gpus: list[str],
                     time_limit: float | None = None, script: str = ...) -> ExecRequest:
        """An execution with a node's limits and resources."""


@dataclass(frozen=True)
class SeedSummary:
    node_id: int
    mean: float
    std: float
    n: int  # values: the node's own run and its good re-runs
    failed: int = 0  # re-runs that crashed, timed out or gave no valid metric


def summarise(evaluations: list[Evaluation], nodes: dict[int, Node]) -> list[SeedSummary]:
    """Mean and spread per node over its original run and its good seed re-runs, and how many
    of its re-runs failed. Re-runs cut short by the run's own stop count neither way."""
    values: dict[int, list[float]] = {}
    failed: dict[int, int] = {}
    for e in evaluations:
        if e.kind != "seed" or e.status == NodeStatus.cancelled:
            continue
        values.setdefault(e.node_id, [])
        failed.setdefault(e.node_id, 0)
        if e.status == NodeStatus.good and e.metric is not None:
            values[e.node_id].append(e.metric)
        else:
            failed[e.node_id] += 1
    out = []
    for node_id, good in values.items():
        original = nodes[node_id].metric
        good = ([original] if original is not None else []) + good
        if not good:
            continue
        out.append(SeedSummary(node_id, statistics.fmean(good), statistics.stdev(good) if len(good) > 1 else 0.0,
                               len(good), failed[node_id]))
    return out


def choose(summaries: list[SeedSummary], metric: MetricSpec) -> SeedSummary | None:
    """The node that reproduced best: fewest failed re-runs first, then the best mean."""
    if not summaries:
        return None
    sign = -1.0 if metric.direction == "maximize" else 1.0
    return min(summaries, key=lambda s: (s.failed, sign * s.mean, s.node_id))


def holdout_code(idea: Idea) -> tuple[str | None, str]:
    """The held-out script's code and where it came from, or None and why it cannot run."""
    if idea.holdout is not None:
        return idea.holdout, "the idea"
    if not idea.holdout_path:
        return None, ("its code was given inline and is not kept in the run store; declare it as a file "
                      "(holdout: FILE) for it to survive a resume")
    path = Path(idea.holdout_path)
    try:
        code = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        return None, f"{path} cannot be read ({exc})"
    if holdout_hash(code) != idea.holdout_sha256:
        return None, f"{path} changed since the run started (its sha256 differs), so it was not run"
    return code, str(path)


async def final_selection(ctx: FinalRun, deadline: float | None = None) -> int | None:
    """Run the seeds and the held-out script; return the chosen node's id.

    ``deadline`` is the run's elapsed time (``ctx.elapsed()``) by which it must be done.
    """
    config, idea = ctx.run.config, ctx.run.idea
    search_best = ctx.best_nodes(1)
    best = search_best[0].id if search_best else None
    if config.final_seeds > 0:
        top = ctx.best_nodes(config.final_top_k)
        seeds = [config.seed + 1000 * (s + 1) for s in range(config.final_seeds)]
        ctx.message(f"final selection: {len(top)} nodes x {len(seeds)} seeds")
        # Seed by seed over the nodes, so that a run short of time still compares every node.
        jobs = [(n, s) for s in seeds for n in top]
        limit = asyncio.Semaphore(config.workers)

        async def one(node: Node, seed: int) -> Evaluation | None:
            async with limit:
                return await _seed_run(ctx, node, seed, deadline)

        done = await asyncio.gather(*(one(n, s) for n, s in jobs))
        results = [e for e in done if e is not None]
        for evaluation in results:
            ctx.store.save_evaluation(evaluation)
        if len(results) < len(jobs):
            ctx.store.add_event(ctx.run.id, "final_selection",
                                   f"{len(jobs) - len(results)} of {len(jobs)} re-runs not started: "
                                   "the run's --time limit")
        pick = choose(summarise(results, {n.id: n for n in top}), idea.metric)
        if pick is not None:
            best = pick.node_id
            failures = f", {pick.failed} failed re-runs" if pick.failed else ""
            ctx.store.add_event(ctx.run.id, "final_selection",
                                   f"node {pick.node_id}: mean {pick.mean:.6g} +/- {pick.std:.3g} over "
                                   f"{pick.n} runs{failures}", pick.node_id)
    if idea.has_holdout and best is not None:
        evaluation = await _holdout_run(ctx, best, deadline)
        if evaluation is not None:
            ctx.store.save_evaluation(evaluation)
            why = (evaluation.error or "").splitlines()[0][:200] if evaluation.error else ""
            shown = evaluation.metric if evaluation.metric is not None else f"{evaluation.status.value}: {why}"
            ctx.store.add_event(ctx.run.id, "holdout", f"node {best}: {shown}", best)
    return best


async def grade_on_test(final: FinalRun, best: int) -> None:
    """A dataset task: grade the chosen node's submission once on the private test answers."""
    from discovery.tasks.grading import grade_chosen

    store, run = final.store, final.run
    try:
        evaluation = await asyncio.to_thread(grade_chosen, run, store.run_dir(run.id).resolve(), best,
                                             store.node_dir(run.id, best).resolve())
    except Exception as exc:  # a task file gone missing must not lose the finished run
        store.add_event(run.id, "test_score", f"node {best}: grading failed: {type(exc).__name__}: {exc}", best)
        final.message(f"final: grading failed: {type(exc).__name__}: {exc}")
        return
    store.save_evaluation(evaluation)
    if evaluation.metric is not None:
        text = f"node {best}: test {run.idea.metric.name} {evaluation.metric:.6g}"
    else:
        text = f"node {best}: " + (evaluation.error or str(evaluation.metrics.get("note", "not graded")))
    store.add_event(run.id, "test_score", text, best)
    final.message(f"final: {text}")


async def _seed_run(ctx: FinalRun, node: Node, seed: int, deadline: float | None) -> Evaluation | None:
    code = ctx.store.get_node(ctx.run.id, node.id).code or ""
    if SEED_NAME in find_params(code):
        code = set_params(code, {SEED_NAME: seed})
    workdir = _own_folder(ctx.store.node_dir(ctx.run.id, node.id).resolve(), "seeds", str(seed))
    return await _evaluate(ctx, node.id, "seed", seed, code, workdir, deadline)


async def _holdout_run(ctx: FinalRun, node_id: int, deadline: float | None) -> Evaluation | None:
    """Run the held-out script next to a copy of the node's script and artifacts."""
    code, where = holdout_code(ctx.run.idea)
    if code is None:
        ctx.store.add_event(ctx.run.id, "holdout", f"not run: the held-out script {where}", node_id)
        ctx.message(f"held-out script not run: {where}")
        return None
    source = ctx.store.node_dir(ctx.run.id, node_id).resolve()
    workdir = _own_folder(source, HOLDOUT_DIR)
    await asyncio.to_thread(_copy_node, source, workdir)  # a node's folder may hold gigabytes
    workspace = ctx.workspace
    if workspace.name == "ray":
        # A Ray task receives the code, not the node's folder: the script runs here, where the
        # node's artifacts were written back.
        from workspace.local import LocalWorkspace

        workspace = LocalWorkspace()
        ctx.side_workspaces.append(workspace)
    try:
        return await _evaluate(ctx, node_id, "holdout", ctx.run.config.seed, code, workdir, deadline,
                               script=HOLDOUT_SCRIPT, workspace=workspace)
    finally:
        # Its outputs stay for the record; its code must not, or a later node could read it.
        (workdir / HOLDOUT_SCRIPT).unlink(missing_ok=True)


def _own_folder(node_dir: Path, *parts: str) -> Path:
    """``node_dir / parts``, with any link the node planted on the way removed: a ``seeds`` or
    ``holdout`` link to a folder of the user's would have the re-run write there, and open
    that folder to the node's code."""
    path = node_dir
    for part in parts:
        path = clear_for_folder(path / part)
    return path


def _copy_node(source: Path, workdir: Path) -> None:
    # Not shutil's copytree and rmtree, which recurse: a node can nest folders thousands deep.
    remove_tree(workdir)
    copy_tree(source, workdir, skip=_NOT_COPIED)


async def _evaluate(ctx: FinalRun, node_id: int, kind: str, seed: int, code: str, workdir: Path,
                    deadline: float | None, *, script: str | None = None, workspace: Any = None,
                    ) -> Evaluation | None:
    """One execution with the node's resources; None when the run's time left none for it."""
    own_limit = ctx.run.idea.time_limit
    async with ctx.gpu_lease() as gpu_ids:
        time_limit = own_limit
        if deadline is not None:
            left = deadline - ctx.elapsed()
            if left < _MIN_RUN_SECONDS:
                return None
            time_limit = min(own_limit, left)
        request = ctx.exec_request(node_id, code, workdir, seed=seed, gpus=gpu_ids, time_limit=time_limit,
                                      **({"script": script} if script else {}))
        result = await (workspace or ctx.workspace).execute(request)
    verdict = judge(result, ctx.run.idea.metric)
    status, error = verdict.status, verdict.error
    if result.cancelled:
        status, error = NodeStatus.cancelled, "cancelled: the run was interrupted"
    elif result.timed_out and time_limit < own_limit:
        status, error = NodeStatus.cancelled, f"cut off after {time_limit:.0f}s by the run's --time limit"
    return Evaluation(run_id=ctx.run.id, node_id=node_id, kind=kind, seed=seed, status=status,
                      metric=verdict.metric if status == NodeStatus.good else None, metrics=result.metrics or {},
                      error=error, exec_seconds=result.duration, created_at=time.time())
