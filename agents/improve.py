"""Improve: one focused change to a working node, informed by its reviews and the tree nearby."""

from __future__ import annotations

from agents import prompts
from agents.base import ExpansionContext, ExpansionError, Proposal
from agents.extract import ask_code, extract_plan


async def propose(client, ctx: ExpansionContext, *, attempts: int = 2) -> Proposal:  # noqa: ANN001 - an LLMClient
    """The parent's script with one change meant to improve the metric."""
    parent = ctx.parent
    if parent is None or not parent.code:
        raise ExpansionError("improve needs a parent node with code")
    direction = "raise" if ctx.idea.metric.direction == "maximize" else "lower"
    msgs = prompts.messages(
        prompts.SYSTEM_CODE, prompts.idea_text(ctx.idea), prompts.protocol(ctx.idea),
        f"Current script (node {parent.id}):\n" + prompts.code_block(parent.code),
        prompts.outcome_text(parent),
        prompts.feedback_text(prompts.feedback_for(ctx, parent.id)),
        prompts.extra(prompts.memory([*ctx.ancestors, *ctx.related])),
        prompts.extra(ctx.lessons), prompts.repeat_note(ctx),
        f"Task: propose ONE focused change that should {direction} {ctx.idea.metric.name}, different from "
        "what was already tried, and write the full new script with that change.",
        prompts.REPLY_FORMAT,
    )
    reply, code = await ask_code(client, msgs, purpose="improve", attempts=attempts)
    return Proposal(plan=extract_plan(reply) or f"Improve node {parent.id}.", code=code,
                    params=prompts.params_in(code, ctx.idea))
