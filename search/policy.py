"""The registry of search policies by name (the interface they implement is in search/base.py)."""

from __future__ import annotations

from dataclasses import fields
from typing import Any

from search.base import Action, Policy

__all__ = ["POLICIES", "Action", "Policy", "make_policy", "policy_params"]  # Action, Policy: from search.base

POLICIES = ("adaptive", "mcts", "greedy", "bfts", "drafts")


def policy_params(cls: type, params: dict[str, Any]) -> dict[str, Any]:
    """The entries of ``params`` that dataclass ``cls`` has a field for (None means: default)."""
    names = {f.name for f in fields(cls) if f.init and f.name != "name"}
    return {k: v for k, v in params.items() if k in names and v is not None}


def make_policy(name: str, **params: Any) -> Policy:
    """Build the policy called ``name`` with the parameters it understands.

    Every policy takes ``num_drafts`` and ``max_debug_depth``; the others (``debug_prob``,
    ``c_puct`` and friends for mcts) are ignored by policies that have no use for them.
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
