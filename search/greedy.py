"""AIDE's greedy policy: a few drafts, debug buggy leaves now and then, else improve the best."""

from __future__ import annotations

import random
from dataclasses import dataclass
from typing import Any

from search.base import DEFAULT_DRAFTS, Action
from search.tree import SearchTree


@dataclass
class GreedyPolicy:
    """``num_drafts`` drafts first; then with ``debug_prob`` debug a buggy leaf whose debug
    chain is shorter than ``max_debug_depth``; otherwise improve the best valid node."""

    num_drafts: int = DEFAULT_DRAFTS
    debug_prob: float = 0.5
    max_debug_depth: int = 3
    name: str = "greedy"

    @classmethod
    def from_params(cls, params: dict[str, Any]) -> GreedyPolicy:
        keys = ("num_drafts", "debug_prob", "max_debug_depth")
        return cls(**{k: params[k] for k in keys if k in params})

    def select(self, tree: SearchTree, rng: random.Random) -> Action | None:
        can_draft = not tree.drafts_exhausted
        if can_draft and tree.num_drafts < self.num_drafts:
            return Action("draft")
        if rng.random() < self.debug_prob:
            debuggable = [
                i for i in tree.buggy_leaves
                if tree.nodes[i].debug_depth < self.max_debug_depth and not tree.nodes[i].exhausted
            ]
            if debuggable:
                return Action("debug", rng.choice(sorted(debuggable)))
        best = tree.best_open()
        if best is not None:
            return Action("improve", best.id)
        return Action("draft") if can_draft else None
