"""The simplest baseline: only new drafts, the best of N independent tries wins."""

from __future__ import annotations

import random
from dataclasses import dataclass

from search.base import DEFAULT_DRAFTS, Action
from search.tree import SearchTree


@dataclass
class DraftsPolicy:
    """Draft every node from scratch; never improve or debug (best of N random drafts).

    It takes the common fields so that every policy is built the same way; with the
    default ``debug_prob`` of 0 they change nothing (``num_drafts`` is all of them).
    """

    num_drafts: int = DEFAULT_DRAFTS
    debug_prob: float = 0.0
    max_debug_depth: int = 3
    name: str = "drafts"

    def select(self, tree: SearchTree, rng: random.Random) -> Action | None:
        """A new draft, while the agent has any left."""
        return None if tree.drafts_exhausted else Action("draft")
