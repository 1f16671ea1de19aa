"""SearchTree: aggregates kept incrementally must match the tree's current nodes."""

from __future__ import annotations

import random

import pytest

from search.tree import SearchTree, TreeNode


def node(i: int, parent: int | None = None, status: str = "good", metric: float | None = None, *,
         operator: str | None = None, depth: int = 0, debug_depth: int = 0, pruned: bool = False) -> TreeNode:
    op = operator or ("draft" if parent is None else ("debug" if debug_depth else "improve"))
    return TreeNode(id=i, parent_id=parent, operator=op, status=status, metric=metric, depth=depth,
                    debug_depth=debug_depth, pruned=pruned)


def chain_tree() -> SearchTree:
    """1 (0.5) -> 2 (0.7) -> 3 buggy; 1 -> 4 (0.6); 5 draft running."""
    t = SearchTree("maximize")
    t.add(node(1, metric=0.5))
    t.add(node(2, 1, metric=0.7, depth=1))
    t.add(node(3, 2, "buggy", depth=2))
    t.add(node(4, 1, metric=0.6, depth=1))
    t.add(node(5, status="running"))
    return t


def test_aggregates_follow_adds_and_updates():
    t = chain_tree()
    assert t.best_id == 2 and t.best().metric == 0.7
    assert t.buggy_leaves == {3}
    assert t.in_flight == {5}
    assert t.num_drafts == 2 and t.num_valid == 3
    assert t.visits == 4  # the running draft is not a visit yet
    root = t.nodes[1]
    assert (root.visits, root.valid_count, root.sub_best, root.inflight_count) == (4, 3, 0.7, 0)
    assert t.nodes[5].inflight_count == 1
    assert t.nodes[1].child_scored == 2 and t.nodes[1].child_better == 2
    t.update(5, status="good", metric=0.9)
    assert t.best_id == 5 and t.in_flight == set() and t.visits == 5
    t.add(node(6, 3, "running", depth=3, debug_depth=1))
    assert t.buggy_leaves == set(), "a buggy node with a debug child is no longer a leaf"
    assert t.nodes[1].inflight_count == 1 and t.nodes[2].inflight_count == 1
    assert t.stats_mismatches() == []


def test_flagged_and_pruned_nodes_are_never_best():
    t = chain_tree()
    t.update(2, status="flagged", metric=0.7)
    assert t.best_id == 4, "a flagged result drops out; the runner-up takes over"
    t.update(4, pruned=True)
    assert t.best_id == 1
    assert t.nodes[1].sub_best == 0.5
    t.update(1, pruned=True)
    assert t.best() is None and t.best_open() is None
    assert t.stats_mismatches() == []


def test_remove_restores_buggy_leaf_and_counts():
    t = chain_tree()
    t.add(node(6, 3, "pending", depth=3, debug_depth=1))
    assert 3 not in t.buggy_leaves and t.nodes[1].inflight_count == 1
    t.remove(6)
    assert t.buggy_leaves == {3}
    assert t.nodes[1].inflight_count == 0 and 6 not in t.nodes
    with pytest.raises(ValueError, match="has children"):
        t.remove(2)
    assert t.stats_mismatches() == []


def test_best_open_skips_exhausted_nodes_set_by_hand():
    t = chain_tree()
    t.add(node(6, 2, "pending", depth=2))
    t.remove(6)
    t.nodes[2].exhausted = True  # what the engine does after the agent had nothing to try
    assert t.best_open().id == 4
    assert t.best().id == 2, "exhausted nodes stay the best result"
    t.settle()
    assert t.nodes[2].open_counted is False
    assert t.nodes[1].sub_open_best == 0.6
    assert t.stats_mismatches() == []


def test_rank_and_range_in_both_directions():
    t = SearchTree("minimize")
    for i, m in enumerate([3.0, 1.0, 2.0, 2.0], start=1):
        t.add(node(i, metric=m))
    assert t.best_id == 2
    assert t.rank(1.0) == 1.0 and t.rank(3.0) == 0.0
    assert t.rank(2.0) == pytest.approx((1 + 0.5) / 3), "ties share a rank"
    assert t.metric_range() == (3.0, 1.0)
    t.add(node(5, metric=2.0))
    assert t.best_id == 2
    tied = SearchTree("maximize")
    tied.add(node(7, metric=1.0))
    tied.add(node(8, metric=1.0))
    assert tied.best_id == 7, "among equal metrics the older node stays best"


def test_debug_chain_at_the_limit_is_closed():
    t = SearchTree("maximize", max_debug_depth=2)
    t.add(node(1, metric=0.5))
    t.add(node(2, 1, "buggy", depth=1))
    t.add(node(3, 2, "buggy", depth=2, debug_depth=1))
    assert not t.nodes[2].closed and t.debuggable(t.nodes[3])
    t.add(node(4, 3, "running", depth=3, debug_depth=2))
    assert not t.nodes[2].closed, "a debug attempt is still running"
    t.update(4, status="buggy")
    assert t.nodes[4].closed and t.nodes[3].closed and t.nodes[2].closed
    assert not t.debuggable(t.nodes[4])
    assert not t.nodes[1].closed, "the valid node above the chain can still be improved"
    t.set_limits(max_debug_depth=3)
    assert not t.nodes[2].closed and t.debuggable(t.nodes[4])
    assert t.stats_mismatches() == []


def test_patience_closes_a_node_for_expansion():
    t = SearchTree("maximize", patience=2)
    t.add(node(1, metric=0.5))
    t.add(node(2, 1, metric=0.4, depth=1))
    assert t.open_valid(t.nodes[1])
    t.add(node(3, 1, "buggy", depth=1))
    assert not t.open_valid(t.nodes[1]), "two children failed to beat it"
    assert t.nodes[1].sub_open_best == 0.4
    t.update(3, status="good", metric=0.9)
    assert t.open_valid(t.nodes[1]), "only one child failed to beat it now"
    assert t.nodes[1].child_better == 1
    t.set_limits(patience=None)
    assert t.stats_mismatches() == []


def _random_history(seed: int, direction: str, steps: int = 400) -> SearchTree:
    """Random adds, status changes, prunes, removals and exhausted flags, as an engine might make."""
    rng = random.Random(seed)
    t = SearchTree(direction, max_debug_depth=2, patience=2)  # type: ignore[arg-type]
    statuses = ["good", "good", "good", "buggy", "buggy", "flagged", "failed", "cancelled", "running"]
    next_id = 1
    for _ in range(steps):
        roll = rng.random()
        ids = list(t.nodes)
        if roll < 0.45 or not ids:
            parent = None if not ids or rng.random() < 0.15 else rng.choice(ids)
            p = t.nodes.get(parent) if parent else None
            debug = p is not None and p.status == "buggy"
            # Mostly pending, as the engine adds them; sometimes finished, as a resume does.
            status = "pending" if rng.random() < 0.6 else rng.choice(statuses)
            t.add(TreeNode(id=next_id, parent_id=parent, operator="debug" if debug else ("improve" if p else "draft"),
                           status=status, metric=round(rng.uniform(0, 1), 2) if status == "good" else None,
                           depth=p.depth + 1 if p else 0, debug_depth=p.debug_depth + 1 if debug else 0))
            next_id += 1
        elif roll < 0.8:
            i = rng.choice(ids)
            status = rng.choice(statuses)
            metric = round(rng.uniform(0, 1), 2) if status in ("good", "flagged") else None
            t.update(i, status=status, metric=metric)
        elif roll < 0.87:
            t.update(rng.choice(ids), pruned=rng.random() < 0.7)
        elif roll < 0.94:
            leaves = [i for i in ids if not t.nodes[i].children]
            if leaves:
                leaf = rng.choice(leaves)
                parent = t.nodes[leaf].parent_id
                t.remove(leaf)
                if parent is not None and rng.random() < 0.5:
                    t.nodes[parent].exhausted = True  # set by hand, as the engine does
        else:
            t.update(rng.choice(ids), prior=rng.random())
    return t


@pytest.mark.parametrize("seed", range(12))
def test_statistics_equal_a_recomputation_from_scratch(seed: int):
    t = _random_history(seed, "maximize" if seed % 2 else "minimize")
    assert len(t.nodes) > 20
    spent = [n for n in t.nodes.values() if n.valid and n.child_scored - n.child_better >= 2]
    assert spent and any(n.closed for n in t.nodes.values()), "the history should reach these states"
    assert t.stats_mismatches() == []
    # best_open agrees with a direct scan
    open_nodes = [n for n in t.nodes.values() if n.valid and not n.pruned and not n.exhausted]
    expect = None
    for n in sorted(open_nodes, key=lambda n: n.id):
        if expect is None or t.better(n.metric, expect.metric):
            expect = n
    got = t.best_open()
    assert (got.id if got else None) == (expect.id if expect else None)


def test_statistics_mismatch_is_reported():
    t = chain_tree()
    t.nodes[1].visits += 1
    assert any("node 1.visits" in m for m in t.stats_mismatches())
