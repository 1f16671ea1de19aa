"""The built-in offline agent: a coordinate search over the idea's search space.

It needs no LLM. Drafts start from the baseline (first as written, then random points);
improve changes one parameter (sometimes two) of a working node, preferring directions
that helped nearby in the tree; debug goes back to the parent's working parameters and
retries the change that broke the node only halfway; crossover mixes the settings of two
nodes; ablate puts one of a node's changes back to the baseline's value. It is also the
baseline that LLM agents are compared against.
"""

from __future__ import annotations

import random
from collections import defaultdict

from agents import space
from agents.base import ExpansionContext, ExpansionError, NothingToTry, Proposal, params_key
from agents.params import find_params, set_params
from runs.models import Node, NodeStatus, ParamValue

_MAX_SAMPLES = 200
_PAIR_PROB = 0.2  # how often improve moves two parameters at once


class OfflineAgent:
    """Draft, improve, debug, cross over and ablate by editing the baseline's named constants."""

    name = "offline"
    needs_model = False  # the engine may expand with it before the model library is loaded

    async def propose(self, ctx: ExpansionContext) -> Proposal:
        if not ctx.idea.baseline:
            raise ExpansionError("the offline agent needs a baseline script in the idea")
        rng = random.Random(f"{ctx.seed}:{ctx.operator}:{ctx.parent.id if ctx.parent else 0}:{len(ctx.tried)}")
        if ctx.operator == "draft":
            plan, params = self._draft(ctx, rng)
        elif ctx.operator in ("improve", "tune"):
            plan, params = self._improve(ctx, rng)
        elif ctx.operator == "debug":
            plan, params = self._debug(ctx, rng)
        elif ctx.operator == "crossover":
            plan, params = self._crossover(ctx, rng)
        elif ctx.operator == "ablate":
            plan, params = self._ablate(ctx)
        else:
            raise ExpansionError(f"the offline agent has no {ctx.operator!r} operator")
        code = set_params(ctx.idea.baseline, params)
        return Proposal(plan=plan, code=code, params=params)

    # -- operators ------------------------------------------------------------------------

    def _draft(self, ctx: ExpansionContext, rng: random.Random) -> tuple[str, dict[str, ParamValue]]:
        defaults = self._defaults(ctx)
        if params_key(defaults) not in ctx.tried:
            return "Run the baseline as written, to anchor the search.", defaults
        names = list(ctx.idea.search_space)
        if not names:
            raise NothingToTry("no search_space to draw new drafts from")
        for _ in range(_MAX_SAMPLES):
            params = {n: space.sample(ctx.idea.search_space[n], rng) for n in names}
            if params_key(params) not in ctx.tried:
                changes = ", ".join(f"{n}={v!r}" for n, v in params.items())
                return f"A fresh draft at a random point of the search space: {changes}.", params
        raise NothingToTry("every sampled draft was tried already")

    def _improve(self, ctx: ExpansionContext, rng: random.Random) -> tuple[str, dict[str, ParamValue]]:
        parent = _need_parent(ctx)
        base = parent.params or self._defaults(ctx)
        evidence = self._evidence(ctx)
        moves: list[tuple[float, dict[str, ParamValue], str]] = []
        for name, spec in ctx.idea.search_space.items():
            for d, value in space.neighbours(spec, base[name]):
                helped, hurt = evidence.get((name, d), (0, 0))
                score = helped - hurt + rng.random() * 0.5
                reason = f"{'raising' if d > 0 else 'lowering'} {name} helped {helped} of {helped + hurt} times nearby" \
                    if helped + hurt else "not tried nearby yet"
                moves.append((score, {name: value}, reason))
        moves.sort(key=lambda m: m[0], reverse=True)
        singles = [m for m in moves if params_key({**base, **m[1]}) not in ctx.tried]
        if singles and not (rng.random() < _PAIR_PROB and len(moves) > 1):
            score, change, reason = singles[0]
            return self._describe(parent, base, change, f"({reason})"), {**base, **change}
        for i, (_, a, _r) in enumerate(moves):
            for _, b, _r2 in moves[i + 1:]:
                if set(a) & set(b):
                    continue
                params = {**base, **a, **b}
                if params_key(params) not in ctx.tried:
                    return self._describe(parent, base, {**a, **b}, "(two of the most promising moves together)"), params
        if singles:
            score, change, reason = singles[0]
            return self._describe(parent, base, change, f"({reason})"), {**base, **change}
        raise NothingToTry(f"every one-step change of node {parent.id} was tried already")

    def _debug(self, ctx: ExpansionContext, rng: random.Random) -> tuple[str, dict[str, ParamValue]]:
        buggy = _need_parent(ctx)
        working = _last_working(ctx)
        why = (buggy.error or "it failed").splitlines()[0][:120]
        if working is None:
            target = self._defaults(ctx)
            source = "the baseline's parameters"
        else:
            target = working.params or self._defaults(ctx)
            source = f"node {working.id}'s working parameters"
        broken = buggy.params or {}
        changed = {n: v for n, v in broken.items() if target.get(n) != v and n in ctx.idea.search_space}
        # First: retry each change that broke the node, but only halfway.
        for name, bad in changed.items():
            middle = space.between(ctx.idea.search_space[name], target[name], bad)
            if middle is not None:
                params = {**target, name: middle}
                if params_key(params) not in ctx.tried:
                    plan = (f"Node {buggy.id} failed ({why}). Go back to {source} and move {name} only halfway: "
                            f"{target[name]!r} -> {middle!r} instead of {bad!r}.")
                    return plan, params
        if params_key(target) not in ctx.tried:
            return f"Node {buggy.id} failed ({why}). Go back to {source} as they were.", target
        # Else: from the working point, a different one-step move than the one that broke it.
        for name, spec in ctx.idea.search_space.items():
            for _, value in space.neighbours(spec, target[name]):
                if changed.get(name) == value:
                    continue
                params = {**target, name: value}
                if params_key(params) not in ctx.tried:
                    plan = (f"Node {buggy.id} failed ({why}). From {source}, try another step instead: "
                            f"{name} {target[name]!r} -> {value!r}.")
                    return plan, params
        raise NothingToTry(f"no untried repair for node {buggy.id}")

    def _crossover(self, ctx: ExpansionContext, rng: random.Random) -> tuple[str, dict[str, ParamValue]]:
        a, b = _need_parent(ctx), ctx.partner
        if b is None:
            raise ExpansionError("crossover needs a partner node")
        pa, pb = a.params or self._defaults(ctx), b.params or self._defaults(ctx)
        differ = [n for n in ctx.idea.search_space if pa.get(n) != pb.get(n)]
        for _ in range(_MAX_SAMPLES if differ else 0):
            take = {n for n in differ if rng.random() < 0.5}
            if not take or len(take) == len(differ):
                continue
            params = {**pa, **{n: pb[n] for n in take}}
            if params_key(params) not in ctx.tried:
                moved = ", ".join(f"{n}={pb[n]!r}" for n in sorted(take))
                return f"Combine node {a.id} with node {b.id}: node {a.id}'s settings, but {moved} from node {b.id}.", params
        raise NothingToTry(f"no untried mix of nodes {a.id} and {b.id}")

    def _ablate(self, ctx: ExpansionContext) -> tuple[str, dict[str, ParamValue]]:
        node = _need_parent(ctx)
        base = self._defaults(ctx)
        params = node.params or base
        for name in ctx.idea.search_space:
            if params.get(name) == base.get(name):
                continue
            reverted = {**params, name: base[name]}
            if params_key(reverted) not in ctx.tried:
                return (f"Ablation of node {node.id}: put {name} back to the baseline's {base[name]!r} "
                        f"(from {params[name]!r}) to measure what that change contributes."), reverted
        raise NothingToTry(f"every change of node {node.id} from the baseline was ablated already")

    # -- helpers ----------------------------------------------------------------------------

    def _defaults(self, ctx: ExpansionContext) -> dict[str, ParamValue]:
        found = find_params(ctx.idea.baseline or "")
        return {n: found[n] for n in ctx.idea.search_space}

    def _evidence(self, ctx: ExpansionContext) -> dict[tuple[str, int], tuple[int, int]]:
        """For each (parameter, direction): how often a one-parameter change helped or hurt."""
        known = {n.id: n for n in [*ctx.ancestors, *ctx.related] + ([ctx.parent] if ctx.parent else [])}
        better = ctx.idea.metric.better
        counts: dict[tuple[str, int], list[int]] = defaultdict(lambda: [0, 0])
        for node in ctx.related:
            origin = known.get(node.parent_id) if node.parent_id is not None else None
            if origin is None or origin.metric is None or not node.status.finished:
                continue
            diff = [n for n in ctx.idea.search_space if node.params.get(n) != origin.params.get(n)]
            if len(diff) != 1:
                continue
            name = diff[0]
            d = space.direction(ctx.idea.search_space[name], origin.params.get(name), node.params.get(name))
            if d == 0:
                continue
            helped = node.status == NodeStatus.good and node.metric is not None and better(node.metric, origin.metric)
            counts[(name, d)][0 if helped else 1] += 1
        return {k: (v[0], v[1]) for k, v in counts.items()}

    @staticmethod
    def _describe(parent: Node, base: dict[str, ParamValue], change: dict[str, ParamValue], why: str) -> str:
        moves = ", ".join(f"{n} {base[n]!r} -> {v!r}" for n, v in change.items())
        score = f" (metric {parent.metric:.4g})" if parent.metric is not None else ""
        return f"From node {parent.id}{score}, change {moves} {why}."


def _need_parent(ctx: ExpansionContext) -> Node:
    if ctx.parent is None:
        raise ExpansionError(f"{ctx.operator} needs a parent node")
    return ctx.parent


def _last_working(ctx: ExpansionContext) -> Node | None:
    """The nearest ancestor of the buggy parent that ran and gave a valid metric."""
    for node in reversed(ctx.ancestors):
        if node.status == NodeStatus.good:
            return node
    return None
