"""Throughput of the parallel-worker loop, and the cost of one selection as the tree grows.

Part 1 runs the real engine (LangGraph loop, run store, local workspace, real
subprocesses) with K = 1, 4, 8 workers. A scripted agent answers after a set latency
(``asyncio.sleep``, as an LLM call would), and each experiment sleeps for a varied time
(0.2-1.0 s) before writing its metric; about one in six crashes. It prints nodes per
minute against the ideal (every worker always busy) and worker utilisation:

    utilisation = (agent latency + experiment run time, summed over nodes) / (K x search wall time)

Part 2 builds trees of 100, 1,000 and 10,000 nodes by running each policy on a synthetic
landscape (bench/_synthetic.py) with 8 nodes in flight, then times ``select`` on the
grown tree (median and worst of 200 calls) with the peak memory one call allocates and
the memory the tree holds.

    python bench/throughput.py [--latency 0.3] [--nodes-per-worker 16] [--skip-engine] [--skip-select]
"""

from __future__ import annotations

import argparse
import asyncio
import os
import random
import statistics
import sys
import tempfile
import time
import tracemalloc
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
sys.path.insert(0, str(Path(__file__).resolve().parent))
os.environ.setdefault("LITELLM_LOCAL_MODEL_COST_MAP", "True")

from agents.base import ExpansionContext, Proposal

EXPERIMENT = """import json, time
time.sleep({duration})
{crash}json.dump({{"score": {score}}}, open("metrics.json", "w"))
"""


class ScriptedAgent:
    """Answers every operator after ``latency`` seconds with code that sleeps a varied time."""

    name = "scripted"

    def __init__(self, latency: float, seed: int = 0) -> None:
        self.latency = latency
        self.rng = random.Random(seed)
        self.durations: list[float] = []

    async def propose(self, ctx: ExpansionContext) -> Proposal:
        """A proposal after ``latency`` seconds, as agents.base.Agent.propose."""

        await asyncio.sleep(self.latency)
        duration = round(self.rng.uniform(0.2, 1.0), 3)
        self.durations.append(duration)
        base = ctx.parent.metric if ctx.parent is not None and ctx.parent.metric is not None else 0.5
        score = round(base + self.rng.gauss(0.0, 0.05), 4)
        crash = "raise SystemExit(1)\n" if self.rng.random() < 1 / 6 else ""
        code = EXPERIMENT.format(duration=duration, crash=crash, score=score)
        return Proposal(plan=f"{ctx.operator}: sleep {duration}s", code=code)


async def _engine_run(root: Path, workers: int, budget: int, latency: float, policy_name: str) -> dict[str, float]:
    from discovery.api import create_run
    from discovery.engine import Engine
    from discovery.graph import run_loop
    from discovery.progress import SilentProgress
    from runs.models import Idea, MetricSpec, RunConfig
    from runs.store import RunStore
    from search.policy import make_policy
    from workspace.local import LocalWorkspace

    store = RunStore(root)
    idea = Idea(title="Throughput", metric=MetricSpec(name="score"), time_limit=30)
    config = RunConfig(budget=budget, workers=workers, policy=policy_name, seed=0)
    run = create_run(store, idea, config)
    agent = ScriptedAgent(latency)
    workspace = LocalWorkspace()
    engine = Engine(store=store, run=run, policy=make_policy(policy_name, num_drafts=config.num_drafts,
                                                             debug_prob=config.debug_prob,
                                                             max_debug_depth=config.max_debug_depth),
                    agent=agent, workspace=workspace, progress=SilentProgress())
    try:
        await run_loop(engine)
    finally:
        await workspace.close()
    nodes = store.nodes(run.id, with_code=False)
    elapsed = store.get_run(run.id).elapsed  # the search itself; the report comes after
    store.close()
    ran = [n for n in nodes if n.exec_seconds is not None]
    busy = sum(n.exec_seconds or 0.0 for n in ran) + latency * len(nodes)
    ideal_per_node = latency + statistics.mean(agent.durations)
    return {
        "nodes": len(nodes), "wall": elapsed, "busy": busy,
        "per_min": 60 * len(nodes) / elapsed, "ideal_per_min": 60 * workers / ideal_per_node,
        "util": busy / (workers * elapsed),
    }


def engine_table(latency: float, per_worker: int, policy_name: str) -> None:
    print(f"Engine throughput: policy {policy_name}, agent latency {latency:g}s, experiments 0.2-1.0s, "
          f"{per_worker} nodes per worker")
    print(f"{'K':>3} {'nodes':>5} {'wall s':>7} {'nodes/min':>9} {'ideal/min':>9} {'of ideal':>8} "
          f"{'utilisation':>11} {'peak RSS MB':>11}")
    import resource

    for workers in (1, 4, 8):
        with tempfile.TemporaryDirectory() as tmp:
            row = asyncio.run(_engine_run(Path(tmp) / "runs", workers, per_worker * workers, latency, policy_name))
        rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
        print(f"{workers:>3} {row['nodes']:>5} {row['wall']:>7.1f} {row['per_min']:>9.0f} {row['ideal_per_min']:>9.0f} "
              f"{row['per_min'] / row['ideal_per_min']:>8.0%} {row['util']:>11.0%} {rss:>11.0f}")
    print("utilisation = (agent latency + experiment run time) summed over nodes / (K x search wall time); "
          "ideal = K / (latency + mean experiment time)")


def select_table(sizes: tuple[int, ...], calls: int) -> None:
    from _synthetic import Landscape, simulate

    from search.policy import POLICIES, make_policy

    print()
    print(f"Cost of one selection (tree grown by the policy itself, 8 nodes in flight; {calls} calls)")
    print(f"{'policy':>7} {'nodes':>6} {'median ms':>9} {'worst ms':>8} {'peak KB/call':>12} {'tree MB':>7} "
          f"{'build s':>7}")
    land = Landscape(0, lean=1.5, dim=4)
    for name in POLICIES:
        for size in sizes:
            policy = make_policy(name)
            tracemalloc.start()
            t0 = time.perf_counter()
            # Stop short of the size with 8 nodes still in flight, as in a live run.
            trace = simulate(policy, land, budget=size + 8, workers=8, seed=1, stop_in_flight=8)
            build = time.perf_counter() - t0
            tree = trace.tree
            held = tracemalloc.get_traced_memory()[0]
            rng = random.Random(0)
            times, peaks = [], []
            for _ in range(calls):
                tracemalloc.reset_peak()
                before = tracemalloc.get_traced_memory()[0]
                t = time.perf_counter()
                policy.select(tree, rng)
                times.append(time.perf_counter() - t)
                peaks.append(tracemalloc.get_traced_memory()[1] - before)
            tracemalloc.stop()
            # tracemalloc slows Python down; time once more without it for the reported numbers.
            times = []
            for _ in range(calls):
                t = time.perf_counter()
                policy.select(tree, rng)
                times.append(time.perf_counter() - t)
            print(f"{name:>7} {len(tree.nodes):>6} {1000 * statistics.median(times):>9.3f} {1000 * max(times):>8.3f} "
                  f"{max(peaks) / 1024:>12.1f} {held / 2**20:>7.1f} {build:>7.1f}")
    print("tree MB: memory held after growing the tree (tree plus the simulator's records)")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--latency", type=float, default=0.3, help="seconds the scripted agent takes per node")
    parser.add_argument("--nodes-per-worker", type=int, default=16)
    parser.add_argument("--policy", default="adaptive")
    parser.add_argument("--calls", type=int, default=200)
    parser.add_argument("--sizes", default="100,1000,10000")
    parser.add_argument("--skip-engine", action="store_true")
    parser.add_argument("--skip-select", action="store_true")
    args = parser.parse_args()
    if not args.skip_engine:
        engine_table(args.latency, args.nodes_per_worker, args.policy)
    if not args.skip_select:
        select_table(tuple(int(s) for s in args.sizes.split(",")), args.calls)


if __name__ == "__main__":
    main()
