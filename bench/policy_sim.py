"""A fast twin of one agent-path run, for trying policies: no HTTP, no processes, no store.

It drives a policy through ``SearchTree`` exactly as the engine does (select -> pending
node -> the node runs for a while with K workers -> finished), and asks the same scripted
scientist (bench/scientist.py) for each node's configuration, directly instead of through
prompts. It mirrors the engine's rules that matter to a policy: the baseline first,
duplicates re-asked and then dropped, an operator with nothing left dropping its node and
marking its parent exhausted, the value agent's estimate as the node's prior.

It is a tool for exploring on the *tuning* families only; the numbers we report come from
the real agent path (bench/search_quality.py).

    python bench/policy_sim.py --rows greedy adaptive "s12=adaptive:stall=12,explore=0.5"
    python bench/policy_sim.py --workers 4 --seeds 100 --families fourier,mesa

Each row is ``LABEL=POLICY:KEY=VALUE,...`` (or just a policy name); the first row is printed
as mean ± s.e., the others as the paired difference from it on the same seeds.
"""

from __future__ import annotations

import heapq
import random
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
for p in (str(HERE), str(HERE.parent)):
    if p not in sys.path:
        sys.path.insert(0, p)

from landscapes import Landscape, make  # noqa: E402
from scientist import Move, Scientist  # noqa: E402

from search.tree import SearchTree, TreeNode  # noqa: E402

_ASKS = 3  # the engine asks the agent at most this many times for a proposal that is not a duplicate


@dataclass
class SimNode:
    cfg: dict[str, Any]
    bug: int | None
    operator: str
    parent: int | None
    error: str = ""
    metric: float | None = None


@dataclass
class SimOutcome:
    curve: list[float]
    operators: dict[str, int] = field(default_factory=dict)
    dropped: int = 0

    def at(self, budget: int) -> float:
        return self.curve[min(budget, len(self.curve)) - 1] if self.curve else 0.0


def simulate(policy: Any, family: str, seed: int, *, budget: int, workers: int = 1, baseline: bool | None = None,
             value: bool = True, land: Landscape | None = None,
             durations: tuple[float, float] = (1.0, 3.0)) -> SimOutcome:
    """Run ``policy`` for ``budget`` nodes on one landscape; the curve of the chosen node's true value.

    A node runs for a time drawn uniformly from ``durations``: a narrow range makes nodes
    finish about in the order they started, as the bench's programs (all equally quick) do.
    """
    land = land or make(family, seed)
    sci = Scientist(land, seed)
    rng = random.Random(seed)
    tree = SearchTree("maximize", max_debug_depth=getattr(policy, "max_debug_depth", 3))
    tree.budget = budget
    base = (seed % 2 == 0) if baseline is None else baseline
    nodes: dict[int, SimNode] = {}
    seen: set[str] = set()
    heap: list[tuple[float, int]] = []
    now = 0.0
    next_id = 1
    spent = 0
    out = SimOutcome(curve=[])
    while True:
        while len(heap) < workers and spent < budget:
            action = policy.select(tree, rng)
            if action is None:
                break
            node_id = next_id
            next_id += 1
            parent = action.parent_id
            tree.add(TreeNode(id=node_id, parent_id=parent, operator=action.operator, status="pending",
                              depth=0 if parent is None else tree.nodes[parent].depth + 1,
                              debug_depth=(tree.nodes[parent].debug_depth + 1) if action.operator == "debug" else 0))
            move = None
            for _ in range(_ASKS):
                move = _propose(sci, land, action, nodes, base, node_id == 1)
                if move is None or _key(move) not in seen:
                    break
                move = None if _ASKS == 1 else move
            if move is None or _key(move) in seen:
                tree.remove(node_id)
                tree.mark_exhausted(parent, action.operator)
                out.dropped += 1
                continue
            seen.add(_key(move))
            nodes[node_id] = SimNode(move.cfg, move.bug, action.operator, parent)
            out.operators[action.operator] = out.operators.get(action.operator, 0) + 1
            if value:
                prior = sci.estimate(move.cfg, move.bug)
                if prior is not None:
                    tree.update(node_id, prior=prior)
            tree.update(node_id, status="running")
            spent += 1
            heapq.heappush(heap, (now + rng.uniform(*durations), node_id))
        if not heap:
            break
        now, node_id = heapq.heappop(heap)
        node = nodes[node_id]
        crash = node.bug is not None or land.crashes(land.coords(node.cfg))
        if crash:
            node.error = "diverged" if node.bug is None else "NameError"
            tree.update(node_id, status="buggy", metric=None)
        else:
            node.metric = land.value(node.cfg) + rng.gauss(0, land.noise)
            tree.update(node_id, status="good", metric=node.metric)
        best = tree.best_id
        out.curve.append(land.value(nodes[best].cfg) if best is not None else 0.0)
    return out


def _key(move: Move) -> str:
    return repr(sorted(move.cfg.items())) + f"|{move.bug}"


def _propose(sci: Scientist, land: Landscape, action: Any, nodes: dict[int, SimNode], base: bool,
             first: bool) -> Move | None:
    if base and first and action.operator == "draft":
        return Move(land.config(land.conventional), None, "the baseline as written")
    op = action.operator
    parent = nodes.get(action.parent_id) if action.parent_id is not None else None
    if op == "draft":
        return sci.draft(land.config(land.conventional) if base else None)
    assert parent is not None
    if op == "debug":
        return sci.debug(parent.cfg, parent.bug, parent.error)
    if op == "tune":
        return sci.tune(parent.cfg, _done(nodes, action.parent_id, "tune"))
    if op == "ablate":
        return sci.ablate(parent.cfg, _done(nodes, action.parent_id, "ablate"))
    if op == "crossover":
        partner = nodes[action.partner_id]
        return sci.crossover(parent.cfg, partner.cfg)
    return sci.improve(parent.cfg)


def _done(nodes: dict[int, SimNode], parent_id: int, op: str) -> set[str]:
    parent = nodes[parent_id]
    out = set()
    for n in nodes.values():
        if n.parent == parent_id and n.operator == op:
            out |= {k.lower() for k in n.cfg if n.cfg[k] != parent.cfg.get(k)}
    return out


def _row(spec: str) -> tuple[str, str, dict[str, Any]]:
    """``LABEL=POLICY:KEY=VALUE,...``, ``POLICY:KEY=VALUE,...`` or ``POLICY`` -> (label, policy, params)."""
    head, _, assignments = spec.partition(":")
    label, _, name = head.rpartition("=")
    params: dict[str, Any] = {}
    for pair in filter(None, assignments.split(",")):
        key, value = pair.split("=")
        if value in ("True", "False"):
            params[key] = value == "True"
        else:
            params[key] = float(value) if "." in value else int(value)
    return label or spec, name, params


def _job(args: tuple) -> list[float]:
    spec, family, seed, budgets, workers, durations = args
    from search.policy import make_policy

    _, name, params = _row(spec)
    value = params.pop("value", 1) != 0
    out = simulate(make_policy(name, **params), family, seed, budget=max(budgets), workers=workers, value=value,
                   durations=durations)
    return [out.at(b) for b in budgets]


def main() -> None:
    import argparse
    import math
    import statistics
    from concurrent.futures import ProcessPoolExecutor

    from landscapes import TUNE_FAMILIES, TUNE_SEEDS

    parser = argparse.ArgumentParser(description="Compare policies on the tuning families with the fast twin.")
    parser.add_argument("--rows", nargs="+", default=["greedy", "adaptive"])
    parser.add_argument("--families", default=",".join(TUNE_FAMILIES))
    parser.add_argument("--seeds", type=int, default=60)
    parser.add_argument("--first-seed", type=int, default=TUNE_SEEDS.start)
    parser.add_argument("--budgets", default="20,30,50,100")
    parser.add_argument("--workers", type=int, default=1)
    parser.add_argument("--jobs", type=int, default=2)
    parser.add_argument("--durations", default="1,3",
                        help="LOW,HIGH: a node's run time is uniform in it (1,1.1: nodes finish about in order)")
    args = parser.parse_args()
    budgets = [int(b) for b in args.budgets.split(",")]
    try:
        low, high = (float(x) for x in args.durations.split(","))
    except ValueError:
        parser.error(f"--durations: expected LOW,HIGH (two numbers), got {args.durations!r}")
    with ProcessPoolExecutor(args.jobs) as pool:
        for family in args.families.split(","):
            print(f"\n{family}, K={args.workers}" + "".join(f"{b:>15}" for b in budgets))
            ref: list[list[float]] | None = None
            for spec in args.rows:
                seeds = range(args.first_seed, args.first_seed + args.seeds)
                res = list(pool.map(_job, [(spec, family, s, budgets, args.workers, (low, high)) for s in seeds]))
                cells = []
                for i in range(len(budgets)):
                    v = [r[i] for r in res] if ref is None else [r[i] - q[i] for r, q in zip(res, ref)]
                    mean, se = statistics.fmean(v), statistics.stdev(v) / math.sqrt(len(v))
                    cells.append(f"{mean:8.3f} ±{se:.3f}" if ref is None else f"{mean:+8.3f} ±{se:.3f}")
                ref = ref or res
                print(f"{_row(spec)[0]:<14}" + "".join(f"{c:>15}" for c in cells))


if __name__ == "__main__":
    main()
