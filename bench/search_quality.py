"""Search quality of mcts, greedy and bfts on synthetic landscapes (no LLM, no processes).

A scripted agent drafts, improves and debugs points of a hidden multimodal objective
(bench/_synthetic.py); crashes are likelier in bad regions. Each policy drives a
SearchTree directly (select -> add node -> the node finishes later -> update) with K
simulated workers, so several nodes are in flight at once. Two landscape families:

- rugged: 6 parameters, edits that barely follow the gradient: climbs are slow;
- informed: 4 parameters, edits that follow the gradient well: climbs converge within
  a few dozen nodes and the question becomes which basin to climb.

Scores are normalised per landscape (0 = median random point, 1 = global optimum) and
are the true value of the node a user would get: the one with the best measured metric.
For each family and K it prints the mean score at each node budget (± standard error over
seeds), then how many nodes each policy needs to reach the others' final best.

    python bench/search_quality.py [--seeds 40] [--workers 1,4,8] [--budgets 25,50,100,200,400]
"""

from __future__ import annotations

import argparse
import math
import statistics
import sys
import time
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from _synthetic import Landscape, simulate

FAMILIES = {"rugged": {}, "informed": {"lean": 1.5, "dim": 4}}
POLICY_ROWS = ("mcts", "greedy", "bfts")


Row = tuple[str, dict, "float | None"]  # (policy, its parameters, value-agent prior noise)


def _curve(job: tuple[str, Row, int, int, int]) -> list[float]:
    family, (policy_name, params, prior_noise), workers, budget, seed = job
    from search.policy import make_policy

    land = Landscape(seed, **FAMILIES[family])
    trace = simulate(make_policy(policy_name, **params), land, budget=budget, workers=workers, seed=seed,
                     prior_noise=prior_noise)
    return trace.curve()


def _reach(curve: list[float], target: float) -> int | None:
    for i, value in enumerate(curve):
        if value >= target - 1e-12:
            return i + 1
    return None


def table(pool: ProcessPoolExecutor, family: str, workers: int, budgets: list[int], seeds: int,
          rows: dict[str, Row]) -> None:
    top = max(budgets)
    curves: dict[str, list[list[float]]] = {}
    for label, row in rows.items():
        jobs = [(family, row, workers, top, s) for s in range(seeds)]
        curves[label] = list(pool.map(_curve, jobs))
    print(f"\n{family} landscapes, K={workers} workers, {seeds} seeds: best score reached (mean ± s.e.)")
    print(f"{'policy':<22}" + "".join(f"{b:>14}" for b in budgets))
    means: dict[str, list[float]] = {}
    for label, runs in curves.items():
        cells, means[label] = [], []
        for b in budgets:
            values = [run[b - 1] for run in runs]
            mean, se = statistics.fmean(values), statistics.stdev(values) / math.sqrt(len(values))
            means[label].append(mean)
            cells.append(f"{mean:>8.3f} ±{se:.3f}")
        print(f"{label:<22}" + "".join(f"{c:>14}" for c in cells))
    baselines = [m for label, m in means.items() if label in ("greedy", "bfts")]
    if "mcts" in means and baselines:
        margin = [means["mcts"][i] - max(m[i] for m in baselines) for i in range(len(budgets))]
        print(f"{'mcts - best baseline':<22}" + "".join(f"{m:>+14.3f}" for m in margin))
    print(f"nodes needed to reach the column policy's final best at {top} nodes (median over the seeds "
          f"where it did; % of seeds where it did within {top})")
    labels = list(curves)
    columns = [label for label in labels if label in POLICY_ROWS]
    print(f"{'':<22}" + "".join(f"{label:>16}" for label in columns))
    for mine in labels:
        cells = []
        for other in columns:
            if other == mine:
                cells.append("-")
                continue
            hits = [_reach(curves[mine][s], curves[other][s][-1]) for s in range(seeds)]
            got = [h for h in hits if h is not None]
            med = f"{statistics.median(got):.0f}" if got else f">{top}"
            cells.append(f"{med} ({100 * len(got) / seeds:.0f}%)")
        print(f"{mine:<22}" + "".join(f"{c:>16}" for c in cells))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, default=40)
    parser.add_argument("--workers", default="1,4,8", help="comma-separated K values")
    parser.add_argument("--budgets", default="25,50,100,200,400")
    parser.add_argument("--families", default=",".join(FAMILIES))
    parser.add_argument("--prior", type=float, default=None,
                        help="also run mcts with a value-agent prior: true quality plus this much noise")
    parser.add_argument("--variant", action="append", default=[], metavar="LABEL:POLICY:KEY=VALUE,...",
                        help="an extra row, e.g. 'decay:mcts:c_decay=0.2' (repeatable)")
    parser.add_argument("--jobs", type=int, default=2, help="processes")
    args = parser.parse_args()
    budgets = [int(b) for b in args.budgets.split(",")]
    rows: dict[str, Row] = {name: (name, {}, None) for name in POLICY_ROWS}
    if args.prior is not None:
        rows[f"mcts+prior({args.prior:g})"] = ("mcts", {}, args.prior)
    for spec in args.variant:
        try:
            label, policy_name, assignments = spec.split(":", 2)
            params = {k: int(v) if v.lstrip("-").isdigit() else float(v)
                      for k, v in (a.split("=") for a in assignments.split(",") if a)}
        except ValueError:
            parser.error(f"--variant: {spec!r} is not LABEL:POLICY:KEY=VALUE,...")
        rows[label] = (policy_name, params, None)
    t0 = time.perf_counter()
    with ProcessPoolExecutor(args.jobs) as pool:
        for family in args.families.split(","):
            for workers in (int(k) for k in args.workers.split(",")):
                table(pool, family, workers, budgets, args.seeds, rows)
    print(f"\n({time.perf_counter() - t0:.0f}s)")


if __name__ == "__main__":
    main()
