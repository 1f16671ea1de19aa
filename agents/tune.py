"""Tune: change one named hyperparameter of a good node, never one already tuned nearby."""

from __future__ import annotations

import ast
import re

from agents import prompts
from agents.base import ExpansionContext, ExpansionError, NothingToTry, Proposal
from agents.extract import NOTHING_LEFT, ask_checked, extract_header, extract_plan
from agents.params import find_params
from runs.models import Node, ParamValue

_CHANGE = re.compile(r"^([A-Za-z_][\w.]*)\s*(?:=|:|->|to)\s*(.+)$")


def tuned_names(nodes: list[Node]) -> set[str]:
    """Hyperparameter names already tuned among ``nodes`` (a tune node's params name its change)."""
    return {name.lower() for n in nodes if n.operator == "tune" for name in n.params}


def parse_change(text: str | None) -> tuple[str, ParamValue] | None:
    """``NAME = VALUE`` -> (name, value); the value as a Python literal when it is one."""
    match = _CHANGE.match(text or "")
    if not match:
        return None
    raw = match.group(2).strip().rstrip(".")
    try:
        value = ast.literal_eval(raw)
    except (ValueError, SyntaxError):
        value = raw.strip("'\"")
    return match.group(1), value if isinstance(value, (bool, int, float, str)) else raw


async def propose(client, ctx: ExpansionContext, *, attempts: int = 2) -> Proposal:  # noqa: ANN001 - an LLMClient
    """The parent's script with one hyperparameter changed; params = {name: new value}."""
    parent = ctx.parent
    if parent is None or not parent.code:
        raise ExpansionError("tune needs a parent node with code")
    tried = tuned_names([parent, *ctx.ancestors, *ctx.related])
    before = find_params(parent.code)

    def check(reply: str, code: str) -> str | None:
        change = parse_change(extract_header(reply, "CHANGE")) or _single_diff(before, code)
        if change is None:
            return "it has no `CHANGE: NAME = VALUE` line"
        if change[0].lower() in tried:
            return f"{change[0]} was already tuned here; choose another hyperparameter"
        return None

    msgs = prompts.messages(
        prompts.SYSTEM_CODE, prompts.idea_text(ctx.idea), prompts.protocol(ctx.idea),
        f"Working script (node {parent.id}):\n" + prompts.code_block(parent.code), prompts.outcome_text(parent),
        prompts.extra(prompts.memory([*ctx.ancestors, *ctx.related])),
        prompts.extra(ctx.lessons), prompts.repeat_note(ctx),
        "Already tuned here (do not tune these again): " + (", ".join(sorted(tried)) or "nothing yet") + ".",
        "Task: tune ONE hyperparameter (learning rate, width, regularisation, epochs, batch size...). "
        "Begin your reply with a line `CHANGE: NAME = NEW_VALUE`, then the plan, then the full script "
        f"with only that change. If every sensible hyperparameter was tuned already, reply only {NOTHING_LEFT}.",
        prompts.REPLY_FORMAT,
    )
    got = await ask_checked(client, msgs, check, purpose="tune", attempts=attempts)
    if got is None:
        raise NothingToTry(f"no hyperparameter of node {parent.id} left to tune")
    reply, code = got
    name, value = parse_change(extract_header(reply, "CHANGE")) or _single_diff(before, code)  # type: ignore[misc]
    plan = extract_plan(reply) or f"Tune {name} of node {parent.id}."
    return Proposal(plan=f"Tune {name} = {value!r}. {plan}", code=code, params={name: value})


def _single_diff(before: dict[str, ParamValue], code: str) -> tuple[str, ParamValue] | None:
    # No header: when exactly one top-level constant changed, that is the change.
    after = find_params(code)
    diff = [k for k in before if k in after and after[k] != before[k]]
    return (diff[0], after[diff[0]]) if len(diff) == 1 else None
