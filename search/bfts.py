"""AI-Scientist-v2's best-first tree search (BFTS), on our asynchronous loop.

AI-Scientist-v2 selects a batch of ``num_workers`` nodes, runs them all, waits for the
whole batch, then selects the next. Within a batch it drafts while there are fewer than
``num_drafts`` drafts, debugs a random buggy leaf with probability ``debug_prob`` (debug
depth up to ``max_debug_depth``), and otherwise improves the best node; each node of a
batch should come from a different draft's tree (its ``processed_trees`` set), unless
every viable tree already has one.

Our loop has no batches: a worker is refilled as soon as its node finishes. The batch
becomes "the nodes in flight right now", so:

- a tree is "processed" while one of its nodes is in flight (the tree keeps in-flight
  counts per subtree, so that is one lookup per draft);
- the drafts rule counts drafts already made, and while nothing has finished yet every
  free worker drafts, as v2's first batch does (it sees no drafts until the batch ends);
- a viable tree is a draft whose subtree has a valid or an in-flight node (v2 asks that
  not all of its leaves be buggy; ours is the incremental approximation).

The effect matches v2 with one worker per batch slot, without its barrier.
"""

from __future__ import annotations

import random
from dataclasses import dataclass

from search.base import DEFAULT_DRAFTS, Action
from search.tree import SearchTree, TreeNode


@dataclass
class BFTSPolicy:
    """Drafts first, then debug a buggy leaf with ``debug_prob``, else improve the best
    node, spreading in-flight nodes over different drafts' trees."""

    num_drafts: int = DEFAULT_DRAFTS
    debug_prob: float = 0.5
    max_debug_depth: int = 3
    name: str = "bfts"

    def select(self, tree: SearchTree, rng: random.Random) -> Action | None:
        """The next action (see the module docstring for how batches map onto our loop)."""
        can_draft = not tree.drafts_exhausted
        nothing_finished = len(tree.in_flight) == len(tree.nodes)  # still in v2's first batch
        if can_draft and (tree.num_drafts < self.num_drafts or nothing_finished):
            return Action("draft")
        busy = {r for r in tree.roots if tree.nodes[r].inflight_count}
        viable = sum(1 for r in tree.roots if tree.nodes[r].valid_count or tree.nodes[r].inflight_count)

        def free(node: TreeNode) -> bool:
            return node.root_id not in busy or len(busy) >= viable

        if rng.random() < self.debug_prob:
            debuggable = sorted(
                i for i in tree.buggy_leaves
                if tree.nodes[i].debug_depth < self.max_debug_depth and not tree.nodes[i].exhausted
            )
            if debuggable:
                node = tree.nodes[rng.choice(debuggable)]
                if free(node):
                    return Action("debug", node.id)
        # The best open node whose tree has nothing in flight, else the best open node.
        first = None
        for node in tree.ranked():
            if node.exhausted:
                continue
            if first is None:
                first = node
            if free(node):
                return Action("improve", node.id)
        if first is not None:
            return Action("improve", first.id)
        return Action("draft") if can_draft else None
