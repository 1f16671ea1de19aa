"""Searching one subtree: a fork continues from its node instead of starting over.

``SubtreeView`` shows a policy the subtree under one node as if it were the whole tree:
that node is the only root and no new drafts may be made. Every policy reads the tree
through the same few members (roots, in-flight and buggy nodes, the ranked valid nodes,
totals), so one view serves mcts, greedy and bfts alike, and the policies stay unaware
of scoping. Everything else (node lookups, ranks, limits) is the real tree's.
"""

from __future__ import annotations

import random
from collections.abc import Iterator
from typing import Any

from search.base import Action, Policy
from search.tree import SearchTree, TreeNode


class SubtreeView:
    """The subtree rooted at ``root_id`` of ``tree``, read-only, for one selection."""

    drafts_exhausted = True  # a draft would leave the subtree

    def __init__(self, tree: SearchTree, root_id: int) -> None:
        self._tree = tree
        self._root = tree.nodes[root_id]
        self.roots = [root_id]
        self.num_drafts = 0
        self.visits = self._root.visits
        self.valid_count = self._root.valid_count
        self.in_flight = {i for i in tree.in_flight if self.contains(i)}
        self.buggy_leaves = {i for i in tree.buggy_leaves if self.contains(i)}

    def __getattr__(self, name: str) -> Any:
        return getattr(self._tree, name)

    def contains(self, node_id: int) -> bool:
        """True when ``node_id`` is the view's root or one of its descendants."""
        nodes, root = self._tree.nodes, self._root
        node: TreeNode | None = nodes[node_id]
        if node.root_id != root.root_id:  # type: ignore[union-attr]
            return False  # another draft's tree: no walk needed
        while node is not None and node is not root:
            node = None if node.parent_id is None else nodes[node.parent_id]
        return node is root

    def ranked(self) -> Iterator[TreeNode]:
        """Valid, unpruned nodes of the subtree from the best down."""
        return (n for n in self._tree.ranked() if self.contains(n.id))

    def best_open(self) -> TreeNode | None:
        for node in self.ranked():
            if not node.exhausted:
                return node
        return None


def select_within(policy: Policy, tree: SearchTree, root_id: int | None, rng: random.Random) -> Action | None:
    """The policy's next action inside ``root_id``'s subtree (None: the whole tree).

    When the subtree has nothing to expand and nothing in flight, the policy chooses from
    the whole tree instead: a scope narrows the search, it does not end it early.
    """
    root = tree.nodes.get(root_id) if root_id is not None else None
    if root is None:
        return policy.select(tree, rng)
    action = policy.select(SubtreeView(tree, root.id), rng)  # type: ignore[arg-type]
    if action is not None or root.inflight_count:
        return action
    return policy.select(tree, rng)
