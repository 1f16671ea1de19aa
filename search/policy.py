"""The interface every search policy implements, and the registry of policies by name."""

from __future__ import annotations

import random
from dataclasses import dataclass, fields
from typing import Any, Protocol

from search.tree import SearchTree


@dataclass(frozen=True, slots=True)
class Action:
    """Expand ``parent_id`` (None: a new draft from the root) with ``operator``.

    ``partner_id`` is the second parent of a crossover, which combines two nodes.
    """

    operator: str
    parent_id: int | None = None
    partner_id: int | None = None


class Policy(Protocol):
    """Chooses the next expansion from a tree snapshot; pure apart from ``rng``."""

    name: str

    def select(self, tree: SearchTree, rng: random.Random) -> Action | None:
        """The next action, or None when nothing is worth expanding now."""
        ...


POLICIES = ("adaptive", "mcts", "greedy", "bfts", "drafts")


def policy_params(cls: type, params: dict[str, Any]) -> dict[str, Any]:
    """The entries of ``params`` that dataclass ``cls`` has a field for (None means: default)."""
    names = {f.name for f in fields(cls) if f.init and f.name != "name"}
    return {k: v for k, v in params.items() if k in names and v is not None}


def make_policy(name: str, **params: Any) -> Policy:
    """Build the policy called ``name`` with the parameters it understands.

    Every policy takes ``num_drafts``, ``debug_prob`` and ``max_debug_depth``; the others
    (``c_puct`` and friends for mcts) are ignored by policies that have no use for them.
    """
    if name == "greedy":
        from search.greedy import GreedyPolicy

        return GreedyPolicy(**policy_params(GreedyPolicy, params))
    if name == "bfts":
        from search.bfts import BFTSPolicy

        return BFTSPolicy(**policy_params(BFTSPolicy, params))
    if name == "adaptive":
        from search.adaptive import AdaptivePolicy

        return AdaptivePolicy(**policy_params(AdaptivePolicy, params))
    if name == "drafts":
        from search.drafts import DraftsPolicy

        return DraftsPolicy(**policy_params(DraftsPolicy, params))
    if name == "mcts":
        from search.mcts import MCTSPolicy

        return MCTSPolicy(**policy_params(MCTSPolicy, params))
    raise ValueError(f"--policy: unknown policy {name!r} (choose from {', '.join(POLICIES)})")
