"""Each policy's decisions on small hand-built trees."""

from __future__ import annotations

import random

import pytest

from search.bfts import BFTSPolicy
from search.greedy import GreedyPolicy
from search.mcts import MCTSPolicy
from search.policy import POLICIES, Action, make_policy
from search.tree import SearchTree, TreeNode


class Builder:
    """Adds nodes with the engine's conventions (depth, debug depth, operator) in one line each."""

    def __init__(self, direction: str = "maximize") -> None:
        self.tree = SearchTree(direction)  # type: ignore[arg-type]
        self.next_id = 1

    def add(self, parent: int | None = None, status: str = "good", metric: float | None = None,
            operator: str | None = None) -> int:
        p = self.tree.nodes[parent] if parent is not None else None
        op = operator or ("draft" if p is None else ("debug" if p.status == "buggy" else "improve"))
        node = TreeNode(id=self.next_id, parent_id=parent, operator=op, status=status, metric=metric,
                        depth=0 if p is None else p.depth + 1,
                        debug_depth=(p.debug_depth + 1) if (p is not None and op == "debug") else 0)
        self.tree.add(node)
        self.next_id += 1
        return node.id

    def apply(self, action: Action, status: str = "pending", metric: float | None = None) -> int:
        return self.add(action.parent_id, status, metric, action.operator)


def rng() -> random.Random:
    return random.Random(0)


# -- the registry ----------------------------------------------------------------------------

def test_registry_builds_each_policy_with_the_params_it_knows():
    assert set(POLICIES) == {"adaptive", "mcts", "greedy", "bfts", "drafts"}
    for name in POLICIES:
        policy = make_policy(name, num_drafts=5, debug_prob=0.25, max_debug_depth=2, c_puct=0.7)
        assert policy.name == name
        assert (policy.num_drafts, policy.max_debug_depth) == (5, 2)
        # PUCT decides when a debug is worth it: mcts has no debug probability.
        assert getattr(policy, "debug_prob", None) == (None if name == "mcts" else 0.25)
    assert make_policy("mcts", c_puct=0.7).c_puct == 0.7
    assert make_policy("mcts", c_puct=None).c_puct == MCTSPolicy().c_puct, "None means: the default"
    assert not hasattr(make_policy("greedy", c_puct=0.7), "c_puct")
    with pytest.raises(ValueError, match="--policy: unknown policy 'uct'"):
        make_policy("uct")


SEARCHING = [p for p in POLICIES if p != "drafts"]  # drafts is the no-search baseline


@pytest.mark.parametrize("name", SEARCHING)
def test_every_policy_drafts_first_and_stops_when_nothing_is_left(name: str):
    policy, b = make_policy(name, num_drafts=3), Builder()
    for _ in range(3):
        action = policy.select(b.tree, rng())
        assert action == Action("draft")
        b.apply(action)
    for i in (1, 2, 3):
        b.tree.update(i, status="good", metric=float(i))
    action = policy.select(b.tree, rng())
    assert action is not None and action.operator == "improve", "three valid drafts: time to improve"
    empty = Builder()
    empty.tree.drafts_exhausted = True
    assert policy.select(empty.tree, rng()) is None


def test_the_drafts_baseline_only_drafts():
    policy, b = make_policy("drafts"), Builder()
    for _ in range(5):
        b.apply(policy.select(b.tree, rng()))
    b.tree.update(1, status="good", metric=1.0)
    b.tree.update(2, status="buggy")
    assert policy.select(b.tree, rng()) == Action("draft")
    b.tree.drafts_exhausted = True
    assert policy.select(b.tree, rng()) is None


@pytest.mark.parametrize("name", SEARCHING)
def test_no_policy_expands_pruned_flagged_or_at_limit_nodes(name: str):
    policy, b = make_policy(name, num_drafts=1, debug_prob=1.0, max_debug_depth=1), Builder()
    top = b.add(metric=0.9)
    b.tree.update(top, pruned=True)
    flagged = b.add(status="flagged", metric=5.0)
    base = b.add(metric=0.1)
    bug = b.add(base, status="buggy")
    last = b.add(bug, status="buggy")  # debug depth 1: at the limit
    b.tree.drafts_exhausted = True
    seen = set()
    for seed in range(30):
        action = policy.select(b.tree, random.Random(seed))
        assert action is not None
        seen.add(action)
        assert action.parent_id not in (top, flagged, last), action
    assert Action("improve", base) in seen


# -- greedy (AIDE) -----------------------------------------------------------------------------

def test_greedy_improves_the_best_and_debugs_within_the_depth_limit():
    b = Builder()
    a, best = b.add(metric=0.2), b.add(metric=0.8)
    b.add(metric=0.5)
    bug = b.add(a, status="buggy")
    never = GreedyPolicy(num_drafts=3, debug_prob=0.0)
    always = GreedyPolicy(num_drafts=3, debug_prob=1.0, max_debug_depth=1)
    assert never.select(b.tree, rng()) == Action("improve", best)
    assert always.select(b.tree, rng()) == Action("debug", bug)
    b.add(bug, status="buggy")  # the chain reaches depth 1
    assert always.select(b.tree, rng()) == Action("improve", best)
    b.tree.nodes[best].exhausted = True
    assert never.select(b.tree, rng()) == Action("improve", 3), "an exhausted best gives way to the runner-up"


# -- bfts (AI-Scientist-v2) ----------------------------------------------------------------------

def test_bfts_first_batch_is_all_drafts_then_it_stops_drafting():
    policy, b = BFTSPolicy(num_drafts=2, debug_prob=0.0), Builder()
    for _ in range(4):  # four workers, nothing finished yet: v2's first batch drafts on every worker
        b.apply(policy.select(b.tree, rng()))
    assert b.tree.num_drafts == 4
    b.tree.update(1, status="good", metric=0.3)
    assert policy.select(b.tree, rng()) == Action("improve", 1)


def test_bfts_spreads_in_flight_nodes_over_draft_trees():
    policy, b = BFTSPolicy(num_drafts=2, debug_prob=0.0), Builder()
    first, second = b.add(metric=0.9), b.add(metric=0.4)
    b.add(first, metric=0.95)
    action = policy.select(b.tree, rng())
    assert action == Action("improve", 3)
    b.apply(action)  # tree of draft 1 is now busy
    assert policy.select(b.tree, rng()) == Action("improve", second), "the next best tree with nothing in flight"
    b.add(second, status="running")
    assert policy.select(b.tree, rng()) == Action("improve", 3), "every viable tree busy: back to the best"


def test_bfts_debug_respects_depth_and_busy_trees():
    policy, b = BFTSPolicy(num_drafts=1, debug_prob=1.0, max_debug_depth=2), Builder()
    d = b.add(metric=0.5)
    bug = b.add(d, status="buggy")
    assert policy.select(b.tree, rng()) == Action("debug", bug)
    deeper = b.add(bug, status="buggy")
    assert policy.select(b.tree, rng()) == Action("debug", deeper)
    b.add(deeper, status="buggy")  # depth 2: the limit
    assert policy.select(b.tree, rng()) == Action("improve", d)


# -- mcts -----------------------------------------------------------------------------------------

def test_mcts_walks_to_the_best_branch_and_is_pure():
    policy, b = MCTSPolicy(num_drafts=2), Builder()
    d1, d2 = b.add(metric=0.5), b.add(metric=0.6)
    good = b.add(d1, metric=0.9)
    b.add(d2, metric=0.55)
    first = policy.select(b.tree, random.Random(1))
    assert first == Action("improve", good)
    assert policy.select(b.tree, random.Random(2)) == first, "no randomness: the tree decides"


def test_mcts_debug_chain_is_closed_at_the_depth_limit():
    b = Builder()
    d = b.add(metric=0.5)
    bug = b.add(d, status="buggy")  # fails to beat the draft: with patience 1 the draft is spent
    last = b.add(bug, status="buggy")  # debug depth 1
    b.tree.drafts_exhausted = True
    assert MCTSPolicy(num_drafts=1, patience=1, max_debug_depth=2).select(b.tree, rng()) == Action("debug", last)
    limited = MCTSPolicy(num_drafts=1, patience=1, max_debug_depth=1)
    assert limited.select(b.tree, rng()) is None, "the chain is at its limit and nothing else is open"
    assert b.tree.nodes[bug].closed and b.tree.nodes[last].closed and b.tree.nodes[d].closed
    other = b.add(metric=0.2)
    assert not b.tree.nodes[other].closed
    assert limited.select(b.tree, rng()) == Action("improve", other)


def test_mcts_virtual_loss_spreads_parallel_selections():
    # Four drafts that did about equally well: four workers should not all pile onto one.
    policy, b = MCTSPolicy(num_drafts=4, virtual_loss=1.0), Builder()
    for i in range(4):
        b.add(metric=0.5 + i / 1000)
    for i in range(4):
        b.add(i + 1, metric=0.4)  # one worse child each
    alone = {policy.select(b.tree, rng()) for _ in range(4)}
    assert len(alone) == 1, "with nothing in flight the choice is the same every time"
    branches = []
    for _ in range(4):
        action = policy.select(b.tree, rng())
        branches.append(b.tree.nodes[action.parent_id].root_id)
        b.apply(action)  # in flight from now on
    assert sorted(branches) == [1, 2, 3, 4], branches
    assert [b.tree.nodes[i].inflight_count for i in (1, 2, 3, 4)] == [1, 1, 1, 1]


def test_mcts_progressive_widening_limits_children():
    b = Builder()
    best = b.add(metric=0.9)
    b.add(metric=0.1)
    c1, c2 = b.add(best, metric=0.2), b.add(best, metric=0.3)
    b.tree.drafts_exhausted = True
    # visits of the best subtree: 3, so widen_c=1 allows int(sqrt(3)) = 1 child: it has 2.
    narrow = MCTSPolicy(num_drafts=1, widen_c=1.0, widen_alpha=0.5).select(b.tree, rng())
    assert narrow is not None and narrow.parent_id in (c1, c2)
    wide = MCTSPolicy(num_drafts=1, widen_c=2.0, widen_alpha=0.5).select(b.tree, rng())
    assert wide == Action("improve", best)


def test_mcts_patience_moves_the_search_off_a_node():
    b = Builder()
    best = b.add(metric=0.9)
    kids = [b.add(best, metric=0.5 + i / 100) for i in range(3)]
    b.tree.drafts_exhausted = True
    patient = MCTSPolicy(num_drafts=1, patience=4, widen_c=10.0)
    assert patient.select(b.tree, rng()) == Action("improve", best)
    impatient = MCTSPolicy(num_drafts=1, patience=3, widen_c=10.0)
    assert impatient.select(b.tree, rng()) == Action("improve", kids[-1]), "the best of its children next"
    assert b.tree.nodes[best].sub_open_best == 0.52


def test_mcts_root_drafts_more_as_the_tree_grows():
    b = Builder()
    d = b.add(metric=0.5)
    for i in range(30):
        b.add(d, metric=0.4)
    policy = MCTSPolicy(num_drafts=1, c_root=1.0, patience=100)
    assert policy.select(b.tree, rng()) == Action("draft"), "one branch, 31 visits: room for a restart"
    assert MCTSPolicy(num_drafts=1, root_widen_c=0.0, patience=100).select(b.tree, rng()) != Action("draft")


def test_mcts_minimize_prefers_the_lower_metric():
    b = Builder("minimize")
    lo, hi = b.add(metric=0.1), b.add(metric=0.9)
    assert MCTSPolicy(num_drafts=2).select(b.tree, rng()) == Action("improve", lo)
    assert hi
