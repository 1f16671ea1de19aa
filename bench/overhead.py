"""Orchestration overhead per node: wall time per node minus the time the node's own process ran.

Runs a 50-node search of a trivial experiment (it only writes metrics.json) with the offline
agent and the local workspace, and prints one row per worker count.

    python bench/overhead.py [--nodes 50]
"""

from __future__ import annotations

import argparse
import os
import resource
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
os.environ.setdefault("LITELLM_LOCAL_MODEL_COST_MAP", "True")

TRIVIAL = "import json\nX = 0\nY = 0\njson.dump({'score': -(X - 7) ** 2 - (Y - 3) ** 2}, open('metrics.json', 'w'))\n"


def make_idea(folder: Path) -> Path:
    (folder / "baseline.py").write_text(TRIVIAL)
    values = list(range(0, 20))
    (folder / "idea.md").write_text(
        f"---\ntitle: Trivial\nmetric: score\nbaseline: baseline.py\nsearch_space: {{X: {values}, Y: {values}}}\n"
        "time_limit: 30\n---\n# Trivial\n")
    return folder / "idea.md"


def measure(nodes: int, workers: int) -> dict[str, float]:
    from discovery.api import run
    from runs.store import RunStore

    with tempfile.TemporaryDirectory() as tmp:
        idea = make_idea(Path(tmp))
        t0 = time.perf_counter()
        result = run(idea, runs_dir=Path(tmp) / "runs", budget=nodes, workers=workers)
        wall = time.perf_counter() - t0
        store = RunStore(Path(tmp) / "runs", readonly=True)
        done = store.nodes(result.run_id, with_code=False)
        busy = sum(n.exec_seconds or 0.0 for n in done)
        run = store.get_run(result.run_id)
    # The search itself (run.elapsed) excludes the report; wall includes it.
    per_node = (run.elapsed * workers - busy) / len(done)
    return {"nodes": len(done), "wall": wall, "search": run.elapsed, "busy": busy, "per_node_ms": per_node * 1000,
            "report": wall - run.elapsed}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--nodes", type=int, default=50)
    args = parser.parse_args()
    print(f"{'workers':>7} {'nodes':>5} {'search s':>9} {'node procs s':>12} {'overhead/node ms':>17} "
          f"{'report s':>8} {'peak RSS MB':>11}")
    for workers in (1, 2):
        row = measure(args.nodes, workers)
        rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
        print(f"{workers:>7} {row['nodes']:>5} {row['search']:>9.2f} {row['busy']:>12.2f} "
              f"{row['per_node_ms']:>17.1f} {row['report']:>8.2f} {rss:>11.0f}")
    print("overhead/node = (search wall time x workers - time node processes ran) / nodes")


if __name__ == "__main__":
    main()
