"""Resume at scale: time to rebuild a 10,000-node run from the store, and database size per node.

Writes a synthetic run (nodes with realistic code and output sizes) through the real store,
then measures what `discover resume` does before its first new node: open the store,
requeue unfinished nodes, and rebuild the engine's tree and statistics.

    python bench/store_scale.py [--nodes 10000]
"""

from __future__ import annotations

import argparse
import os
import random
import resource
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
os.environ.setdefault("LITELLM_LOCAL_MODEL_COST_MAP", "True")


def build(root: Path, count: int) -> str:
    from runs.models import Idea, MetricSpec, Node, NodeStatus, Run, RunConfig
    from runs.store import RunStore

    rng = random.Random(0)
    store = RunStore(root)
    code = (Path(__file__).resolve().parent.parent / "examples" / "mlp_spirals" / "baseline.py").read_text()
    idea = Idea(title="Scale", metric=MetricSpec(name="acc"), baseline=code)
    run = Run(id="scale", idea=idea, config=RunConfig(budget=count + 100), created_at=time.time(), status="running")
    store.create_run(run)
    nodes = []
    for i in range(1, count + 1):
        parent = None if i <= 5 else rng.randint(max(1, i - 200), i - 1)
        status = rng.choice([NodeStatus.good] * 7 + [NodeStatus.buggy] * 3)
        if i > count - 8:
            status = NodeStatus.running  # what a crash leaves behind
        nodes.append(Node(
            run_id="scale", id=i, parent_id=parent, operator="draft" if parent is None else "improve",
            status=status, metric=rng.random() if status == NodeStatus.good else None,
            metrics={"acc": 0.5, "train_acc": 0.6}, plan="Change LR 0.1 -> 0.3 (raising LR helped 2 of 3 times).",
            code=code, params={"LR": 0.1, "HIDDEN": 32}, stdout_tail="epoch 0 loss 1.0\n" * 40,
            stderr_tail="" if status == NodeStatus.good else "Traceback ...\nRuntimeError: diverged\n",
            created_at=time.time(), finished_at=time.time(), exec_seconds=1.0, attempts=1,
        ))
    store.save_nodes(nodes)
    store.close()
    return "scale"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--nodes", type=int, default=10_000)
    args = parser.parse_args()
    from agents.offline import OfflineAgent
    from discovery.engine import Engine
    from discovery.progress import SilentProgress
    from runs.resume import requeue_unfinished
    from runs.store import RunStore
    from search.greedy import GreedyPolicy
    from workspace.local import LocalWorkspace

    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp) / "runs"
        t0 = time.perf_counter()
        run_id = build(root, args.nodes)
        write_s = time.perf_counter() - t0
        rss_before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
        t0 = time.perf_counter()
        store = RunStore(root)
        t_open = time.perf_counter()
        requeued = requeue_unfinished(store, run_id)
        t_requeue = time.perf_counter()
        engine = Engine(store=store, run=store.get_run(run_id), policy=GreedyPolicy(), agent=OfflineAgent(),
                        workspace=LocalWorkspace(), progress=SilentProgress())
        t_engine = time.perf_counter()
        import random as _r

        sel_t0 = time.perf_counter()
        for _ in range(100):
            engine.policy.select(engine.tree, _r.Random(1))
        select_ms = (time.perf_counter() - sel_t0) * 10
        db_bytes = sum(p.stat().st_size for p in root.glob("discover.db*"))
        rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(f"{'nodes':>6} {'write s':>8} {'open ms':>8} {'requeue ms':>10} {'rebuild ms':>10} {'resume total ms':>15} "
          f"{'select ms':>9} {'db MB':>7} {'KB/node':>8} {'peak RSS MB':>11}")
    print(f"{args.nodes:>6} {write_s:>8.2f} {(t_open - t0) * 1000:>8.1f} {(t_requeue - t_open) * 1000:>10.1f} "
          f"{(t_engine - t_requeue) * 1000:>10.1f} {(t_engine - t0) * 1000:>15.1f} {select_ms:>9.3f} "
          f"{db_bytes / 1e6:>7.1f} {db_bytes / args.nodes / 1024:>8.2f} {rss:>11.0f}")
    print(f"requeued {len(requeued)} running nodes; engine holds {len(engine.nodes)} light nodes "
          f"(RSS before resume {rss_before:.0f} MB)")


if __name__ == "__main__":
    main()
