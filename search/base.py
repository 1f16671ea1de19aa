"""What a search policy is: the action it returns and the interface it implements.

The policies (search/greedy.py, mcts.py...) import these; the registry (search/policy.py)
imports the policies. Keeping the two apart leaves no import loop between them.
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from typing import Protocol

from search.tree import SearchTree

# Drafts every policy makes before it improves (the run's --num-drafts; runs.models.RunConfig
# and the CLI say the same). Five, not three, as AIDE: where drafts are a lottery (flat or
# noisy landscapes) two more tickets early paid more on the tuning families than two fewer
# improvements cost elsewhere (docs/search.md, "Five drafts").
DEFAULT_DRAFTS = 5


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
