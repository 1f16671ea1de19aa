"""An in-memory view of the search tree that policies read.

It holds only what selection needs (structure, status, metric, counters) and keeps its
aggregates incrementally, so one selection does not rescan every node:

- tree-wide: the best node, buggy leaves, in-flight nodes, drafts, and every valid metric
  in sorted order (for rank normalisation and the runner-up when the best is exhausted);
- per subtree (a node and its descendants): visits (finished, scored nodes), valid nodes,
  the best metric, the best metric of a node still open for expansion, in-flight nodes
  (virtual loss), and whether anything below can still be expanded (``closed``);
- per node: how many finished children it has and how many of them beat it.

Every aggregate is a function of the nodes' current fields only, never of the order they
arrived in, so a tree rebuilt from the run store on resume holds the same numbers
(``stats_mismatches`` checks that).
"""

from __future__ import annotations

import bisect
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Literal

Direction = Literal["maximize", "minimize"]

IN_FLIGHT = frozenset({"pending", "running"})
# Finished nodes that count as a visit: something was tried and judged. Cancelled nodes
# are not evidence about their branch, so they do not count.
SCORED = frozenset({"good", "buggy", "flagged", "failed"})
# Statuses that can never be expanded themselves (nothing ran, or a reviewer rejected it).
TERMINAL = frozenset({"flagged", "failed", "cancelled"})
DEFAULT_MAX_DEBUG_DEPTH = 3
# Operators that do not say a node has nothing left when they have nothing left themselves.
SIDE_OPERATORS = frozenset({"tune", "ablate", "crossover"})
DEFAULT_PATIENCE = 4


@dataclass(slots=True)
class TreeNode:
    """What a policy knows of one node, plus the statistics of its subtree (kept by the tree)."""

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
    done_ops: set[str] = field(default_factory=set)  # side operators (tune, ablate, crossover) with nothing left here
    # -- subtree statistics, maintained by SearchTree (do not set by hand) --
    root_id: int = 0  # the draft this node descends from
    visits: int = 0  # scored, unpruned nodes in the subtree
    valid_count: int = 0  # valid, unpruned nodes in the subtree
    sub_best: float | None = None  # the best of their metrics
    sub_open_best: float | None = None  # the best metric of an open node in the subtree (see open_valid)
    open_counted: bool = False  # this node's metric is in sub_open_best of its path
    inflight_count: int = 0  # pending or running nodes in the subtree
    child_scored: int = 0  # children that were scored
    child_better: int = 0  # valid children whose metric beats this node's
    open_children: int = 0  # children whose subtree is not closed
    closed: bool = False  # nothing in this subtree can be expanded any more

    @property
    def in_flight(self) -> bool:
        return self.status in IN_FLIGHT

    @property
    def valid(self) -> bool:
        """Ran and produced a metric that no reviewer flagged."""
        return self.status == "good" and self.metric is not None

    @property
    def scored(self) -> bool:
        """Finished and judged (good, buggy, flagged or failed), and not pruned."""
        return self.status in SCORED and not self.pruned


def _contribution(node: TreeNode) -> tuple[int, int, int]:
    """(visits, valid, in flight) that ``node`` adds to its own and its ancestors' counts."""
    return (
        1 if node.scored else 0,
        1 if node.valid and not node.pruned else 0,
        1 if node.in_flight else 0,
    )


class SearchTree:
    """Nodes of one run plus incremental aggregates (best node, buggy leaves, subtree statistics)."""

    def __init__(self, direction: Direction, *, max_debug_depth: int = DEFAULT_MAX_DEBUG_DEPTH,
                 patience: int | None = DEFAULT_PATIENCE) -> None:
        self.direction = direction
        self.max_debug_depth = max_debug_depth
        self.patience = patience
        # Nodes whose ``exhausted`` flag the engine may have set by hand since we last looked
        # (it does so right after removing the child the agent could not write): settle() checks.
        self._suspects: set[int] = set()
        self.nodes: dict[int, TreeNode] = {}
        self.roots: list[int] = []
        self.best_id: int | None = None
        self.buggy_leaves: set[int] = set()
        self.in_flight: set[int] = set()
        self.num_drafts = 0
        self.num_valid = 0  # valid nodes, pruned ones included
        self.drafts_exhausted = False
        # The virtual root above the drafts: totals over the whole tree.
        self.visits = 0
        self.valid_count = 0
        # (metric, -id) of valid unpruned nodes, sorted so that the best comes last (metrics
        # negated when minimising; among equals the oldest node wins): the best node, rank
        # normalisation and best_open read it.
        self._keys: list[tuple[float, int]] = []
        # Ids of scored (finished, judged, unpruned) nodes in order: how many came after the best.
        self._scored_ids: list[int] = []
        self.budget: int | None = None  # the run's node budget, when the engine knows it

    def __len__(self) -> int:
        return len(self.nodes)

    def better(self, a: float, b: float) -> bool:
        return a > b if self.direction == "maximize" else a < b

    def _key(self, metric: float) -> float:
        return metric if self.direction == "maximize" else -metric

    # -- changes ------------------------------------------------------------------------------

    def add(self, node: TreeNode) -> None:
        """Insert a node whose parent, if any, is already in the tree."""
        if node.id in self.nodes:
            raise ValueError(f"node {node.id} is already in the tree")
        if node.parent_id is not None and node.parent_id not in self.nodes:
            raise ValueError(f"node {node.id}: parent {node.parent_id} is not in the tree")
        node.children = []
        node.visits = node.valid_count = node.inflight_count = 0
        node.sub_best = node.sub_open_best = None
        node.child_scored = node.child_better = node.open_children = 0
        node.closed = node.open_counted = False
        self.settle()
        self.nodes[node.id] = node
        if node.parent_id is None:
            self.roots.append(node.id)
            node.root_id = node.id
        else:
            parent = self.nodes[node.parent_id]
            node.root_id = parent.root_id
            parent.children.append(node.id)
            parent.open_children += 1  # provisional: _refresh_closed below settles it
            self.buggy_leaves.discard(parent.id)
        if node.operator == "draft":
            self.num_drafts += 1
        self._enter(node)
        self._refresh_closed(node)
        if node.parent_id is not None:
            self._refresh_closed(self.nodes[node.parent_id])

    def remove(self, node_id: int) -> None:
        """Take out a childless node (one that was selected but never ran)."""
        node = self.nodes[node_id]
        if node.children:
            raise ValueError(f"node {node_id} has children")
        self.settle()
        self._leave(node)
        if not node.closed and node.parent_id is not None:
            self.nodes[node.parent_id].open_children -= 1
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
            self._refresh_closed(parent)
            self._suspects.add(parent.id)

    def update(self, node_id: int, *, status: str | None = None, metric: float | None = None,
               pruned: bool | None = None, prior: float | None = None) -> None:
        """Change a node's status, metric, pruning or prior and keep aggregates right."""
        node = self.nodes[node_id]
        self.settle()
        self._leave(node)
        if status is not None:
            node.status = status
            node.metric = metric
        if pruned is not None:
            node.pruned = pruned
        if prior is not None:
            node.prior = prior
        self._enter(node)
        self._refresh_closed(node)

    def mark_exhausted(self, node_id: int | None, operator: str | None = None) -> None:
        """The agent has nothing untried from this node (None: no new drafts either).

        For a side operator (tune, ablate, crossover) only that operator is spent: the node
        can still be improved or debugged.
        """
        if node_id is None:
            self.drafts_exhausted = True
            return
        if operator in SIDE_OPERATORS:
            self.nodes[node_id].done_ops.add(operator)
            return
        self.nodes[node_id].exhausted = True
        self._suspects.add(node_id)
        self.settle()

    def settle(self) -> None:
        """Take in ``exhausted`` flags set directly on nodes (cheap when there are none)."""
        while self._suspects:
            node = self.nodes.get(self._suspects.pop())
            if node is not None:
                self._sync_open(node)
                self._refresh_closed(node)

    def set_limits(self, *, max_debug_depth: int | None = None, patience: int | None | bool = False) -> None:
        """Set the debug-chain limit behind ``closed`` and the patience behind open nodes.

        Policies call this on every selection; it recomputes only when a value changes
        (``patience=None`` means never give up on a node; False leaves it as it is).
        """
        self.settle()
        if max_debug_depth is not None and max_debug_depth != self.max_debug_depth:
            self.max_debug_depth = max_debug_depth
            # Deepest nodes first, so each node sees its children's final state.
            for node in sorted(self.nodes.values(), key=lambda n: n.depth, reverse=True):
                self._refresh_closed(node, propagate=False)
        if patience is not False and patience != self.patience:
            self.patience = patience  # type: ignore[assignment]
            for node in self.nodes.values():
                self._sync_open(node)

    def open_valid(self, node: TreeNode) -> bool:
        """Valid, unpruned, not exhausted, and fewer than ``patience`` children failed to beat it."""
        return (node.valid and not node.pruned and not node.exhausted
                and (self.patience is None or node.child_scored - node.child_better < self.patience))

    # -- incremental bookkeeping ----------------------------------------------------------------

    def _enter(self, node: TreeNode) -> None:
        if node.in_flight:
            self.in_flight.add(node.id)
        if node.valid:
            self.num_valid += 1
            if not node.pruned:
                bisect.insort(self._keys, (self._key(node.metric), -node.id))  # type: ignore[arg-type]
                self.best_id = -self._keys[-1][1]
        if node.status == "buggy" and not node.children and not node.pruned:
            self.buggy_leaves.add(node.id)
        if node.scored:
            bisect.insort(self._scored_ids, node.id)
        self._spread(node, _contribution(node), +1)
        if not node.pruned and node.valid:
            self._raise_best(node, node.metric)  # type: ignore[arg-type]
        # The parent's count of children that were scored, and of those that beat it.
        if node.parent_id is not None:
            parent = self.nodes[node.parent_id]
            if node.scored:
                parent.child_scored += 1
                if self._beats(node, parent):
                    parent.child_better += 1
                self._sync_open(parent)
        # This node's own metric decides which of its children beat it.
        node.child_better = sum(1 for c in node.children if self._beats(self.nodes[c], node))
        self._sync_open(node)

    def _leave(self, node: TreeNode) -> None:
        self.in_flight.discard(node.id)
        self.buggy_leaves.discard(node.id)
        if node.scored:
            del self._scored_ids[bisect.bisect_left(self._scored_ids, node.id)]
        if node.open_counted:
            node.open_counted = False
            self._lower_open(node, node.metric)  # type: ignore[arg-type]
        if node.parent_id is not None and node.scored:
            parent = self.nodes[node.parent_id]
            parent.child_scored -= 1
            if self._beats(node, parent):
                parent.child_better -= 1
            self._sync_open(parent)
        self._spread(node, _contribution(node), -1)
        if not node.pruned and node.valid:
            key = (self._key(node.metric), -node.id)  # type: ignore[arg-type]
            del self._keys[bisect.bisect_left(self._keys, key)]
            self.best_id = -self._keys[-1][1] if self._keys else None
            self._lower_best(node, node.metric)  # type: ignore[arg-type]
        if node.valid:
            self.num_valid -= 1

    def _beats(self, child: TreeNode, parent: TreeNode) -> bool:
        return (child.scored and child.valid and parent.valid
                and self.better(child.metric, parent.metric))  # type: ignore[arg-type]

    def _spread(self, node: TreeNode, contrib: tuple[int, int, int], sign: int) -> None:
        """Add ``sign`` times the node's contribution to it, its ancestors and the virtual root."""
        visits, valid, inflight = contrib
        if not (visits or valid or inflight):
            return
        visits, valid, inflight = visits * sign, valid * sign, inflight * sign
        current: TreeNode | None = node
        nodes = self.nodes
        while current is not None:
            current.visits += visits
            current.valid_count += valid
            current.inflight_count += inflight
            current = None if current.parent_id is None else nodes[current.parent_id]
        self.visits += visits
        self.valid_count += valid

    def _raise_best(self, node: TreeNode, metric: float) -> None:
        current: TreeNode | None = node
        while current is not None:
            if current.sub_best is not None and not self.better(metric, current.sub_best):
                return
            current.sub_best = metric
            current = None if current.parent_id is None else self.nodes[current.parent_id]

    def _lower_best(self, node: TreeNode, metric: float) -> None:
        """``node`` no longer counts with ``metric``: recompute sub_best up the path while it was it."""
        current: TreeNode | None = node
        skip_self = True  # the node is leaving: its own metric no longer counts
        while current is not None and current.sub_best == metric:
            current.sub_best = self._own_best(current, skip_self=skip_self)
            skip_self = False
            current = None if current.parent_id is None else self.nodes[current.parent_id]

    def _sync_open(self, node: TreeNode) -> None:
        """Count or uncount the node's metric in sub_open_best to match open_valid()."""
        want = self.open_valid(node)
        if want == node.open_counted:
            return
        node.open_counted = want
        metric: float = node.metric  # type: ignore[assignment]
        if want:
            current: TreeNode | None = node
            while current is not None:
                if current.sub_open_best is not None and not self.better(metric, current.sub_open_best):
                    break
                current.sub_open_best = metric
                current = None if current.parent_id is None else self.nodes[current.parent_id]
        else:
            self._lower_open(node, metric)
        self._refresh_closed(node)

    def _lower_open(self, node: TreeNode, metric: float) -> None:
        current: TreeNode | None = node
        while current is not None and current.sub_open_best == metric:
            best = current.metric if current.open_counted else None
            for c in current.children:
                value = self.nodes[c].sub_open_best
                if value is not None and (best is None or self.better(value, best)):
                    best = value
            current.sub_open_best = best
            current = None if current.parent_id is None else self.nodes[current.parent_id]

    def _own_best(self, node: TreeNode, *, skip_self: bool = False) -> float | None:
        best = None
        if not skip_self and node.valid and not node.pruned:
            best = node.metric
        for c in node.children:
            value = self.nodes[c].sub_best
            if value is not None and (best is None or self.better(value, best)):
                best = value
        return best

    def own_done(self, node: TreeNode) -> bool:
        """True when the node itself can never be expanded (its children may still be)."""
        if node.pruned or node.exhausted or node.status in TERMINAL:
            return True
        if node.status == "buggy":
            # A buggy node is debugged as a chain: once it has a child, or its chain is at the
            # debug-depth limit, the node itself is done.
            return bool(node.children) or node.debug_depth >= self.max_debug_depth
        if node.in_flight:
            return False
        return not self.open_valid(node)  # a good node without a metric, or one out of patience

    def _refresh_closed(self, node: TreeNode, *, propagate: bool = True) -> None:
        current: TreeNode | None = node
        while current is not None:
            if propagate is False:
                current.open_children = sum(1 for c in current.children if not self.nodes[c].closed)
            closed = current.pruned or (self.own_done(current) and current.open_children == 0)
            if closed == current.closed:
                return
            current.closed = closed
            if current.parent_id is None:
                return
            parent = self.nodes[current.parent_id]
            parent.open_children += -1 if closed else 1
            current = parent if propagate else None

    # -- queries ----------------------------------------------------------------------------------

    def best(self) -> TreeNode | None:
        """The best valid, unpruned node."""
        return None if self.best_id is None else self.nodes[self.best_id]

    def best_open(self) -> TreeNode | None:
        """The best valid node that is neither pruned nor exhausted."""
        for node in self.ranked():
            if not node.exhausted:
                return node
        return None

    def ranked(self) -> Iterator[TreeNode]:
        """Valid, unpruned nodes from the best down (lazily: stop early for the top few)."""
        for _, neg_id in reversed(self._keys):
            yield self.nodes[-neg_id]

    def since_best(self) -> int:
        """Scored nodes created after the best node: how long the search has gone without a new best.

        Counted by id, so it is a function of the nodes alone (a resumed tree agrees);
        with no valid node yet, every scored node counts.
        """
        if self.best_id is None:
            return len(self._scored_ids)
        return len(self._scored_ids) - bisect.bisect_right(self._scored_ids, self.best_id)

    def scored_count(self) -> int:
        """Finished, judged, unpruned nodes."""
        return len(self._scored_ids)

    def rank(self, metric: float) -> float:
        """Where ``metric`` stands among valid unpruned metrics: 0 = worst, 1 = best.

        Ties count half, so equal metrics share a rank; with one valid node it is 1.
        """
        n = len(self._keys)
        if n <= 1:
            return 1.0
        key = self._key(metric)
        below = bisect.bisect_left(self._keys, (key, float("-inf")))
        equal = bisect.bisect_right(self._keys, (key, float("inf"))) - below
        return min(1.0, (below + 0.5 * max(0, equal - 1)) / (n - 1))

    def metric_range(self) -> tuple[float, float] | None:
        """(worst, best) valid unpruned metric, or None when there is none."""
        if not self._keys:
            return None
        lo, hi = self._keys[0][0], self._keys[-1][0]
        if self.direction == "minimize":
            lo, hi = -lo, -hi
        return lo, hi

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

    def debuggable(self, node: TreeNode) -> bool:
        """A buggy leaf whose debug chain may grow by one more step."""
        return (node.status == "buggy" and not node.children and not node.pruned and not node.exhausted
                and node.debug_depth < self.max_debug_depth)

    # -- checking -----------------------------------------------------------------------------------

    def stats_mismatches(self) -> list[str]:
        """Every aggregate that differs from a recomputation from scratch (empty when all agree).

        Used by the tests after random change sequences, and handy when debugging a resume.
        """
        self.settle()
        fresh = SearchTree(self.direction, max_debug_depth=self.max_debug_depth, patience=self.patience)
        for nid in sorted(self.nodes, key=lambda i: (self.nodes[i].depth, i)):
            n = self.nodes[nid]
            fresh.add(TreeNode(id=n.id, parent_id=n.parent_id, operator=n.operator, status=n.status,
                               metric=n.metric, depth=n.depth, debug_depth=n.debug_depth, pruned=n.pruned,
                               prior=n.prior, exhausted=n.exhausted))
        out: list[str] = []
        for name in ("best_id", "buggy_leaves", "in_flight", "num_drafts", "num_valid", "visits", "valid_count",
                     "_keys", "_scored_ids"):
            if getattr(self, name) != getattr(fresh, name):
                out.append(f"tree.{name}: {getattr(self, name)!r} != {getattr(fresh, name)!r}")
        for nid, n in self.nodes.items():
            f = fresh.nodes[nid]
            for name in ("root_id", "visits", "valid_count", "sub_best", "sub_open_best", "open_counted",
                         "inflight_count", "child_scored", "child_better", "open_children", "closed"):
                if getattr(n, name) != getattr(f, name):
                    out.append(f"node {nid}.{name}: {getattr(n, name)!r} != {getattr(f, name)!r}")
            if sorted(n.children) != sorted(f.children):
                out.append(f"node {nid}.children: {n.children} != {f.children}")
        return out
