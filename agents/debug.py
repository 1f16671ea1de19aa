"""Debug: fix a node that crashed, timed out or wrote no valid metric."""

from __future__ import annotations

from agents import prompts
from agents.base import ExpansionContext, ExpansionError, Proposal
from agents.extract import ask_code, extract_plan


async def propose(client, ctx: ExpansionContext, *, attempts: int = 2) -> Proposal:  # noqa: ANN001 - an LLMClient
    """The buggy parent's script, repaired from its error and output tails."""
    buggy = ctx.parent
    if buggy is None or not buggy.code:
        raise ExpansionError("debug needs a parent node with code")
    earlier = [n for n in ctx.related if n.operator == "debug" and n.parent_id == buggy.id]
    msgs = prompts.messages(
        prompts.SYSTEM_CODE, prompts.idea_text(ctx.idea), prompts.protocol(ctx.idea),
        f"This script (node {buggy.id}) failed:\n" + prompts.code_block(buggy.code),
        prompts.outcome_text(buggy),
        prompts.extra(prompts.memory(earlier, title="Earlier fixes of this node (they did not work)")),
        prompts.extra(ctx.lessons), prompts.repeat_note(ctx),
        "Task: find the cause of the failure and fix it. Keep the experiment the same otherwise; "
        "if it timed out, make it cheaper. The fixed script must still write metrics.json.",
        prompts.REPLY_FORMAT,
    )
    reply, code = await ask_code(client, msgs, purpose="debug", attempts=attempts)
    return Proposal(plan=extract_plan(reply) or f"Fix node {buggy.id}.", code=code,
                    params=prompts.params_in(code, ctx.idea))
