"""The default policy: exploit like AIDE's greedy while it pays, widen when the best stalls.

At the budgets people use (20-100 nodes) hill-climbing on the best node is hard to beat
when improvements keep coming, and loses when the search is stuck on a plateau or a
local optimum. This policy does both, switching on evidence from the tree:

1. Drafts first (``num_drafts``, the baseline counting as one).
2. Debug: with ``debug_prob``, repair a buggy leaf at random, as AIDE does (picking the
   one under the best node instead measured worse with several workers: it crowds them all
   around one node).
3. Exploit: improve the best node; or rather, of the top open nodes, the best by its metric
   averaged with its valid children's, each child weighing ``smooth``. Under noisy
   measurements the best node is often a lucky draw whose improvements fall back; the
   average moves the climb to a node that holds up, as mcts's subtree means do (mcts led
   adaptive on noisy landscapes without it). With no children it is the best node.
4. Widen when stalled: once ``stall`` scored nodes have come after the best one without
   beating it, a share ``explore`` of the selections try something else: a new draft, the
   best node of another draft's branch, or a crossover of the best node with that one;
   and the best node itself is tuned (one hyperparameter at a time) instead of improved.
5. Ablate near the end: with ``ablate_share`` of the budget left and a best node that has
   stood for ``stall`` scored nodes, ablate it once, so the write-up can say which part of
   it mattered. A best that is still being beaten is likely not the one the user gets, and
   the step is worth more as an improvement (with four workers it cost greedy's score
   otherwise, on the tuning families).

Until it widens or ablates it draws its random numbers as greedy does (smoothing draws none),
so with ``smooth=0`` the two make the same choices on one seed and a paired comparison
isolates what widening adds.

It keeps no state: every decision is a function of the tree (its counts are by node id,
so a resumed tree decides the same way) and the ``rng``.
"""

from __future__ import annotations

import random
from dataclasses import dataclass

from search.base import DEFAULT_DRAFTS, Action
from search.tree import SearchTree, TreeNode


@dataclass
class AdaptivePolicy:
    """Greedy exploitation with stagnation-triggered widening (see the module docstring)."""

    num_drafts: int = DEFAULT_DRAFTS
    debug_prob: float = 0.5
    max_debug_depth: int = 3
    stall: int = 8  # scored nodes after the best without beating it before widening
    explore: float = 0.7  # share of selections that widen while stalled
    ablate_share: float = 0.1  # ablate the best node once when this share of the budget is left
    ablate_after: int | None = None  # ... and it has stood that many scored nodes (None: ``stall``)
    crossover: bool = True
    smooth: float = 0.3  # weight of each valid child's metric in the score of the node to improve
    name: str = "adaptive"

    def select(self, tree: SearchTree, rng: random.Random) -> Action | None:
        """The next action (see the module docstring)."""
        tree.set_limits(max_debug_depth=self.max_debug_depth, patience=None)
        can_draft = not tree.drafts_exhausted
        if can_draft and tree.num_drafts < self.num_drafts:
            return Action("draft")
        best = tree.best_open()
        ablation = self._ablation(tree, best) if best is not None else None
        if ablation is not None:
            return ablation
        # Random numbers are drawn in greedy's order, so that until it widens or ablates this
        # policy makes greedy's very choices on the same seed: a paired comparison then measures
        # what widening does, not two different draws.
        if rng.random() < self.debug_prob:
            target = _debug_target(tree, rng)
            if target is not None:
                return Action("debug", target)
        if best is None:
            if can_draft:
                return Action("draft")
            target = _debug_target(tree, rng)  # no draft left: repairing is all there is
            return Action("debug", target) if target is not None else None
        if tree.since_best() >= self.stall and rng.random() < self.explore:
            action = self._widen(tree, rng, best, can_draft)
            if action is not None:
                return action
        return Action("improve", self._to_improve(tree, best).id)

    def _to_improve(self, tree: SearchTree, best: TreeNode) -> TreeNode:
        """The node to climb from: of the top open nodes, the best by its metric averaged with
        its valid children's (each weighing ``smooth``). A node measured lucky under noise has
        children that fall back; averaging them in moves the climb to a node that holds up, as
        mcts's subtree means do."""
        if self.smooth <= 0:
            return best
        sign = 1.0 if tree.direction == "maximize" else -1.0
        top, top_score = best, None
        seen = 0
        for n in tree.ranked():
            if n.exhausted:
                continue
            kids = [tree.nodes[c].metric for c in n.children if tree.nodes[c].valid]
            score = (sign * n.metric + self.smooth * sign * sum(kids)) / (1 + self.smooth * len(kids))
            if top_score is None or score > top_score:
                top, top_score = n, score
            seen += 1
            if seen >= _SMOOTH_TOP:  # a node's average never passes the best of its family: the top few do
                break
        return top

    # -- the pieces ------------------------------------------------------------------------------

    def _widen(self, tree: SearchTree, rng: random.Random, best: TreeNode, can_draft: bool) -> Action | None:
        other = _best_elsewhere(tree, best)
        roll = rng.random()
        if roll < 0.25 and not _has_child(tree, best, "tune") and "tune" not in best.done_ops:
            return Action("tune", best.id)
        if roll < 0.5 and other is not None:
            if self.crossover and rng.random() < 0.5 and "crossover" not in best.done_ops:
                return Action("crossover", best.id, other.id)
            return Action("improve", other.id)
        if can_draft:
            return Action("draft")
        return Action("improve", other.id) if other is not None else None

    def _ablation(self, tree: SearchTree, best: TreeNode) -> Action | None:
        if not tree.budget or self.ablate_share <= 0:
            return None
        left = tree.budget - len(tree.nodes)
        if left <= 0 or left > max(1.0, self.ablate_share * tree.budget) or tree.budget < 15:
            return None
        if _has_child(tree, best, "ablate") or best.operator == "ablate" or "ablate" in best.done_ops:
            return None
        if tree.since_best() < (self.stall if self.ablate_after is None else self.ablate_after):
            return None
        return Action("ablate", best.id)


_SMOOTH_TOP = 32


def _debug_target(tree: SearchTree, rng: random.Random) -> int | None:
    """A debuggable buggy leaf, at random (None when there is none)."""
    leaves = sorted(i for i in tree.buggy_leaves if tree.debuggable(tree.nodes[i]))
    return rng.choice(leaves) if leaves else None


def _has_child(tree: SearchTree, node: TreeNode, operator: str) -> bool:
    return any(tree.nodes[c].operator == operator for c in node.children)


def _best_elsewhere(tree: SearchTree, best: TreeNode) -> TreeNode | None:
    """The best open node outside the best node's draft branch."""
    for node in tree.ranked():
        if node.root_id != best.root_id and not node.exhausted:
            return node
    return None
