"""An in-memory view of the search tree that policies read.

It holds only what selection needs (structure, status, metric, counters) and keeps its
aggregates incrementally, so one selection does not rescan every node.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

Direction = Literal["maximize", "minimize"]

IN_FLIGHT = frozenset({"pending", "running"})


@dataclass(slots=True)
class TreeNode:
    """What a policy knows of one node."""

    id: int
    parent_id: int | None
    operator: str
    status: str
    metric: float | None = None
    depth: int = 0
    debug_depth: int = 0
    pruned: bool = False
    prior: float | None = None
    exhausted: bool = False  # the agent has nothing untried left from here
    children: list[int] = field(default_factory=list)

    @property
    def in_flight(self) -> bool:
        return self.status in IN_FLIGHT

    @property
    def valid(self) -> bool:
        """Ran and produced a metric that no reviewer flagged."""
        return self.status == "good" and self.metric is not None


class SearchTree:
    """Nodes of one run plus incremental aggregates (best node, buggy leaves, drafts)."""

    def __init__(self, direction: Direction) -> None:
        self.direction = direction
        self.nodes: dict[int, TreeNode] = {}
        self.roots: list[int] = []
        self.best_id: int | None = None
        self.buggy_leaves: set[int] = set()
        self.in_flight: set[int] = set()
        self.num_drafts = 0
        self.num_valid = 0
        self.drafts_exhausted = False

    def __len__(self) -> int:
        return len(self.nodes)

    def better(self, a: float, b: float) -> bool:
        return a > b if self.direction == "maximize" else a < b

    def add(self, node: TreeNode) -> None:
        """Insert a node whose parent, if any, is already in the tree."""
        if node.id in self.nodes:
            raise ValueError(f"node {node.id} is already in the tree")
        self.nodes[node.id] = node
        if node.parent_id is None:
            self.roots.append(node.id)
        else:
            parent = self.nodes[node.parent_id]
            parent.children.append(node.id)
            self.buggy_leaves.discard(parent.id)
        if node.operator == "draft":
            self.num_drafts += 1
        self._enter(node)

    def remove(self, node_id: int) -> None:
        """Take out a childless node (one that was selected but never ran)."""
        node = self.nodes[node_id]
        if node.children:
            raise ValueError(f"node {node_id} has children")
        self._leave(node)
        del self.nodes[node_id]
        if node.operator == "draft":
            self.num_drafts -= 1
        if node.parent_id is None:
            self.roots.remove(node_id)
        else:
            parent = self.nodes[node.parent_id]
            parent.children.remove(node_id)
            if parent.status == "buggy" and not parent.children and not parent.pruned:
                self.buggy_leaves.add(parent.id)

    def update(self, node_id: int, *, status: str | None = None, metric: float | None = None,
               pruned: bool | None = None, prior: float | None = None) -> None:
        """Change a node's status, metric, pruning or prior and keep aggregates right."""
        node = self.nodes[node_id]
        self._leave(node)
        if status is not None:
            node.status = status
            node.metric = metric
        if pruned is not None:
            node.pruned = pruned
        if prior is not None:
            node.prior = prior
        self._enter(node)

    def _enter(self, node: TreeNode) -> None:
        if node.in_flight:
            self.in_flight.add(node.id)
        if node.valid:
            self.num_valid += 1
            if not node.pruned and (self.best_id is None or self.better(node.metric, self.nodes[self.best_id].metric)):
                self.best_id = node.id
        if node.status == "buggy" and not node.children and not node.pruned:
            self.buggy_leaves.add(node.id)

    def _leave(self, node: TreeNode) -> None:
        self.in_flight.discard(node.id)
        self.buggy_leaves.discard(node.id)
        if node.valid:
            self.num_valid -= 1
            if self.best_id == node.id:
                self.best_id = None
                self._rescan_best(exclude=node.id)

    def _rescan_best(self, exclude: int) -> None:
        # Only when the best node itself loses validity (flagged, pruned): rare, so O(n) is fine.
        for n in self.nodes.values():
            if n.id != exclude and n.valid and not n.pruned:
                if self.best_id is None or self.better(n.metric, self.nodes[self.best_id].metric):
                    self.best_id = n.id

    def best(self) -> TreeNode | None:
        return None if self.best_id is None else self.nodes[self.best_id]

    def best_open(self) -> TreeNode | None:
        """The best valid node that is neither pruned nor exhausted."""
        best = self.best()
        if best is None or not best.exhausted:
            return best
        open_nodes = [n for n in self.nodes.values() if n.valid and not n.pruned and not n.exhausted]
        if not open_nodes:
            return None
        pick = open_nodes[0]
        for n in open_nodes[1:]:
            if self.better(n.metric, pick.metric):
                pick = n
        return pick

    def path_to(self, node_id: int) -> list[int]:
        """Ids from the root down to ``node_id``."""
        path = []
        current: int | None = node_id
        while current is not None:
            path.append(current)
            current = self.nodes[current].parent_id
        return path[::-1]

    def is_pruned(self, node_id: int) -> bool:
        """True when the node or one of its ancestors is pruned."""
        return any(self.nodes[i].pruned for i in self.path_to(node_id))
