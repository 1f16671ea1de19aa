"""The offline stand-in for a review panel: an automatic checklist, and it says so.

Each item checks one mechanical property of the experiments that the run's records can
show: the metric is computed on the split the idea declares, seeds are fixed and repeats
were run, the held-out gap when a held-out script exists, bugs were fixed, flagged nodes
were kept out of the best. It cannot judge whether the idea is sound or the write-up
convincing, and its note says that plainly. Pure: the caller passes what the store holds.
"""

from __future__ import annotations

import ast
import re
from collections import defaultdict
from typing import Literal

from pydantic import BaseModel, Field

from runs.models import Idea, Node, NodeStatus

Status = Literal["pass", "warn", "fail", "n/a"]

NOTE = ("This is an automatic checklist computed from the run's records, not a review. It checks "
        "mechanical properties of the experiments; it cannot judge whether the idea is sound, the "
        "result important or the write-up convincing. Configure a model (--review-model or --model) "
        "for a panel of reviewers.")

_EVAL_WORDS = re.compile(r"val|valid|dev|test|holdout|held|eval", re.IGNORECASE)
_TRAIN_WORDS = re.compile(r"train", re.IGNORECASE)
_SEEDING = re.compile(r"\b(seed|default_rng|manual_seed|random_state|RandomState|PRNGKey)\b")


class CheckItem(BaseModel):
    """One line of the checklist."""

    name: str
    status: Status
    detail: str


class Checklist(BaseModel):
    """The checklist's items and its honest note about what it is."""

    kind: Literal["checklist"] = "checklist"
    items: list[CheckItem] = Field(default_factory=list)
    note: str = NOTE

    def count(self, status: Status) -> int:
        return sum(1 for i in self.items if i.status == status)

    def summary(self) -> str:
        """E.g. ``4 pass, 1 warn, 0 fail``."""
        return ", ".join(f"{self.count(s)} {s}" for s in ("pass", "warn", "fail"))


def bugs_fixed(nodes: list[Node]) -> tuple[int, int]:
    """(buggy nodes that a chain of debug children later fixed, buggy nodes)."""
    children: dict[int, list[Node]] = defaultdict(list)
    for n in nodes:
        if n.parent_id is not None:
            children[n.parent_id].append(n)
    buggy = [n for n in nodes if n.status == NodeStatus.buggy]
    fixed = 0
    for n in buggy:
        stack = [c for c in children[n.id] if c.operator == "debug"]
        while stack:
            c = stack.pop()
            if c.status == NodeStatus.good:
                fixed += 1
                break
            stack.extend(k for k in children[c.id] if k.operator == "debug")
    return fixed, len(buggy)


def run_checklist(idea: Idea, nodes: list[Node], best: Node | None, *, claimed_best_id: int | None = None,
                  repeats: dict[int, list[float]] | None = None, holdout: dict[int, float] | None = None,
                  ) -> Checklist:
    """Check a run. ``best`` carries its code; ``repeats``/``holdout`` map node ids to extra scores."""
    repeats, holdout = repeats or {}, holdout or {}
    items = [
        _split_item(idea, best),
        _seed_item(best),
        _repeat_item(idea, nodes, best, repeats),
        _holdout_item(idea, best, holdout),
        _bug_item(nodes),
        _flag_item(idea, nodes, best, claimed_best_id),
    ]
    return Checklist(items=items)


def _split_item(idea: Idea, best: Node | None) -> CheckItem:
    name = "metric on the declared validation split"
    metric = idea.metric.name
    if best is None:
        return CheckItem(name=name, status="n/a", detail="no node produced a valid metric")
    if idea.task is not None:
        return CheckItem(name=name, status="pass", detail=f"{metric} is the framework's score of the submission on "
                         "training rows it held back, which the nodes never saw")
    if _TRAIN_WORDS.search(metric) and not _EVAL_WORDS.search(metric):
        return CheckItem(name=name, status="fail", detail=f"the metric {metric!r} is named as a training score")
    sources = metric_sources(best.code or "", metric)
    evals = sorted({s for s in sources if _EVAL_WORDS.search(s)})
    trains = sorted({s for s in sources if _TRAIN_WORDS.search(s) and not _EVAL_WORDS.search(s)})
    if evals and not trains:
        return CheckItem(name=name, status="pass",
                         detail=f"the best node computes {metric} from {', '.join(evals[:4])}")
    if trains and not evals:
        return CheckItem(name=name, status="fail",
                         detail=f"the best node computes {metric} from training data ({', '.join(trains[:4])})")
    if trains and evals:
        return CheckItem(name=name, status="warn", detail=f"{metric} is computed from both validation "
                         f"({', '.join(evals[:3])}) and training names ({', '.join(trains[:3])}): check the code")
    return CheckItem(name=name, status="warn",
                     detail=f"could not tell from the best node's code which split {metric} is computed on")


def metric_sources(code: str, metric: str) -> set[str]:
    """Names the value written under ``metric`` is computed from, two assignments deep."""
    try:
        tree = ast.parse(code)
    except (SyntaxError, ValueError):
        return set()
    assigned: dict[str, list[ast.AST]] = defaultdict(list)
    roots: list[ast.AST] = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Dict):
            for key, value in zip(node.keys, node.values):
                if isinstance(key, ast.Constant) and key.value == metric:
                    roots.append(value)
        elif isinstance(node, ast.Call) and any(k.arg == metric for k in node.keywords):  # dict(metric=...)
            roots += [k.value for k in node.keywords if k.arg == metric]
        elif isinstance(node, (ast.Assign, ast.AnnAssign, ast.AugAssign)):
            targets = node.targets if isinstance(node, ast.Assign) else [node.target]
            for t in targets:
                if isinstance(t, ast.Subscript) and isinstance(t.slice, ast.Constant) and t.slice.value == metric:
                    roots.append(node.value)
                for name in _names(t):
                    if node.value is not None:
                        assigned[name].append(node.value)
    found: set[str] = set()
    frontier = roots
    for _ in range(3):
        nxt = []
        for expr in frontier:
            for name in _names(expr):
                if name not in found:
                    found.add(name)
                    nxt += assigned.get(name, [])
        frontier = nxt
    return found


def _names(expr: ast.AST) -> set[str]:
    out = set()
    for n in ast.walk(expr):
        if isinstance(n, ast.Name):
            out.add(n.id)
        elif isinstance(n, ast.Attribute):
            out.add(n.attr)
    return out


def _seed_item(best: Node | None) -> CheckItem:
    name = "random seeds fixed"
    if best is None or not best.code:
        return CheckItem(name=name, status="n/a", detail="no best node with code")
    if _SEEDING.search(best.code):
        return CheckItem(name=name, status="pass", detail="the best node's code sets a random seed")
    return CheckItem(name=name, status="warn", detail="no seeding call found in the best node's code; "
                     "a rerun may give a different result")


def _repeat_item(idea: Idea, nodes: list[Node], best: Node | None, repeats: dict[int, list[float]]) -> CheckItem:
    name = "repeats over seeds"
    if best is None or best.metric is None:
        return CheckItem(name=name, status="n/a", detail="no best node")
    runner = _runner_up(idea, nodes, best)
    margin = abs(best.metric - runner.metric) if runner is not None and runner.metric is not None else None
    values = repeats.get(best.id, [])
    if len(values) < 2:
        tail = (f"; its margin over the next best node ({runner.id}) is {margin:.4g}, which cannot be "
                "compared with seed noise") if margin is not None and runner is not None else ""
        return CheckItem(name=name, status="warn", detail=f"the best node ran with one seed only{tail}")
    mean = sum(values) / len(values)
    std = (sum((v - mean) ** 2 for v in values) / (len(values) - 1)) ** 0.5
    detail = f"the best node ran {len(values)} times: mean {mean:.4g}, std {std:.4g}"
    if margin is not None and std > 0 and margin < std:
        return CheckItem(name=name, status="warn",
                         detail=f"{detail}; its margin over node {runner.id} ({margin:.4g}) is within one std")
    return CheckItem(name=name, status="pass", detail=detail)


def _runner_up(idea: Idea, nodes: list[Node], best: Node) -> Node | None:
    return next((n for n in idea.metric.rank(nodes) if n.id != best.id), None)


def _holdout_item(idea: Idea, best: Node | None, holdout: dict[int, float]) -> CheckItem:
    name = "held-out gap"
    if not idea.has_holdout:
        return CheckItem(name=name, status="n/a", detail="the idea declares no held-out script, so the reported "
                         "metric is the validation score the search selected on (optimistic)")
    if best is None or best.metric is None:
        return CheckItem(name=name, status="n/a", detail="no best node")
    if best.id not in holdout:
        return CheckItem(name=name, status="fail", detail="a held-out script exists but the best node has no "
                         "held-out score")
    value = holdout[best.id]
    gap = value - best.metric
    worse = gap < 0 if idea.metric.direction == "maximize" else gap > 0
    return CheckItem(name=name, status="pass", detail=f"held-out {idea.metric.name} {value:.4g} against "
                     f"validation {best.metric:.4g}: {'worse' if worse else 'no worse'} by {abs(gap):.4g}")


def _bug_item(nodes: list[Node]) -> CheckItem:
    name = "bugs fixed"
    fixed, total = bugs_fixed(nodes)
    if total == 0:
        return CheckItem(name=name, status="pass", detail="no node crashed or failed to report the metric")
    detail = f"{fixed} of {total} buggy nodes were fixed by a debug step"
    return CheckItem(name=name, status="pass" if fixed else "warn", detail=detail)


def _flag_item(idea: Idea, nodes: list[Node], best: Node | None, claimed: int | None) -> CheckItem:
    name = "flagged nodes excluded from best"
    by_id = {n.id: n for n in nodes}
    if claimed is not None and claimed in by_id:
        c = by_id[claimed]
        if c.status != NodeStatus.good:
            return CheckItem(name=name, status="fail", detail=f"the run names node {claimed} as best, but it is "
                             f"{c.status.value}")
        if c.pruned:
            return CheckItem(name=name, status="warn", detail=f"the run's best node {claimed} was pruned")
    flagged = [n for n in nodes if n.status == NodeStatus.flagged]
    if not flagged:
        return CheckItem(name=name, status="pass", detail="no node was flagged by a reviewer")
    better = [n for n in flagged if n.metric is not None and best is not None and best.metric is not None
              and idea.metric.better(n.metric, best.metric)]
    detail = f"{len(flagged)} flagged nodes, none chosen as best"
    if better:
        detail += f"; {len(better)} of them scored better than the best and were excluded"
    return CheckItem(name=name, status="pass", detail=detail)
