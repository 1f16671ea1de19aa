"""Throughput of the Ray workspace against the local workspace on the same trivial experiment.

Two measurements, each for the local workspace and for a private local Ray instance
(``address="local"``, one CPU per task):

1. A whole search through the real engine (offline agent, K workers): nodes per minute,
   worker utilisation (time node processes ran / (search time x K)) and the orchestration
   overhead per node.
2. The workspace alone, one node at a time: median wall time per node, so the difference
   is the per-node overhead Ray adds (task submission, scheduling, the scratch folder and
   reaper on the worker, shipping outputs back and writing them here).

Peak memory: the driver's peak RSS, and the peak summed RSS of its descendant processes
(node processes; for Ray also the GCS, raylet and worker processes).

    python bench/ray_throughput.py [--nodes 40] [--workers 2] [--single 20]
"""

from __future__ import annotations

import argparse
import asyncio
import os
import resource
import statistics
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
os.environ.setdefault("LITELLM_LOCAL_MODEL_COST_MAP", "True")

from overhead import TRIVIAL, make_idea  # noqa: E402 - the same trivial experiment as bench/overhead.py


class DescendantMemory:
    """Samples the summed RSS of this process's descendants in a thread; keeps the peak (MB)."""

    def __init__(self, every: float = 0.2) -> None:
        self.every = every
        self.peak = 0.0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, daemon=True)

    def __enter__(self) -> DescendantMemory:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()

    def _loop(self) -> None:
        while not self._stop.is_set():
            self.peak = max(self.peak, _descendants_rss_mb(os.getpid()))
            self._stop.wait(self.every)


def _descendants_rss_mb(root: int) -> float:
    parent: dict[int, int] = {}
    rss: dict[int, int] = {}
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        pid = int(stat.parent.name)
        parent[pid] = int(fields[1])
        rss[pid] = int(fields[21])  # pages
    children: dict[int, list[int]] = {}
    for pid, ppid in parent.items():
        children.setdefault(ppid, []).append(pid)
    total, stack = 0, list(children.get(root, []))
    while stack:
        pid = stack.pop()
        total += rss.get(pid, 0)
        stack.extend(children.get(pid, []))
    return total * os.sysconf("SC_PAGE_SIZE") / 1e6


async def search(workspace: Any, nodes: int, workers: int) -> dict[str, float]:
    """One search of the trivial idea through the real engine with ``workspace``."""
    from agents.offline import OfflineAgent
    from discovery.api import create_run
    from discovery.engine import Engine
    from discovery.graph import run_loop
    from discovery.idea import load_idea
    from discovery.progress import SilentProgress
    from runs.models import RunConfig
    from runs.store import RunStore
    from search.policy import make_policy

    with tempfile.TemporaryDirectory() as tmp:
        store = RunStore(Path(tmp) / "runs")
        config = RunConfig(budget=nodes, workers=workers, workspace=workspace.name)
        run = create_run(store, load_idea(make_idea(Path(tmp))), config)
        engine = Engine(store=store, run=run, policy=make_policy(config.policy, num_drafts=config.num_drafts),
                        agent=OfflineAgent(), workspace=workspace, progress=SilentProgress())
        with DescendantMemory() as memory:
            await run_loop(engine)
        done = store.nodes(run.id, with_code=False)
        busy = sum(n.exec_seconds or 0.0 for n in done)
        elapsed = store.get_run(run.id).elapsed  # the search, without the report
        good = sum(n.status.value == "good" for n in done)
        store.close()
    return {"nodes": len(done), "good": good, "search": elapsed, "per_min": len(done) / elapsed * 60,
            "util": busy / (elapsed * workers), "per_node_ms": (elapsed * workers - busy) / len(done) * 1000,
            "children_mb": memory.peak}


async def one_at_a_time(workspace: Any, count: int) -> dict[str, float]:
    """Median wall time per node, and median time the node's process ran, one node at a time."""
    from workspace.base import ExecRequest

    walls, runs = [], []
    with tempfile.TemporaryDirectory() as tmp:
        for i in range(count):
            request = ExecRequest(run_id="bench", node_id=i, workdir=Path(tmp) / str(i), code=TRIVIAL, time_limit=30)
            t0 = time.perf_counter()
            result = await workspace.execute(request)
            walls.append(time.perf_counter() - t0)
            runs.append(result.duration)
            assert result.exit_code == 0, result.stderr
    return {"wall_ms": statistics.median(walls) * 1000, "proc_ms": statistics.median(runs) * 1000,
            "around_ms": statistics.median(w - r for w, r in zip(walls, runs)) * 1000}


async def main_async(args: argparse.Namespace) -> None:
    from workspace.local import LocalWorkspace
    from workspace.ray_workspace import RayWorkspace

    rows: list[tuple[str, dict[str, float], dict[str, float], float, float]] = []
    local = LocalWorkspace()
    single_local = await one_at_a_time(local, args.single)
    engine_local = await search(local, args.nodes, args.workers)
    rows.append(("local", engine_local, single_local, 0.0, _peak_rss_mb()))

    ray_ws = RayWorkspace("local", num_cpus=1, init_kwargs=dict(num_cpus=args.workers,
                                                                object_store_memory=100 * 1024 * 1024))
    t0 = time.perf_counter()
    await asyncio.to_thread(ray_ws.connect)
    await one_at_a_time(ray_ws, 2)  # warm-up: the first tasks start Ray's worker processes
    start = time.perf_counter() - t0
    try:
        single_ray = await one_at_a_time(ray_ws, args.single)
        engine_ray = await search(ray_ws, args.nodes, args.workers)
    finally:
        await ray_ws.close()
    rows.append(("ray", engine_ray, single_ray, start, _peak_rss_mb()))

    print(f"{args.nodes} nodes of a trivial experiment, {args.workers} workers; "
          f"{os.cpu_count()} CPUs; node wall times are medians of {args.single} nodes run one at a time")
    print(f"{'workspace':>9} {'start s':>7} {'nodes':>5} {'search s':>8} {'nodes/min':>9} {'util %':>6} "
          f"{'ovh/node ms':>11} {'1-node wall ms':>14} {'1-node proc ms':>14} {'1-node around ms':>16} "
          f"{'driver peak MB':>14} "
          f"{'children peak MB':>16}")
    for name, eng, single, start_s, rss in rows:
        print(f"{name:>9} {start_s:>7.1f} {eng['nodes']:>5.0f} {eng['search']:>8.2f} {eng['per_min']:>9.0f} "
              f"{eng['util'] * 100:>6.0f} {eng['per_node_ms']:>11.0f} {single['wall_ms']:>14.0f} "
              f"{single['proc_ms']:>14.0f} {single['around_ms']:>16.0f} {rss:>14.0f} {eng['children_mb']:>16.0f}")
    added = rows[1][2]["wall_ms"] - rows[0][2]["wall_ms"]
    print(f"One node at a time (medians): Ray adds {added:.0f} ms of wall time per node; the time spent "
          f"around the node's own process is {rows[0][2]['around_ms']:.0f} ms locally and "
          f"{rows[1][2]['around_ms']:.0f} ms through Ray.")
    print("ovh/node = (search time x workers - node process time) / nodes; around = wall - process time; "
          "driver peak MB is this process's peak RSS so far (cumulative).")


def _peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--nodes", type=int, default=40)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--single", type=int, default=20, help="nodes run one at a time for the per-node times")
    args = parser.parse_args()
    try:
        import ray  # noqa: F401
    except ImportError:
        sys.exit("bench/ray_throughput.py: Ray is not installed (pip install -e '.[ray]')")
    asyncio.run(main_async(args))


if __name__ == "__main__":
    main()
