"""The write-up at scale: time and peak memory of `discover report` for 1,000 and 10,000 nodes.

Writes synthetic runs through the real store (nodes with realistic code, output and plan
sizes, a mix of outcomes, plots saved by a few nodes), then writes each run's report in a
fresh process and prints one row per size: time per phase, peak RSS and the size of the
files a person opens (report.html, tree.html).

    python bench/report_scale.py [--nodes 1000 10000]
"""

from __future__ import annotations

import argparse
import json
import os
import random
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(os.environ.get("DISCOVER_REPO") or Path(__file__).resolve().parent.parent)
sys.path.insert(0, str(ROOT))
os.environ.setdefault("LITELLM_LOCAL_MODEL_COST_MAP", "True")

# Runs in the child process: phases timed one by one, then the whole write_report, peak RSS at the end.
CHILD = r"""
import json, resource, sys, time
from pathlib import Path
root, run_id = Path(sys.argv[1]), sys.argv[2]
from runs.store import RunStore
from discovery.writeup.facts import collect
from discovery.writeup.figures import make_figures
from discovery.writeup.tree_page import write_tree_page
from discovery.report import write_report
t = {}
s0 = time.perf_counter(); store = RunStore(root, readonly=True); facts = collect(store, run_id); t["facts"] = time.perf_counter() - s0
out = root / run_id / "report"; out.mkdir(parents=True, exist_ok=True)
s0 = time.perf_counter(); make_figures(facts, out); t["figures"] = time.perf_counter() - s0
s0 = time.perf_counter(); write_tree_page(facts, store, out); t["tree_html"] = time.perf_counter() - s0
store.close()
s0 = time.perf_counter(); write_report(root, run_id); t["total"] = time.perf_counter() - s0
t["peak_mb"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
t["report_html_mb"] = (out / "report.html").stat().st_size / 1e6
t["tree_html_mb"] = (out / "tree.html").stat().st_size / 1e6
print(json.dumps(t))
"""


def build(root: Path, count: int) -> str:
    from runs.models import Idea, MetricSpec, Node, NodeStatus, Run, RunConfig
    from runs.store import RunStore

    rng = random.Random(0)
    store = RunStore(root)
    base = (ROOT / "examples" / "mlp_spirals" / "baseline.py").read_text()
    idea = Idea(title="Scale", hypothesis="Wider is better.", metric=MetricSpec(name="val_acc"), baseline=base)
    now = time.time()
    run = Run(id="scale", idea=idea, config=RunConfig(budget=count), created_at=now - count, status="finished",
              elapsed=float(count), finished_at=now)
    store.create_run(run)
    nodes = []
    for i in range(1, count + 1):
        parent = None if i <= 5 else rng.randint(max(1, i - 200), i - 1)
        status = rng.choice([NodeStatus.good] * 7 + [NodeStatus.buggy] * 2 + [NodeStatus.flagged])
        lr, hidden = rng.choice([0.01, 0.03, 0.1, 0.3, 1.0]), rng.choice([8, 16, 32, 64, 128])
        # Each node's code differs from the baseline in its constants, as the search's nodes do.
        code = base.replace("LR = 0.01", f"LR = {lr}").replace("HIDDEN = 8", f"HIDDEN = {hidden}")
        metric = round(rng.random(), 6) if status != NodeStatus.buggy else None
        nodes.append(Node(
            run_id="scale", id=i, parent_id=parent, operator="draft" if parent is None else rng.choice(
                ["improve", "improve", "debug", "tune", "ablate"]),
            status=status, metric=metric, depth=0 if parent is None else nodes[parent - 1].depth + 1,
            metrics={"val_acc": metric, "train_acc": 0.9, "curve": [round(rng.random(), 4) for _ in range(50)]}
            if metric is not None else {},
            plan=f"From node {parent}, change LR to {lr} and HIDDEN to {hidden} (raising LR helped 2 of 3 times).",
            code=code, params={"LR": lr, "HIDDEN": hidden},
            stdout_tail="".join(f"epoch {e} loss {rng.random():.4f}\n" for e in range(0, 3000, 20))[-4000:],
            stderr_tail="" if status != NodeStatus.buggy else "Traceback ...\nRuntimeError: training diverged\n",
            error=None if status != NodeStatus.buggy else "exit code 1: RuntimeError: training diverged",
            created_at=now - count + i, finished_at=now - count + i + 0.5, exec_seconds=rng.uniform(0.5, 30),
            attempts=1,
        ))
    store.save_nodes(nodes)
    store.close()
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    for i in rng.sample(range(1, count + 1), min(50, count)):  # a few nodes saved plots
        folder = root / "scale" / "nodes" / f"{i:05d}"
        folder.mkdir(parents=True, exist_ok=True)
        fig, ax = plt.subplots(figsize=(4, 3))
        ax.plot(range(50), nodes[i - 1].metrics.get("curve", [0] * 50))
        fig.savefig(folder / "curve.png", dpi=80)
        plt.close(fig)
    return "scale"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--nodes", type=int, nargs="+", default=[1000, 10_000])
    args = parser.parse_args()
    print(f"{'nodes':>6} {'build s':>8} {'facts s':>8} {'figures s':>9} {'tree.html s':>11} {'report s':>9} "
          f"{'peak MB':>8} {'report.html MB':>14} {'tree.html MB':>12}")
    for count in args.nodes:
        with tempfile.TemporaryDirectory() as tmp:
            root = Path(tmp) / "runs"
            t0 = time.perf_counter()
            run_id = build(root, count)
            built = time.perf_counter() - t0
            done = subprocess.run([sys.executable, "-c", CHILD, str(root), run_id], capture_output=True, text=True,
                                  cwd=ROOT, env={**os.environ, "PYTHONPATH": str(ROOT)})
            if done.returncode != 0:
                sys.exit(done.stderr)
            t = json.loads(done.stdout.strip().splitlines()[-1])
            print(f"{count:>6} {built:>8.1f} {t['facts']:>8.2f} {t['figures']:>9.2f} {t['tree_html']:>11.2f} "
                  f"{t['total']:>9.2f} {t['peak_mb']:>8.0f} {t['report_html_mb']:>14.2f} {t['tree_html_mb']:>12.2f}")
    from discovery.writeup.latex import find_engine

    engine = find_engine()
    print(f"report s includes the PDF ({engine})" if engine else "no TeX engine: report s has no PDF step")


if __name__ == "__main__":
    main()
