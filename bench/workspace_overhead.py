"""Per-node cost of each workspace on a trivial node: local process, cold Docker container,
pooled (warm) Docker container.

Each node only writes metrics.json. "wall" is the whole ``execute`` call as the engine sees
it (staging, container, the Python start, outputs), so it is the per-node cost of a node
that does nothing; "proc" is the part the backend counts as the node's process
(ExecResult.duration: for Docker it includes the engine starting the exec). Peak RSS is the
bench process's. Target: pooled wall median under 150 ms.

    python bench/workspace_overhead.py [--nodes 30] [--image discover-test:bookworm]
"""

from __future__ import annotations

import argparse
import asyncio
import resource
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

TRIVIAL = "import json\njson.dump({'score': 1.0}, open('metrics.json', 'w'))\n"


async def measure(ws, nodes: int, root: Path, warmup: int) -> tuple[list[float], list[float]]:
    from workspace.base import ExecRequest

    walls, procs = [], []
    for i in range(warmup + nodes):
        request = ExecRequest(run_id="bench", node_id=i, workdir=root / "nodes" / f"{i:05d}", code=TRIVIAL,
                              time_limit=60)
        t0 = time.perf_counter()
        result = await ws.execute(request)
        wall = time.perf_counter() - t0
        if result.exit_code != 0 or result.metrics != {"score": 1.0}:
            raise SystemExit(f"{ws.name}: node {i} failed: {result.stderr[-300:]}")
        if i >= warmup:
            walls.append(wall)
            procs.append(result.duration)
    await ws.close()
    return walls, procs


def p95(values: list[float]) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(0.95 * (len(ordered) - 1)))]


def peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--nodes", type=int, default=30)
    parser.add_argument("--image", default=None, help="image for the Docker rows (default: the test image)")
    args = parser.parse_args()

    from workspace.docker import DockerWorkspace, engine_status, image_status
    from workspace.docker_spec import DEFAULT_IMAGE
    from workspace.local import LocalWorkspace

    image = args.image or DEFAULT_IMAGE
    quota = 1 << 30  # every node of a run has a disk quota (watched while it runs)
    backends = [("local", lambda: LocalWorkspace(disk_limit=quota), 1)]
    ok, why = engine_status()
    if ok:
        ok, why = image_status(image)
    if ok:
        # The first pooled node starts the container; the rows show the steady state.
        backends += [("docker cold", lambda: DockerWorkspace(image, pool_size=0, disk_limit=quota), 1),
                     ("docker pooled", lambda: DockerWorkspace(image, pool_size=1, disk_limit=quota), 1)]
    print(f"{'backend':<14} {'nodes':>5} {'wall median ms':>15} {'wall p95 ms':>12} {'proc median ms':>15} "
          f"{'peak RSS MB':>11}")
    for name, make, warmup in backends:
        with tempfile.TemporaryDirectory() as tmp:
            walls, procs = await measure(make(), args.nodes, Path(tmp), warmup)
        print(f"{name:<14} {len(walls):>5} {statistics.median(walls) * 1000:>15.1f} {p95(walls) * 1000:>12.1f} "
              f"{statistics.median(procs) * 1000:>15.1f} {peak_rss_mb():>11.0f}")
    if not ok:
        print(f"docker rows skipped: {why}")


if __name__ == "__main__":
    asyncio.run(main())
