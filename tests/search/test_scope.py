"""Searching within one subtree (a fork's node): every policy stays inside it, drafts nothing,
waits while the subtree is busy, and turns to the whole tree only when the subtree is spent."""

from __future__ import annotations

import random

import pytest

from search.policy import POLICIES, make_policy
from search.scope import SubtreeView, select_within
from tests.search.test_policies import Builder


def sample_tree() -> tuple[Builder, dict[str, int]]:
    """Two drafts; the best node (0.9) is outside the subtree of ``focus`` (0.6)."""
    b = Builder()
    best = b.add(None, "good", 0.9)
    other = b.add(None, "good", 0.5)
    focus = b.add(other, "good", 0.6)
    bug = b.add(focus, "buggy")
    b.add(best, "good", 0.8)
    return b, {"best": best, "other": other, "focus": focus, "bug": bug}


@pytest.mark.parametrize("name", [p for p in POLICIES if p != "drafts"])  # drafts only ever drafts
def test_every_policy_searches_only_the_subtree(name: str) -> None:
    b, ids = sample_tree()
    policy, rng, outcomes = make_policy(name, num_drafts=3), random.Random(1), random.Random(2)
    focus = ids["focus"]
    for _ in range(30):
        action = select_within(policy, b.tree, focus, rng)
        assert action is not None and action.operator != "draft"
        assert focus in b.tree.path_to(action.parent_id), (action, b.tree.path_to(action.parent_id))
        node = b.apply(action)
        # Finish it at once: good (worse or better than the focus) or buggy.
        good = outcomes.random() < 0.7
        b.tree.update(node, status="good" if good else "buggy", metric=outcomes.uniform(0.3, 0.7) if good else None)
    assert b.tree.stats_mismatches() == []


@pytest.mark.parametrize("name", POLICIES)
def test_a_busy_subtree_waits_and_a_spent_one_opens_the_whole_tree(name: str) -> None:
    b, ids = sample_tree()
    policy = make_policy(name, num_drafts=3)
    leaf = b.add(ids["best"], "running")  # a subtree that holds only an in-flight node
    assert select_within(policy, b.tree, leaf, random.Random(0)) is None  # wait for it, do not draft
    b.tree.update(leaf, status="failed")  # nothing ran: the subtree is closed
    action = select_within(policy, b.tree, leaf, random.Random(0))
    assert action is not None and action == policy.select(b.tree, random.Random(0))


def test_the_view_holds_exactly_the_subtree() -> None:
    b, rng = Builder(), random.Random(5)
    for _ in range(200):
        parent = rng.choice([None, *b.tree.nodes]) if b.tree.nodes else None
        status = rng.choice(["good", "buggy", "running", "pending", "failed"])
        b.add(parent, status, rng.random() if status == "good" else None)
    for root in rng.sample(sorted(b.tree.nodes), 20):
        view = SubtreeView(b.tree, root)
        inside = {i for i in b.tree.nodes if root in b.tree.path_to(i)}
        assert {i for i in b.tree.nodes if view.contains(i)} == inside
        assert view.in_flight == b.tree.in_flight & inside
        assert view.buggy_leaves == b.tree.buggy_leaves & inside
        assert [n.id for n in view.ranked()] == [n.id for n in b.tree.ranked() if n.id in inside]
        assert view.visits == b.tree.nodes[root].visits and view.roots == [root]
