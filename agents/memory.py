"""Lessons from the whole tree, for the prompts: what worked, what helped, what crashed.

An operator sees its parent's neighbourhood in detail; this adds a short summary of every
branch, so that a fix found in one branch and a crash hit in another are not rediscovered
elsewhere. It is kept incrementally (one ``add`` per finished node, also when a resumed run
is replayed) and its text is bounded whatever the size of the run.
"""

from __future__ import annotations

import re
from collections import Counter, deque
from dataclasses import dataclass, field

from runs.models import MetricSpec, Node, NodeStatus

CAP = 2000  # characters of the lessons text
_PLAN = 140  # characters of a plan in one line
_KEEP = 6  # changes kept that helped, and that hurt
_ERRORS = 5  # most common errors listed
_NUMBERS = re.compile(r"\b\d+(\.\d+)?(e[-+]?\d+)?\b")


@dataclass
class TreeMemory:
    """Counts and short lists over every finished node of a run."""

    metric: MetricSpec
    good: int = 0
    buggy: int = 0
    helped: deque[str] = field(default_factory=lambda: deque(maxlen=_KEEP))
    hurt: deque[str] = field(default_factory=lambda: deque(maxlen=_KEEP))
    errors: Counter[str] = field(default_factory=Counter)
    example: dict[str, int] = field(default_factory=dict)  # error signature -> first node that hit it

    def add(self, node: Node, parent: Node | None) -> None:
        """Take in one finished node (its parent, when it has one, for the comparison)."""
        if node.status == NodeStatus.good and node.metric is not None:
            self.good += 1
            if parent is not None and parent.metric is not None and node.operator != "draft":
                line = f"node {node.id} ({node.operator} of {parent.id}): {_short(node.plan)} -> " \
                       f"{parent.metric:.4g} to {node.metric:.4g}"
                (self.helped if self.metric.better(node.metric, parent.metric) else self.hurt).append(line)
        elif node.status == NodeStatus.buggy:
            self.buggy += 1
            signature = _signature(node.error or "")
            self.errors[signature] += 1
            self.example.setdefault(signature, node.id)

    def text(self, best: list[Node]) -> str:
        """The lessons as a prompt section ('' before anything finished); ``best``: top nodes, best first."""
        if not (self.good or self.buggy):
            return ""
        lines = [f"Lessons from the whole search so far ({self.good} scripts worked, {self.buggy} failed):"]
        best = [n for n in best if n.metric is not None]
        if best:
            lines.append("Best results:")
            lines += [f"- node {n.id} [{n.operator}] {self.metric.name}={n.metric:.4g}: {_short(n.plan)}" for n in best]
        if self.helped:
            lines.append("Changes that helped:")
            lines += [f"- {h}" for h in reversed(self.helped)]
        if self.hurt:
            lines.append("Changes that did not help:")
            lines += [f"- {h}" for h in reversed(self.hurt)]
        if self.errors:
            lines.append("Most common failures:")
            lines += [f"- {n}x {sig} (first in node {self.example[sig]})" for sig, n in self.errors.most_common(_ERRORS)]
        text = "\n".join(lines)
        return text if len(text) <= CAP else text[: CAP - 20].rsplit("\n", 1)[0] + "\n- [...]"


def _short(plan: str) -> str:
    plan = " ".join((plan or "").split())
    return plan if len(plan) <= _PLAN else plan[: _PLAN - 3] + "..."


def _signature(error: str) -> str:
    """An error's kind without the numbers that differ from node to node."""
    line = next((ln for ln in reversed(error.strip().splitlines()) if ln.strip()), "unknown error")
    return _NUMBERS.sub("N", line.strip())[:120]
