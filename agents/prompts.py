"""Prompt text shared by the operators, the value agent, the metric reader and the reviewers.

Prompts are built from small pieces so that each operator module stays a few lines: the
idea, the experiment protocol, a node's code and output, and a short memory of the tree.
Long texts are cut, keeping their ends, so a prompt stays bounded however big a run gets.
"""

from __future__ import annotations

import json
from typing import Any

from runs.models import Idea, Node, NodeStatus, ParamValue

SYSTEM_CODE = (
    "You are an expert machine-learning researcher and research engineer. You run experiments "
    "as standalone Python scripts inside a tree search: each script is executed, scored by one "
    "metric, and the best ones are improved further. Write correct, complete, self-contained code."
)
SYSTEM_JUDGE = (
    "You are a careful, sceptical reviewer of machine-learning experiments. You judge from the "
    "evidence given and answer in the exact JSON format asked for."
)

REPLY_FORMAT = (
    "Reply format: first a short plan (2-5 sentences, prose, no code) saying what this script does "
    "and why; then the COMPLETE script in exactly one ```python code block. Nothing after the block."
)

_IDEA_BODY_CAP = 6000
_IDEA_BODY_SHORT = 1500  # each part of the idea, in a prompt cut down to fit a small context
_CODE_CAP = 20000
_TAIL_CAP = 2500
_PLAN_CAP = 300


def cut(text: str, cap: int, *, keep: str = "end") -> str:
    """``text`` cut to about ``cap`` characters, keeping its end (or start), marked where cut."""
    text = text or ""
    if len(text) <= cap:
        return text
    if keep == "start":
        return text[:cap] + f"\n[... {len(text) - cap} characters cut ...]"
    return f"[... {len(text) - cap} characters cut ...]\n" + text[-cap:]


def protocol(idea: Idea) -> str:
    """How a script is run and scored: the contract every script must keep."""
    if idea.task is not None:
        return task_protocol(idea)
    direction = "higher is better" if idea.metric.direction == "maximize" else "lower is better"
    lines = [
        "Experiment protocol:",
        f"- The script runs as `python experiment.py` in its own empty folder, with a limit of "
        f"{idea.time_limit:g} seconds; keep it well inside that.",
        f"- At the end it must write `metrics.json` in the current folder: a JSON object containing "
        f"\"{idea.metric.name}\" as a number ({direction}); other metrics may be added.",
        f"- Compute {idea.metric.name} on held-out validation data, never on the data used for training.",
        "- It may save PNG plots in the current folder; print progress to stdout.",
        "- Fix random seeds so that a rerun gives the same result.",
    ]
    if idea.data:
        from workspace.data import describe_data

        # The same rule the workspaces link data by: files by name, a folder's contents directly.
        lines.append("- Input data is in the folder data/ (read-only; do not copy it), exactly here: "
                     + "; ".join(describe_data(idea.data)) + ".")
    if not idea.network:
        lines.append("- There is no network access: do not download anything; use only installed packages.")
    return "\n".join(lines)


def task_protocol(idea: Idea) -> str:
    """The contract of a dataset task: predict the test rows into submission.csv."""
    task = idea.task
    assert task is not None
    direction = "higher is better" if idea.metric.direction == "maximize" else "lower is better"
    name = {p: p.rstrip("/").rsplit("/", 1)[-1] for p in (task.train, task.test, task.sample_submission)}
    targets = ", ".join(task.targets)
    lines = [
        "Experiment protocol (a dataset task):",
        f"- The script runs as `python experiment.py` in its own empty folder, with a limit of "
        f"{idea.time_limit:g} seconds; keep it well inside that.",
        f"- Data is under data/ (read-only): data/{name[task.train]} (labelled training rows; target column(s): "
        f"{targets}), data/{name[task.test]} (the rows to predict, without labels) and "
        f"data/{name[task.sample_submission]} (the submission format).",
        f"- At the end it must write `submission.csv` in the current folder: the columns of "
        f"data/{name[task.sample_submission]} ({task.id_column}, {targets}), one row per row of "
        f"data/{name[task.test]}, with the same {task.id_column} values.",
        f"- The framework scores submission.csv with {idea.metric.name} ({direction}) on labels the script never "
        "sees; that score is the node's metric. A submission with the wrong shape, or the sample's placeholder "
        "values, makes the node buggy.",
        f"- It may also write `metrics.json` with its own validation estimate (e.g. {{\"{idea.metric.name}\": ...}}), "
        f"computed on a split of data/{name[task.train]}; it is reported but does not drive the search.",
        "- It may save PNG plots in the current folder; print progress to stdout.",
        "- Fix random seeds so that a rerun gives the same result.",
    ]
    others = [p.rstrip("/").rsplit("/", 1)[-1] for p in task.extra_public]
    if others:
        lines.append(f"- Other task files under data/: {', '.join(others)}.")
    if not idea.network:
        lines.append("- There is no network access: do not download anything; use only installed packages.")
    return "\n".join(lines)


def idea_text(idea: Idea) -> Section:
    """The research idea as the agents should read it."""
    parts = [f"# Research idea: {idea.title}"]
    if idea.hypothesis:
        parts.append(f"Hypothesis: {idea.hypothesis.strip()}")
    if idea.experiments:
        parts.append(f"Experiments: {idea.experiments.strip()}")
    if idea.body and idea.body.strip() not in (idea.hypothesis.strip(), idea.experiments.strip()):
        parts.append(cut(idea.body.strip(), _IDEA_BODY_CAP, keep="start"))
    parts.append(f"Metric: {idea.metric.name} ({idea.metric.direction}).")
    if idea.search_space:
        space = ", ".join(f"{k}: {_space(v)}" for k, v in idea.search_space.items())
        parts.append(f"Search space suggested by the researcher: {space}.")
    text = Section("\n\n".join(parts))
    # The short form keeps the start of the idea's prose: its title, hypothesis and first paragraphs.
    text.short = "\n\n".join(cut(p, _IDEA_BODY_SHORT, keep="start") for p in parts)
    return text


def code_block(code: str | None) -> str:
    return f"```python\n{cut(code or '', _CODE_CAP, keep='start').rstrip()}\n```"


def node_line(node: Node) -> str:
    """One line about a node for a memory list: id, operator, outcome, plan."""
    if node.status == NodeStatus.good and node.metric is not None:
        outcome = f"{node.metric:.6g}"
    else:
        why = (node.error or "").splitlines()[0][:120] if node.error else ""
        outcome = node.status.value + (f" ({why})" if why else "")
    params = f" params {json.dumps(node.params)}" if node.params else ""
    plan = cut(" ".join(node.plan.split()), _PLAN_CAP, keep="start")
    return f"- node {node.id} [{node.operator}] -> {outcome}{params}: {plan}"


def memory(nodes: list[Node], *, title: str = "What was already tried nearby") -> str:
    """A short list of what other nodes tried and scored (newest last), or '' when none."""
    seen: dict[int, Node] = {}
    for n in nodes:
        seen.setdefault(n.id, n)
    if not seen:
        return ""
    lines = [node_line(n) for n in sorted(seen.values(), key=lambda n: n.id)[-20:]]
    return f"{title}:\n" + "\n".join(lines)


def repeat_note(ctx: Any) -> str:
    """When the agent's last proposal repeated a node that already ran: ask for something else."""
    dup = getattr(ctx, "duplicate_of", None)
    if dup is None:
        return ""
    return (f"Note: your previous answer was the same experiment as node {dup}, which already ran. "
            "Propose something different this time.")


def outcome_text(node: Node) -> str:
    """What happened when a node ran: status, metric, error and the ends of its output."""
    parts = [f"Status: {node.status.value}" + (f", {node.metric:.6g}" if node.metric is not None else "")]
    if node.exec_seconds is not None:
        parts.append(f"Ran for {node.exec_seconds:.1f} s" + (" and timed out" if node.timed_out else ""))
    if node.error:
        parts.append(f"Error: {node.error}")
    if node.metrics:
        parts.append(f"metrics.json: {cut(json.dumps(node.metrics), 1000, keep='start')}")
    if node.stdout_tail.strip():
        parts.append(f"stdout (end):\n```\n{cut(node.stdout_tail, _TAIL_CAP).rstrip()}\n```")
    if node.stderr_tail.strip():
        parts.append(f"stderr (end):\n```\n{cut(node.stderr_tail, _TAIL_CAP).rstrip()}\n```")
    return "\n".join(parts)


def feedback_text(notes: list[str]) -> str:
    """Reviewers' comments on a node, as a list, or '' when there are none."""
    notes = [n.strip() for n in notes if n and n.strip()]
    if not notes:
        return ""
    return "Reviewers' comments on it:\n" + "\n".join(f"- {cut(n, 600, keep='start')}" for n in notes[:10])


class Section(str):
    """A prompt section with a shorter form (``short``, '' to leave it out) for a model whose
    context the whole prompt does not fit."""

    short: str = ""


def extra(text: str) -> Section:
    """``text`` as a section the prompt can do without (memory, lessons, other drafts)."""
    return Section(text or "")  # its short form is the class's: ''


class Prompt(list):  # type: ignore[type-arg] - a list of chat messages, as litellm takes it
    """Chat messages, and ``short``: the same prompt with every Section in its short form
    (None when nothing could be shortened). ``ask_code``/``ask_json`` send ``short`` when
    the model says the prompt is longer than its context."""

    short: list[dict[str, Any]] | None = None


def messages(system: str, *sections: str) -> Prompt:
    """A system message and one user message made of the non-empty ``sections``."""
    def join(parts: Any) -> str:
        return "\n\n".join(s.strip() for s in parts if s and s.strip())

    body = join(sections)
    out = Prompt([{"role": "system", "content": system}, {"role": "user", "content": body}])
    short = join(s.short if isinstance(s, Section) else s for s in sections)
    if short != body:
        out.short = [{"role": "system", "content": system}, {"role": "user", "content": short}]
    return out


def json_instructions(fields: dict[str, str]) -> str:
    """Ask for a JSON object with these fields (name -> description)."""
    spec = "\n".join(f'  "{k}": {v}' for k, v in fields.items())
    return f"Answer with only a JSON object with these fields:\n{{\n{spec}\n}}"


def params_in(code: str, idea: Idea) -> dict[str, ParamValue]:
    """The search-space constants a script sets at top level (empty when it sets none)."""
    from agents.params import ParamError, find_params

    try:
        found = find_params(code)
    except ParamError:
        return {}
    return {k: found[k] for k in idea.search_space if k in found}


def feedback_for(ctx: Any, node_id: int) -> list[str]:
    """Reviewers' notes on ``node_id`` that the orchestrator put in the context, if any."""
    # ``feedback`` (node id -> notes) is optional in ExpansionContext: read it defensively.
    notes = getattr(ctx, "feedback", None) or {}
    return list(notes.get(node_id, []))


def _space(spec: Any) -> str:
    if isinstance(spec, list):
        return "[" + ", ".join(repr(v) for v in spec) + "]"
    kind = " log" if getattr(spec, "log", False) else ""
    return f"{spec.low:g}..{spec.high:g}{kind}"
