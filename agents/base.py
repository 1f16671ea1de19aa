"""What an agent is given to expand a node, and what it must return."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Protocol

from pydantic import BaseModel, Field

from runs.models import Idea, Node, ParamValue


class Proposal(BaseModel):
    """A new node's plan and complete experiment code."""

    plan: str = Field(min_length=1)
    code: str = Field(min_length=1)
    params: dict[str, ParamValue] = Field(default_factory=dict)


class ExpansionError(Exception):
    """The agent could not produce usable code this time (recorded, and the run goes on)."""


class NothingToTry(ExpansionError):
    """The agent has no untried change left from this node: do not ask it again."""


@dataclass
class ExpansionContext:
    """Everything an operator may read. Built by the orchestrator from the store's nodes."""

    idea: Idea
    operator: str
    parent: Node | None
    ancestors: list[Node]  # root first, the parent excluded
    related: list[Node]  # children of the parent and of each ancestor, finished ones
    tried: set[str] = field(default_factory=set)  # param sets already used in this run (params_key)
    seed: int = 0
    feedback: dict[int, list[str]] = field(default_factory=dict)  # reviewers' notes by node id


class Agent(Protocol):
    """Turns a selected action into a proposal (draft, improve, debug, tune, ablate)."""

    name: str

    async def propose(self, ctx: ExpansionContext) -> Proposal:
        """A proposal for ``ctx.operator`` applied to ``ctx.parent``, or ExpansionError."""
        ...


def params_key(params: dict[str, ParamValue]) -> str:
    """A canonical string for a parameter set, to tell whether it was tried already."""
    return repr(sorted(params.items()))
