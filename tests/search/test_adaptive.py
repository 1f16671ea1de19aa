"""The default policy: greedy while the best improves, widening once it stalls, an ablation at the end."""

from __future__ import annotations

import random

from search.adaptive import AdaptivePolicy
from search.policy import Action, make_policy
from search.tree import SearchTree
from tests.conftest import ROOT
from tests.search.test_policies import Builder


def rng(seed: int = 0) -> random.Random:
    return random.Random(seed)


def climbing(b: Builder, steps: int, *, start: float = 0.5, gain: float = 0.01) -> int:
    """A chain of improvements from one draft, each better than its parent; the last id."""
    node = b.add(metric=start)
    for i in range(steps):
        node = b.add(node, metric=start + gain * (i + 1), operator="improve")
    return node


def test_it_is_the_default_and_takes_the_common_fields():
    policy = make_policy("adaptive", num_drafts=4, debug_prob=0.2, max_debug_depth=2)
    assert isinstance(policy, AdaptivePolicy) and (policy.num_drafts, policy.debug_prob) == (4, 0.2)
    from runs.models import RunConfig

    assert RunConfig().policy == "adaptive"


def test_it_improves_the_best_node_while_the_best_keeps_improving():
    b = Builder()
    b.add(metric=0.1)
    b.add(metric=0.2)
    best = climbing(b, 5)
    policy = AdaptivePolicy(num_drafts=1, debug_prob=0.0)
    assert b.tree.since_best() == 0
    assert {policy.select(b.tree, rng(s)) for s in range(20)} == {Action("improve", best)}


def test_a_stalled_search_widens_with_tune_crossover_other_branches_and_drafts():
    b = Builder()
    other = b.add(metric=0.3)  # another draft's branch
    best = climbing(b, 2)
    for _ in range(8):  # eight children of the best that fail to beat it
        b.add(best, metric=0.4, operator="improve")
    assert b.tree.since_best() == 8
    policy = AdaptivePolicy(num_drafts=1, debug_prob=0.0, stall=8, explore=1.0)
    seen = {policy.select(b.tree, rng(s)) for s in range(60)}
    assert Action("tune", best) in seen
    assert Action("crossover", best, other) in seen
    assert Action("improve", other) in seen
    assert Action("draft") in seen
    # Below the stall threshold it only exploits.
    assert {AdaptivePolicy(num_drafts=1, debug_prob=0.0, stall=9, smooth=0.0).select(b.tree, rng(s))
            for s in range(20)} == {Action("improve", best)}


def test_a_side_operator_with_nothing_left_is_not_asked_again():
    b = Builder()
    b.add(metric=0.3)
    best = climbing(b, 1)
    for _ in range(3):
        b.add(best, metric=0.1, operator="improve")
    b.tree.mark_exhausted(best, "tune")
    b.tree.mark_exhausted(best, "crossover")
    assert not b.tree.nodes[best].exhausted, "a spent side operator does not close the node"
    policy = AdaptivePolicy(num_drafts=1, debug_prob=0.0, stall=1, explore=0.5, smooth=0.0)
    seen = {policy.select(b.tree, rng(s)) for s in range(60)}
    assert not [a for a in seen if a.operator in ("tune", "crossover")]
    assert Action("improve", best) in seen, "the node itself can still be improved"
    assert b.tree.stats_mismatches() == []


def test_it_ablates_the_best_node_once_near_the_end_of_the_budget():
    b = Builder()
    best = climbing(b, 3)
    b.tree.budget = 20
    policy = AdaptivePolicy(num_drafts=1, debug_prob=0.0, ablate_share=0.1)
    assert policy.select(b.tree, rng()) == Action("improve", best), "4 of 20 nodes spent: too early"
    for _ in range(14):
        b.add(best, metric=0.1, operator="improve")
    assert len(b.tree.nodes) == 18
    assert policy.select(b.tree, rng()) == Action("ablate", best)
    b.apply(Action("ablate", best))
    assert policy.select(b.tree, rng()).operator != "ablate", "only one ablation of a node"


def test_no_ablation_while_the_best_is_still_improving():
    # Ablating a node the search is about to leave behind explains nothing the user gets, and
    # costs an improvement step: near the end it ablates only a best that has stood ``stall`` nodes.
    b = Builder()
    best = climbing(b, 17)
    b.tree.budget = 20
    policy = AdaptivePolicy(num_drafts=1, debug_prob=0.0, ablate_share=0.1, stall=8)
    assert policy.select(b.tree, rng()) == Action("improve", best)
    assert AdaptivePolicy(num_drafts=1, debug_prob=0.0, ablate_share=0.1, ablate_after=0).select(
        b.tree, rng()) == Action("ablate", best)


def test_until_it_widens_it_makes_greedys_very_choices():
    # Same tree, same random numbers: without smoothing the two policies agree action by action,
    # so that a paired comparison on one seed measures what widening and ablation change.
    # (Smoothing only moves the node climbed from; it draws no random number.)
    import sys

    sys.path.insert(0, str(ROOT / "bench"))
    from policy_sim import simulate

    from search.greedy import GreedyPolicy

    class Recorder:
        def __init__(self, policy: object) -> None:
            self.policy, self.actions = policy, []

        def select(self, tree: SearchTree, r: random.Random) -> Action | None:
            action = self.policy.select(tree, r)  # type: ignore[attr-defined]
            self.actions.append(action)
            return action

    for seed in range(12):
        for family, workers in (("crashy", 1), ("mesa", 4), ("twopeak", 4)):
            greedy, adaptive = Recorder(GreedyPolicy()), Recorder(AdaptivePolicy(stall=10**6, ablate_share=0.0, smooth=0.0))
            simulate(greedy, family, seed, budget=20, workers=workers)
            simulate(adaptive, family, seed, budget=20, workers=workers)
            assert adaptive.actions == greedy.actions, (family, seed)


def test_no_ablation_on_small_budgets_or_without_one():
    b = Builder()
    best = climbing(b, 3)
    b.tree.budget = 5
    assert AdaptivePolicy(num_drafts=1, debug_prob=0.0).select(b.tree, rng()) == Action("improve", best)
    b.tree.budget = None
    assert AdaptivePolicy(num_drafts=1, debug_prob=0.0).select(b.tree, rng()) == Action("improve", best)


def test_before_anything_works_it_drafts_or_debugs():
    b = Builder()
    policy = AdaptivePolicy(num_drafts=2, debug_prob=1.0)
    for _ in range(2):
        b.apply(policy.select(b.tree, rng()))
    b.tree.update(1, status="buggy")
    b.tree.update(2, status="buggy")
    actions = {policy.select(b.tree, rng(s)) for s in range(20)}
    assert actions <= {Action("debug", 1), Action("debug", 2)} and actions


def test_since_best_counts_by_id_so_a_rebuilt_tree_agrees():
    b = Builder()
    best = climbing(b, 1)
    later = [b.add(best, metric=0.0, operator="improve") for _ in range(3)]
    b.add(best, status="buggy", operator="improve")
    assert b.tree.since_best() == 4
    b.tree.update(later[0], pruned=True)
    assert b.tree.since_best() == 3
    fresh = SearchTree("maximize")
    for node in sorted(b.tree.nodes.values(), key=lambda n: n.id):
        from search.tree import TreeNode

        fresh.add(TreeNode(id=node.id, parent_id=node.parent_id, operator=node.operator, status=node.status,
                           metric=node.metric, pruned=node.pruned))
    assert fresh.since_best() == b.tree.since_best()
    assert b.tree.stats_mismatches() == []


def test_a_best_whose_children_fall_back_is_not_climbed_from_again():
    """Under noise the best measured node is often a lucky draw: its improvements fall back.
    The node climbed from is the best by its metric averaged with its children's (each child
    weighing ``smooth``), so the climb moves to a node that holds up; with no children it is
    the best node, and ``smooth=0`` is greedy's target."""
    b = Builder()
    steady = b.add(metric=0.60)
    held = b.add(steady, metric=0.61, operator="improve")
    b.add(steady, metric=0.59, operator="improve")
    lucky = b.add(metric=0.64)
    policy = AdaptivePolicy(num_drafts=1, debug_prob=0.0, stall=10**6, ablate_share=0.0)
    assert policy.select(b.tree, rng()) == Action("improve", lucky)  # nothing known against it yet
    for m in (0.50, 0.52):
        b.add(lucky, metric=m, operator="improve")
    assert b.tree.best().id == lucky  # still the best measured node, the one a user gets
    # lucky: (0.64 + 0.3 * (0.50 + 0.52)) / 1.6 = 0.591, below held's 0.61
    assert {policy.select(b.tree, rng(s)) for s in range(10)} == {Action("improve", held)}
    assert AdaptivePolicy(num_drafts=1, debug_prob=0.0, stall=10**6, smooth=0.0).select(
        b.tree, rng()) == Action("improve", lucky)
