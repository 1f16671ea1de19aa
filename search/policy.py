"""The interface every search policy implements, and the registry of policies by name."""

from __future__ import annotations

import random
from dataclasses import dataclass
from typing import Any, Protocol

from search.tree import SearchTree


@dataclass(frozen=True, slots=True)
class Action:
    """Expand ``parent_id`` (None: a new draft from the root) with ``operator``."""

    operator: str
    parent_id: int | None = None


class Policy(Protocol):
    """Chooses the next expansion from a tree snapshot; pure apart from ``rng``."""

    name: str

    def select(self, tree: SearchTree, rng: random.Random) -> Action | None:
        """The next action, or None when nothing is worth expanding now."""
        ...


POLICIES = ("greedy",)


def make_policy(name: str, **params: Any) -> Policy:
    """Build the policy called ``name`` with the parameters it understands."""
    if name == "greedy":
        from search.greedy import GreedyPolicy

        return GreedyPolicy.from_params(params)
    raise ValueError(f"--policy: unknown policy {name!r} (choose from {', '.join(POLICIES)})")
