"""Lessons from the whole tree: what they hold, and that they stay short however big the run."""

from __future__ import annotations

from agents.memory import CAP, TreeMemory
from runs.models import MetricSpec, Node, NodeStatus


def node(i: int, status: str = "good", metric: float | None = None, parent: int | None = None, plan: str = "",
         error: str | None = None, operator: str = "improve") -> Node:
    return Node(run_id="r", id=i, parent_id=parent, status=NodeStatus(status), metric=metric, plan=plan,
                error=error, operator=operator if parent is not None else "draft")


def test_lessons_name_the_best_what_helped_what_hurt_and_common_failures():
    memory = TreeMemory(MetricSpec(name="acc", direction="maximize"))
    assert memory.text([]) == "", "nothing finished yet: no lessons"
    root = node(1, metric=0.5, plan="baseline")
    up = node(2, metric=0.7, parent=1, plan="wider layer")
    down = node(3, metric=0.4, parent=1, plan="no momentum")
    memory.add(root, None)
    memory.add(up, root)
    memory.add(down, root)
    for i in range(4, 7):
        memory.add(node(i, "buggy", parent=1, error=f"Traceback...\nRuntimeError: CUDA out of memory at step {i * 10}"),
                   root)
    memory.add(node(7, "buggy", parent=1, error="NameError: name 'x' is not defined"), root)
    text = memory.text([up, root])
    assert "3 scripts worked, 4 failed" in text
    assert "node 2 [improve] acc=0.7: wider layer" in text
    assert "Changes that helped:\n- node 2 (improve of 1): wider layer -> 0.5 to 0.7" in text
    assert "Changes that did not help:\n- node 3 (improve of 1): no momentum -> 0.5 to 0.4" in text
    # Failures that differ only in their numbers are one lesson, counted.
    assert "3x RuntimeError: CUDA out of memory at step N (first in node 4)" in text
    assert "1x NameError" in text


def test_minimising_reads_lower_as_better():
    memory = TreeMemory(MetricSpec(name="loss", direction="minimize"))
    a, b = node(1, metric=1.0), node(2, metric=0.5, parent=1, plan="smaller lr")
    memory.add(a, None)
    memory.add(b, a)
    assert "Changes that helped:\n- node 2" in memory.text([b])


def test_lessons_stay_bounded_for_a_huge_tree_with_long_plans_and_errors():
    memory = TreeMemory(MetricSpec(name="acc"))
    parent = node(1, metric=0.0, plan="x" * 5000)
    memory.add(parent, None)
    best = []
    for i in range(2, 10_002):
        if i % 3:
            n = node(i, metric=(i % 97) / 100, parent=1, plan="change " * 400)
        else:
            n = node(i, "buggy", parent=1, error=f"Error kind {i % 50}: " + "detail " * 300)
        memory.add(n, parent)
        if i < 6:
            best.append(n)
    text = memory.text(best)
    assert len(text) <= CAP
    assert text.startswith("Lessons from the whole search so far")
    assert text.endswith("- [...]") or "Most common failures" in text
