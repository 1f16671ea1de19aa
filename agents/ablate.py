"""Ablate: remove or replace one component of a good node, never one already ablated nearby."""

from __future__ import annotations

import re

from agents import prompts
from agents.base import ExpansionContext, ExpansionError, NothingToTry, Proposal
from agents.extract import NOTHING_LEFT, ask_checked, extract_header, extract_plan
from runs.models import Node

KEY = "ablation"  # an ablate node's params: {"ablation": component name}


def ablated_names(nodes: list[Node]) -> set[str]:
    """Components already ablated among ``nodes``."""
    return {_norm(str(n.params[KEY])) for n in nodes if n.operator == "ablate" and KEY in n.params}


async def propose(client, ctx: ExpansionContext, *, attempts: int = 2) -> Proposal:  # noqa: ANN001 - an LLMClient
    """The parent's script without one component; params = {"ablation": name}."""
    parent = ctx.parent
    if parent is None or not parent.code:
        raise ExpansionError("ablate needs a parent node with code")
    tried = ablated_names([parent, *ctx.ancestors, *ctx.related])

    def check(reply: str, code: str) -> str | None:
        name = extract_header(reply, "ABLATION")
        if not name:
            return "it has no `ABLATION: component` line"
        if _norm(name) in tried:
            return f"{name} was already ablated here; choose another component"
        return None

    msgs = prompts.messages(
        prompts.SYSTEM_CODE, prompts.idea_text(ctx.idea), prompts.protocol(ctx.idea),
        f"Working script (node {parent.id}):\n" + prompts.code_block(parent.code), prompts.outcome_text(parent),
        "Already ablated here (do not repeat): " + (", ".join(sorted(tried)) or "nothing yet") + ".",
        "Task: an ablation study. Remove or neutralise ONE component of this script (a layer, a "
        "regulariser, a data augmentation, a feature, a training trick) to measure how much it "
        "contributes. Begin your reply with a line `ABLATION: short component name`, then the plan, "
        f"then the full script. If nothing worth ablating is left, reply only {NOTHING_LEFT}.",
        prompts.REPLY_FORMAT,
    )
    got = await ask_checked(client, msgs, check, purpose="ablate", attempts=attempts)
    if got is None:
        raise NothingToTry(f"no component of node {parent.id} left to ablate")
    reply, code = got
    name = (extract_header(reply, "ABLATION") or "").strip()
    plan = extract_plan(reply) or f"Ablate {name} of node {parent.id}."
    return Proposal(plan=f"Ablation: {name}. {plan}", code=code, params={KEY: name})


def _norm(name: str) -> str:
    return re.sub(r"[\s_-]+", " ", name.strip().lower())
