"""Search quality through discover's whole agent path, on landscapes the policies were not tuned on.

Every cell is a real run: the engine with the chosen policy and K workers, the LLM agent
talking over HTTP (litellm) to a scripted scientist model (bench/scientist.py) that
serves self-contained experiment scripts over a hidden landscape (bench/landscapes.py),
the value agent and the node reviewer, real subprocesses for the experiments and a real
SQLite store. The score of a run after n nodes is the true (noise-free) normalised value
of the node a user would get, the best measured one: 0 is the median random
configuration, 1 the global optimum.

Families and seeds are split: ``--split eval`` (the default, what we report) runs the six
evaluation families on seeds 1000+; ``--split tune`` runs the three tuning families on
seeds 0+, the only ones policy constants were chosen on (bench/policy_sim.py is the fast
twin used for that exploration).

For each family and K it prints the mean ± standard error over seeds at each budget for
every policy, the paired difference of the default policy against greedy (and AIDE), then
the value agent (off by default): mcts with it on, the paired difference it makes, and the
rank correlation of its estimate (made before a node runs) with the node's true outcome. ``--aide`` adds
AIDE (aideml, bench/aide_setup.sh) run against the same scientist and landscapes.

    python bench/search_quality.py                 # the evaluation table (20 seeds)
    python bench/search_quality.py --quick         # 5 seeds, K=1, budgets up to 50, no value ablation
    python bench/search_quality.py --split tune --policies adaptive,greedy
"""

from __future__ import annotations

import argparse
import json
import math
import multiprocessing
import statistics
import sys
import time
from concurrent.futures import ProcessPoolExecutor, ThreadPoolExecutor
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
sys.path.insert(0, str(HERE.parent))

from landscapes import EVAL_FAMILIES, EVAL_SEEDS, TUNE_FAMILIES, TUNE_SEEDS  # noqa: E402

DEFAULT = "adaptive"
PRIOR = "mcts"  # the policy that uses the value agent's estimates: its ablation is with and without them


def _job(args: tuple) -> dict:
    family, seed, policy, workers, budget, value, where, seeded, drafts = args
    from agent_bench import run_discover
    from policy_sim import _row

    policy, name, params = _row(policy)  # a name, or a variant LABEL=POLICY:KEY=VALUE,...
    if drafts is not None:
        params["num_drafts"] = drafts
    out = run_discover(family, seed, name, workers, budget, params=params, value=value, workspace=where,
                       seeded_order=seeded)
    return {"family": family, "seed": seed, "policy": policy, "workers": workers, "value": value, "budget": budget,
            "drafts": drafts,
            "curve": out.curve, "seconds": out.seconds, "operators": out.operators, "pairs": out.value_pairs,
            "calls": out.calls, "duplicates": out.duplicates}


def _aide_job(args: tuple) -> dict:
    family, seed, budget = args
    from agent_bench import run_aide

    out = run_aide(family, seed, budget)
    return {"family": family, "seed": seed, "policy": "aide", "workers": 1, "value": False, "budget": budget,
            "curve": out.curve,
            "seconds": out.seconds, "operators": out.operators, "pairs": [], "calls": out.calls, "duplicates": 0}


def _at(curve: list[float], n: int) -> float:
    return curve[min(n, len(curve)) - 1] if curve else 0.0


def _reached(run: dict, n: int) -> float | None:
    """The run's value after ``n`` nodes; None when it was given fewer (AIDE with --aide-budget).
    A run that ended early on its own (nothing left to try) keeps its last value."""
    return None if run.get("budget", n) < n else _at(run["curve"], n)


def _cell(values: list[float]) -> str:
    if len(values) < 2:
        return f"{values[0]:.3f}" if values else "-"
    return f"{statistics.fmean(values):.3f} ±{statistics.stdev(values) / math.sqrt(len(values)):.3f}"


def spearman(pairs: list[tuple[float, float]]) -> float | None:
    """Rank correlation of (estimate, outcome) pairs; None with fewer than 5 pairs."""
    if len(pairs) < 5:
        return None

    def ranks(xs: list[float]) -> list[float]:
        order = sorted(range(len(xs)), key=lambda i: xs[i])
        r = [0.0] * len(xs)
        i = 0
        while i < len(order):
            j = i
            while j + 1 < len(order) and xs[order[j + 1]] == xs[order[i]]:
                j += 1
            for k in range(i, j + 1):
                r[order[k]] = (i + j) / 2
            i = j + 1
        return r

    a, b = ranks([p[0] for p in pairs]), ranks([p[1] for p in pairs])
    ma, mb = statistics.fmean(a), statistics.fmean(b)
    num = sum((x - ma) * (y - mb) for x, y in zip(a, b))
    den = math.sqrt(sum((x - ma) ** 2 for x in a) * sum((y - mb) ** 2 for y in b))
    return num / den if den else None


def report(results: list[dict], budgets: list[int], policies: list[str], *, markdown: bool = False) -> None:
    """Print the tables for the results (grouped by family and K); ``markdown``: as Markdown tables."""

    def row(label: str, cells: list[str]) -> None:
        if markdown:
            print(f"| {label} | " + " | ".join(c.strip() for c in cells) + " |")
        else:
            print(f"{label:<24}" + "".join(f"{c:>15}" for c in cells))

    families = sorted({r["family"] for r in results}, key=lambda f: (EVAL_FAMILIES + TUNE_FAMILIES).index(f))
    for family in families:
        for workers in sorted({r["workers"] for r in results if r["family"] == family}):
            rows = [r for r in results if r["family"] == family and r["workers"] == workers]
            seeds = len({r["seed"] for r in rows})
            print(f"\n{family}, K={workers}, {seeds} seeds: true value of the best measured node (mean ± s.e.)")
            if markdown:
                print()
            row("policy", [str(b) for b in budgets])
            if markdown:
                print("|---|" + "---|" * len(budgets))
            labels = [p for p in policies if any(r["policy"] == p and not r["value"] for r in rows)]
            # Variants (--variant): every other label but AIDE, each paired with the default below.
            variants = sorted({r["policy"] for r in rows if not r["value"]} - set(policies) - {"aide"})
            labels += variants
            if any(r["policy"] == "aide" for r in rows):
                labels.append("aide")
            by: dict[str, dict[int, dict]] = {}  # label -> seed -> run
            for label in labels:
                by[label] = {r["seed"]: r for r in rows if r["policy"] == label and not r["value"]}
            on = {r["seed"]: r for r in rows if r["policy"] == PRIOR and r["value"]}
            if on:
                by["value"] = on
            for label, runs in by.items():
                row(PRIOR + " + value agent" if label == "value" else label,
                    [_cell([v for r in runs.values() if (v := _reached(r, b)) is not None]) for b in budgets])
            for mine, other in ((DEFAULT, "greedy"), (DEFAULT, "aide"), ("value", PRIOR),
                                *((v, DEFAULT) for v in variants)):
                if mine in by and other in by:
                    common = sorted(set(by[mine]) & set(by[other]))
                    diffs = []
                    for b in budgets:
                        pairs = [(_reached(by[mine][s], b), _reached(by[other][s], b)) for s in common]
                        diffs.append([x - y for x, y in pairs if x is not None and y is not None])
                    label = "value agent's effect" if mine == "value" else f"{mine} - {other}"
                    row(label, [f"{statistics.fmean(d):+.3f} ±{(statistics.stdev(d) / math.sqrt(len(d)) if len(d) > 1 else 0):.3f}"
                                if d else "-" for d in diffs])
            pairs = [p for r in rows if r["value"] for p in r["pairs"]]
            rho = spearman([(a, b) for a, b in pairs])
            if rho is not None:
                if markdown:
                    print()
                print(f"value agent: rank correlation of its estimate with the outcome {rho:+.2f} over {len(pairs)} nodes")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--split", choices=("eval", "tune"), default="eval")
    parser.add_argument("--families", help="comma-separated (default: every family of the split)")
    parser.add_argument("--seeds", type=int, default=20)
    parser.add_argument("--first-seed", type=int, default=0,
                        help="skip this many of the split's seeds (more seeds for a table: --first-seed 20 --seeds 20)")
    parser.add_argument("--workers", default="1,4", help="comma-separated K values")
    parser.add_argument("--budgets", default="20,30,50,100")
    parser.add_argument("--policies", default="adaptive,greedy,mcts,bfts,drafts")
    parser.add_argument("--variant", action="append", default=[], metavar="LABEL=POLICY:KEY=VALUE,...",
                        help="also run a policy with other constants (tuning split only), "
                             "as bench/policy_sim.py's rows")
    parser.add_argument("--num-drafts", type=int,
                        help="every policy's draft count (default: the policies' own default, as `discover run`)")
    parser.add_argument("--no-ablation", action="store_true", help="skip the mcts runs with the value agent on")
    parser.add_argument("--aide", action="store_true", help="also run AIDE (needs bash bench/aide_setup.sh)")
    parser.add_argument("--aide-budget", type=int, help="AIDE's steps per run (default: the largest budget)")
    parser.add_argument("--aide-threads", type=int, default=6,
                        help="AIDE runs at once (they mostly wait on AIDE's own polling, not the CPU)")
    parser.add_argument("--workspace", choices=("fork", "local"), default="fork",
                        help="fork: scripts run in forks of a warm interpreter (fast); local: discover's local "
                             "workspace with its sandbox (about 0.1 s more CPU per node; same choices with one "
                             "worker, the machine's finish order with several)")
    parser.add_argument("--real-order", action="store_true",
                        help="with several workers, let nodes finish in the machine's order instead of one drawn "
                             "from the seed (bench/finish_order.py): runs then neither repeat nor pair")
    parser.add_argument("--quick", action="store_true", help="5 seeds, K=1, budgets 20,30,50, no value ablation (about 6,000 nodes)")
    parser.add_argument("--jobs", type=int, default=2, help="runs at once")
    parser.add_argument("--save", help="write every run's curve to this JSON file")
    parser.add_argument("--markdown", action="store_true", help="print the tables as Markdown")
    parser.add_argument("--load", nargs="+", metavar="FILE",
                        help="print the tables of runs saved with --save (several files: one table), run nothing")
    args = parser.parse_args()
    if args.quick:
        args.seeds, args.workers, args.budgets, args.no_ablation = 5, "1", "20,30,50", True
    budgets = [int(b) for b in args.budgets.split(",")]
    policies = [p for p in args.policies.split(",") if p]  # none: only AIDE (--aide)
    if args.variant and args.split != "tune":
        parser.error("--variant: constants are tried on the tuning split only (--split tune)")
    if args.load:
        saved = [r for f in args.load for r in json.loads(Path(f).read_text())]
        report(saved, budgets, policies, markdown=args.markdown)
        return
    families = args.families.split(",") if args.families else list(EVAL_FAMILIES if args.split == "eval" else TUNE_FAMILIES)
    allowed = EVAL_FAMILIES if args.split == "eval" else TUNE_FAMILIES
    for f in families:
        if f not in allowed:
            parser.error(f"--families: {f!r} is not a {args.split} family ({', '.join(allowed)})")
    pool_seeds = EVAL_SEEDS if args.split == "eval" else TUNE_SEEDS
    seeds = list(pool_seeds[args.first_seed: args.first_seed + args.seeds])
    if args.first_seed < 0 or len(seeds) < args.seeds:
        parser.error(f"--first-seed/--seeds: the {args.split} split has seeds {pool_seeds.start}-{pool_seeds.stop - 1}")
    if args.num_drafts is not None and args.num_drafts < 1:
        parser.error("--num-drafts: must be at least 1")
    top = max(budgets)
    jobs = []
    for family in families:
        for workers in (int(k) for k in args.workers.split(",")):
            for policy in policies + args.variant:
                if policy == "bfts" and workers == 1:
                    continue  # with one worker bfts is greedy
                if policy == "drafts" and workers > 1:
                    continue  # best of N drafts does not depend on K
                jobs += [(family, s, policy, workers, top, False, args.workspace, not args.real_order,
                         args.num_drafts) for s in seeds]
            if PRIOR in policies and not args.no_ablation:
                jobs += [(family, s, PRIOR, workers, top, True, args.workspace, not args.real_order,
                         args.num_drafts) for s in seeds]
    t0 = time.perf_counter()
    results: list[dict] = []
    # Workers start by forkserver: AIDE's threads and servers run in this process, and forking a
    # process with threads running can leave a lock held forever in the child.
    with ProcessPoolExecutor(args.jobs, mp_context=multiprocessing.get_context("forkserver")) as pool:
        aide = None
        if args.aide:
            from agent_bench import aide_available

            why = aide_available()
            if why:
                parser.error(f"--aide: {why}")
            # AIDE's steps mostly wait on its own polling: run several at once beside ours.
            threads = ThreadPoolExecutor(args.aide_threads)
            aide = [threads.submit(_aide_job, (f, s, args.aide_budget or top)) for f in families for s in seeds]
        for i, result in enumerate(pool.map(_job, jobs)):
            results.append(result)
            if (i + 1) % 20 == 0:
                print(f"[{i + 1}/{len(jobs)} runs, {time.perf_counter() - t0:.0f}s]", file=sys.stderr)
        if aide is not None:
            results += [f.result() for f in aide]
    elapsed = time.perf_counter() - t0
    report(results, budgets, policies, markdown=args.markdown)
    nodes = sum(len(r["curve"]) for r in results)
    print(f"\n({len(results)} runs, {nodes} nodes, {elapsed:.0f}s on {args.jobs} processes)")
    if args.save:
        Path(args.save).write_text(json.dumps(results))


if __name__ == "__main__":
    main()
