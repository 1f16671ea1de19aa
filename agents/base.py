"""What an agent is given to expand a node, and what it must return."""

from __future__ import annotations

import ast
import functools
import hashlib
from dataclasses import dataclass, field
from typing import Protocol

from pydantic import BaseModel, Field

from runs.models import Idea, Node, ParamValue


class Proposal(BaseModel):
    """A new node's plan and complete experiment code."""

    plan: str = Field(min_length=1)
    code: str = Field(min_length=1)
    params: dict[str, ParamValue] = Field(default_factory=dict)

    @functools.cached_property
    def key(self) -> str:
        """``code_key(self.code)``, computed once: the engine checks it for a duplicate, then stores it."""
        return code_key(self.code)


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
    partner: Node | None = None  # crossover: the second parent
    lessons: str = ""  # what the whole tree taught so far (agents.memory), bounded
    duplicate_of: int | None = None  # the agent's last proposal repeated this node: ask for something else


class Agent(Protocol):
    """Turns a selected action into a proposal (draft, improve, debug, tune, ablate)."""

    name: str

    async def propose(self, ctx: ExpansionContext) -> Proposal:
        """A proposal for ``ctx.operator`` applied to ``ctx.parent``, or ExpansionError."""
        ...


def params_key(params: dict[str, ParamValue]) -> str:
    """A canonical string for a parameter set, to tell whether it was tried already."""
    return repr(sorted(params.items()))


def code_key(code: str) -> str:
    """A hash of ``code`` that ignores comments, blank lines, formatting and docstrings.

    Two proposals with the same key are the same experiment: the second is not run.
    """
    try:
        tree = ast.parse(code)
    except (SyntaxError, ValueError):
        text = "\n".join(" ".join(line.split()) for line in code.splitlines() if line.strip())
    else:
        _strip_docstrings(tree)
        text = ast.dump(tree, annotate_fields=False)
    return hashlib.sha256(text.encode()).hexdigest()[:24]


def _strip_docstrings(tree: ast.Module) -> None:
    """Drop the leading string statement of every statement body.

    Statements nest only in statement lists, never in expressions, so walking those lists
    reaches every body (``ast.walk`` would visit every expression node too, at several times
    the cost on a long script).
    """
    stack: list[ast.AST] = [tree]
    while stack:
        node = stack.pop()
        body = getattr(node, "body", None)
        if (isinstance(body, list) and body and isinstance(body[0], ast.Expr)
                and isinstance(body[0].value, ast.Constant) and isinstance(body[0].value.value, str)):
            node.body = body[1:] or [ast.Pass()]  # type: ignore[attr-defined]
        for name in ("body", "orelse", "finalbody", "handlers", "cases"):
            children = getattr(node, name, None)
            if isinstance(children, list):
                stack.extend(c for c in children if isinstance(c, ast.AST))
