"""Draft: write a complete experiment script for the idea (from the baseline when there is one)."""

from __future__ import annotations

from agents import prompts
from agents.base import ExpansionContext, Proposal
from agents.extract import ask_code, extract_plan


async def propose(client, ctx: ExpansionContext, *, attempts: int = 2) -> Proposal:  # noqa: ANN001 - an LLMClient
    """A first script for the idea; other drafts of the run are listed so this one differs."""
    idea = ctx.idea
    if idea.baseline:
        start = ("Start from this baseline script (keep what works, fix what the idea asks to change):\n"
                 + prompts.code_block(idea.baseline))
    else:
        start = "There is no baseline: design the experiment from scratch."
    others = prompts.memory(ctx.related, title="Other drafts of this run (make this one different)")
    msgs = prompts.messages(
        prompts.SYSTEM_CODE, prompts.idea_text(idea), prompts.protocol(idea), start, prompts.extra(others),
        prompts.extra(ctx.lessons), prompts.repeat_note(ctx),
        "Task: write a first complete experiment script that tests the idea and reports the metric.",
        prompts.REPLY_FORMAT,
    )
    reply, code = await ask_code(client, msgs, purpose="draft", attempts=attempts)
    return Proposal(plan=extract_plan(reply) or "Draft a first experiment for the idea.", code=code,
                    params=prompts.params_in(code, idea))
