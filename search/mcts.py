"""Monte Carlo tree search over experiments: PUCT from the root with progressive widening.

Every node of our tree is an experiment that ran once, so a visit of a subtree is a
finished node in it and there are no rollouts: each result is backed up along its path by
the tree's incremental statistics (search/tree.py). A selection walks down from a virtual
root above the drafts. At each node the options are "expand this node" (improve a valid
node, debug a buggy one, draft at the root) and "descend into child c"; the walk takes the
option with the highest PUCT score

    Q + c * P * sqrt(N_node) / (1 + N_option)

and returns as soon as it picks an expansion. Progressive widening: a node may be
expanded only while it has fewer than ``widen_c * N ** widen_alpha`` children (N counts
in-flight nodes); the root gets ``num_drafts`` drafts first and then
``root_widen_c * N ** root_widen_alpha``. A subtree with nothing expandable (``closed``
in the tree, or only busy with in-flight nodes) is skipped and the walk backtracks to the
next best option.

Q is a rank, not a min-max fraction: the rank among all valid metrics (0 = worst,
1 = best). Metrics come on any scale, and one diverged run (a loss of 1e9, an accuracy
of 0) would squash every other node into a sliver of a min-max range; ranks only care
about order, and each costs one binary search in the tree's sorted metrics.

- Q of "descend into c" is the rank of the best *open* node in c's subtree: one that is
  valid and still worth expanding. A node that ``patience`` children failed to beat stops
  counting, so a converged branch loses its pull by itself and the walk moves on.
- Q of "expand v" is the rank of v's own metric; for a buggy v, ``bug_q`` times the rank
  of its nearest valid ancestor; for a new draft, what drafts' subtrees are worth on
  average, so drafting (a restart) grows attractive as the existing branches converge.
- P is the value agent's estimate (``TreeNode.prior``), 0.5 when there is none (uniform).
- The root uses its own, larger exploration constant ``c_root``: restarts need courage at
  the top while deeper down small steps pay.

Parallel workers: every in-flight node counts as a visit on its whole path, worth
``(1 - virtual_loss) * Q`` (virtual loss), so selections made while it runs lean towards
other branches. A full loss (1.0) measured worse at small budgets than 0.25; see
docs/search.md for this and the other measured choices.

Buggy nodes are debugged as chains (one debug child at a time) up to ``max_debug_depth``;
then the tree marks the chain closed and no walk enters it again.
"""

from __future__ import annotations

import math
import random
from dataclasses import dataclass

from search.base import DEFAULT_DRAFTS, Action
from search.tree import SearchTree, TreeNode

_Option = tuple["TreeNode | None", "Action | None"]  # (node to descend into, or the expansion to return)


@dataclass
class MCTSPolicy:
    """PUCT tree search with progressive widening, virtual loss and debug chains."""

    num_drafts: int = DEFAULT_DRAFTS  # drafts made before the first walk
    max_debug_depth: int = 3
    c_puct: float = 0.05  # exploration below the root
    c_root: float = 0.4  # exploration among drafts and new drafts
    c_decay: float = 0.0  # both shrink as c / (1 + c_decay * visits / 100): measured not to help, so off
    widen_c: float = 2.0  # a node may have widen_c * N ** widen_alpha children
    widen_alpha: float = 0.5
    root_widen_c: float = 1.0  # and the root max(num_drafts, root_widen_c * N ** root_widen_alpha) drafts
    root_widen_alpha: float = 0.5
    patience: int = 4  # children that fail to beat a node before it is not expanded again
    virtual_loss: float = 0.25  # an in-flight node is a visit worth (1 - virtual_loss) x Q
    bug_q: float = 0.3  # share of its valid ancestor's rank that a buggy branch is worth
    name: str = "mcts"

    def select(self, tree: SearchTree, rng: random.Random) -> Action | None:
        """Walk from the root to the node to expand next (see the module docstring)."""
        tree.set_limits(max_debug_depth=self.max_debug_depth, patience=self.patience)
        if not tree.drafts_exhausted and tree.num_drafts < self.num_drafts:
            return Action("draft")
        action = _Walk(tree, self, widen=True).run()
        if action is None:
            # Every branch is busy or at its widening limit: expand where a limit stopped us.
            action = _Walk(tree, self, widen=False).run()
        return action


class _Walk:
    """One selection: scores options on the way down, backtracking out of dead ends."""

    def __init__(self, tree: SearchTree, policy: MCTSPolicy, *, widen: bool) -> None:
        self.tree = tree
        self.p = policy
        self.widen = widen
        scale = 1.0 / (1.0 + policy.c_decay * tree.visits / 100.0)
        self.c, self.c_root = policy.c_puct * scale, policy.c_root * scale

    def run(self) -> Action | None:
        # Depth first, best option first; each frame holds one node's options, worst first.
        stack: list[list[_Option]] = [self.options(None)]
        while stack:
            if not stack[-1]:
                stack.pop()
                continue
            node, action = stack[-1].pop()
            if action is not None:
                return action
            stack.append(self.options(node))
        return None

    def expansion(self, node: TreeNode | None) -> Action | None:
        """Expanding ``node`` itself (None: the root, a draft), if allowed now."""
        p, tree = self.p, self.tree
        if node is None:
            if tree.drafts_exhausted:
                return None
            n = tree.visits + len(tree.in_flight)
            allowed = max(p.num_drafts, int(p.root_widen_c * n ** p.root_widen_alpha))
            return Action("draft") if not self.widen or len(tree.roots) < allowed else None
        if node.valid:
            if not tree.open_valid(node):
                return None
            allowed = max(1, int(p.widen_c * (node.visits + node.inflight_count) ** p.widen_alpha))
            return Action("improve", node.id) if not self.widen or len(node.children) < allowed else None
        if tree.debuggable(node):
            return Action("debug", node.id)
        return None

    def options(self, node: TreeNode | None) -> list[_Option]:
        """Expand ``node`` or descend into one of its open children, worst PUCT score first."""
        tree, vl = self.tree, self.p.virtual_loss
        ids = tree.roots if node is None else node.children
        kids = [k for k in (tree.nodes[i] for i in ids) if not k.closed and not (k.in_flight and not k.children)]
        own = self.expansion(node)
        if not kids:
            return [(node, own)] if own else []
        parent_n = (tree.visits + len(tree.in_flight)) if node is None else (node.visits + node.inflight_count)
        sqrt_n = math.sqrt(max(1.0, parent_n))
        rows: list[tuple[float, float, float, _Option]] = []  # (q, n, prior, option)
        for k in kids:
            n = k.visits + k.inflight_count
            q = self.subtree_q(k)
            if n > 0:
                # Virtual loss: each in-flight node is a visit worth (1 - virtual_loss) of Q.
                q *= (k.visits + (1.0 - vl) * k.inflight_count) / n
            rows.append((q, n, 0.5 if k.prior is None else k.prior, (k, None)))
        if own is not None:
            q, done, busy = self.expansion_q(node)
            n = done + busy
            q *= (done + 1 + (1.0 - vl) * busy) / (n + 1)
            prior = 0.5 if node is None or node.prior is None else node.prior
            rows.append((q, n, prior, (node, own)))
        mean_prior = sum(r[2] for r in rows) / len(rows) or 1.0
        c = self.c_root if node is None else self.c
        scored = [(q + c * (prior / mean_prior) * sqrt_n / (1.0 + n), -i, option)
                  for i, (q, n, prior, option) in enumerate(rows)]
        scored.sort(key=lambda t: (t[0], t[1]))  # ties: the older option is tried first
        return [option for _, _, option in scored]

    def subtree_q(self, node: TreeNode) -> float:
        """Rank of the best open node in ``node``'s subtree; for a subtree with none, a buggy
        branch's share of where it set out from."""
        if node.sub_open_best is not None:
            return self.tree.rank(node.sub_open_best)
        return self.p.bug_q * self.anchor_rank(node) if node.visits else 0.0

    def expansion_q(self, node: TreeNode | None) -> tuple[float, int, int]:
        """(Q of expanding ``node`` itself, its finished children, its in-flight children)."""
        tree = self.tree
        ids = tree.roots if node is None else node.children
        busy = sum(1 for i in ids if tree.nodes[i].in_flight)
        done = len(ids) - busy
        if node is None:
            # A new draft is worth what drafts' subtrees have come to on average.
            values = [self.subtree_q(tree.nodes[i]) for i in ids if tree.nodes[i].visits]
            return (sum(values) / len(values) if values else 0.5), done, busy
        if node.valid:
            return tree.rank(node.metric), done, busy  # type: ignore[arg-type]
        return self.p.bug_q * self.anchor_rank(node), done, busy

    def anchor_rank(self, node: TreeNode) -> float:
        """Rank of the nearest valid ancestor of a buggy node (0.5 for a buggy draft)."""
        tree = self.tree
        current = tree.nodes[node.parent_id] if node.parent_id is not None else None
        while current is not None and not current.valid:
            current = tree.nodes[current.parent_id] if current.parent_id is not None else None
        return 0.5 if current is None else tree.rank(current.metric)  # type: ignore[arg-type]
