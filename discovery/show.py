"""Text views of a run and of one node, for ``discover show``."""

from __future__ import annotations

import json

from discovery.progress import summary_table
from runs.models import NodeStatus
from runs.store import RunStore


def show_run(store: RunStore, run_id: str) -> str:
    """The run's idea, config, summary table and its tree as an outline."""
    run = store.get_run(run_id)
    nodes = store.nodes(run_id, with_code=False)
    cfg = run.config
    lines = [
        f"{run.idea.title}",
        f"  idea: {run.idea.source}",
        f"  policy {cfg.policy}, agent {run.agent}, workspace {run.workspace}, workers {cfg.workers}, "
        f"budget {cfg.budget}, seed {cfg.seed}",
    ]
    if run.parent_run_id:
        lines.append(f"  forked from {run.parent_run_id} node {run.parent_node_id}")
    lines += ["", summary_table(store, run_id), "", "tree:"]
    children: dict[int | None, list[int]] = {}
    by_id = {n.id: n for n in nodes}
    for n in nodes:
        children.setdefault(n.parent_id, []).append(n.id)
    stack = [(i, 0) for i in reversed(children.get(None, []))]
    while stack:
        node_id, indent = stack.pop()
        n = by_id[node_id]
        score = f"{n.metric:.6g}" if n.metric is not None else n.status.value
        mark = " *" if node_id == run.best_node_id else ""
        pruned = " (pruned)" if n.pruned else ""
        lines.append(f"{'  ' * indent}- #{n.id} {n.operator} {score}{mark}{pruned}")
        stack.extend((c, indent + 1) for c in reversed(children.get(node_id, [])))
    return "\n".join(lines)


def show_node(store: RunStore, run_id: str, node_id: int) -> str:
    """Everything stored about one node."""
    n = store.get_node(run_id, node_id)
    lines = [
        f"node {n.id} of run {run_id}: {n.operator}, {n.status.value}"
        + (f", {n.metric:.6g}" if n.metric is not None else "") + (" (pruned)" if n.pruned else ""),
        f"  parent: {n.parent_id if n.parent_id is not None else '-'}   depth {n.depth}   "
        f"attempts {n.attempts}   exit {n.exit_code}   ran {n.exec_seconds or 0:.2f}s",
        f"  folder: {store.node_dir(run_id, n.id)}",
        "", "plan:", f"  {n.plan}",
    ]
    if n.params:
        lines += ["", "params:", "  " + json.dumps(n.params)]
    if n.metrics:
        lines += ["", "metrics:", "  " + json.dumps(n.metrics)]
    if n.error:
        lines += ["", "error:", f"  {n.error}"]
    if n.status != NodeStatus.pending:
        lines += ["", "code:", n.code or "(none)"]
    if n.stdout_tail:
        lines += ["", "stdout (tail):", n.stdout_tail.rstrip()]
    if n.stderr_tail:
        lines += ["", "stderr (tail):", n.stderr_tail.rstrip()]
    return "\n".join(lines)
