"""The value agent: how promising is a node, 0 to 1, before it runs and again after.

Both estimates are kept so that calibration can be measured later (prediction against
outcome); MCTS-style policies use the estimate as a prior.
"""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, Field

from agents import prompts
from agents.extract import BadJSON, ask_json
from agents.llm import LLMError
from runs.models import Idea, Node


class ValueEstimate(BaseModel):
    """The value agent's judgement of one node."""

    value: float = Field(ge=0, le=1)  # chance-like score that this node leads to a better result
    explanation: str = ""
    stage: Literal["before", "after"] = "before"
    model: str = ""


class _Reply(BaseModel):
    value: float = Field(ge=0, le=1)
    explanation: str = Field(default="", max_length=2000)


async def estimate_value(client, idea: Idea, node: Node, *, stage: Literal["before", "after"],  # noqa: ANN001
                         best: float | None = None) -> ValueEstimate:
    """Estimate ``node``'s promise from its plan and code (``before``), plus its outcome (``after``).

    ``best`` is the best metric so far, for context. Raises LLMError when no valid estimate came.
    """
    if stage == "before":
        task = ("The script has not run yet. Estimate from the plan and code how likely it is to run "
                f"correctly AND beat the best {idea.metric.name} so far.")
        outcome = ""
    else:
        task = ("The script has run. Estimate how promising this node is as a starting point for further "
                "improvement, given its result, its soundness and the room left.")
        outcome = prompts.outcome_text(node)
    best_line = f"Best {idea.metric.name} so far: {best:.6g}." if best is not None else "No valid result yet."
    msgs = prompts.messages(
        prompts.SYSTEM_JUDGE, prompts.idea_text(idea), f"Node {node.id} ({node.operator}). Plan: {node.plan}",
        prompts.code_block(node.code), outcome, best_line, task,
        prompts.json_instructions({"value": "a number from 0 (hopeless) to 1 (very promising)",
                                   "explanation": "one or two sentences"}),
    )
    try:
        reply = await ask_json(client, msgs, _Reply, role="value", purpose=f"value_{stage}")
    except BadJSON as exc:
        raise LLMError(f"value agent: {exc}") from exc
    return ValueEstimate(value=reply.value, explanation=reply.explanation.strip(), stage=stage,
                         model=client.config.model_for("value"))
