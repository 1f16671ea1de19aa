"""Crossover: combine two good nodes from different branches into one script."""

from __future__ import annotations

from agents import prompts
from agents.base import ExpansionContext, ExpansionError, Proposal
from agents.extract import ask_code, extract_plan


async def propose(client, ctx: ExpansionContext, *, attempts: int = 2) -> Proposal:  # noqa: ANN001 - an LLMClient
    """One script that keeps what works in the parent and in its partner."""
    a, b = ctx.parent, ctx.partner
    if a is None or b is None or not a.code or not b.code:
        raise ExpansionError("crossover needs two parent nodes with code")
    name = ctx.idea.metric.name
    msgs = prompts.messages(
        prompts.SYSTEM_CODE, prompts.idea_text(ctx.idea), prompts.protocol(ctx.idea),
        f"Script A (node {a.id}, {name} = {_metric(a)}):\n" + prompts.code_block(a.code),
        f"Script B (node {b.id}, {name} = {_metric(b)}):\n" + prompts.code_block(b.code),
        prompts.extra(ctx.lessons), prompts.repeat_note(ctx),
        "Task: combine the two working scripts above into one experiment that keeps what makes each of "
        "them work (for example one script's model with the other's training settings or features). "
        "Write the full combined script.",
        prompts.REPLY_FORMAT,
    )
    reply, code = await ask_code(client, msgs, purpose="crossover", attempts=attempts)
    return Proposal(plan=extract_plan(reply) or f"Combine nodes {a.id} and {b.id}.", code=code,
                    params=prompts.params_in(code, ctx.idea))


def _metric(node) -> str:  # noqa: ANN001 - a Node
    return f"{node.metric:.6g}" if node.metric is not None else "unknown"
