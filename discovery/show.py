"""Text views of a run and of one node, for ``discover show``."""

from __future__ import annotations

import json

from discovery.progress import summary_table
from runs.models import LLMCallRecord, NodeStatus
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
    if run.isolation:
        lines.append(f"  isolation: {run.isolation}")
    if run.parent_run_id:
        lines.append(f"  forked from {run.parent_run_id} node {run.parent_node_id}")
    lines += ["", summary_table(store, run_id)]
    lines += _final_lines(store, run_id, {n.id: n for n in nodes})
    from discovery.writeup.review import review_summary

    review = review_summary(store.run_dir(run_id) / "report", store, run_id)
    if review:
        lines += ["", *review]
    lines += _paper_lines(store, run_id)
    lines += ["", "tree:"]
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
    if n.value is not None:
        lines += ["", f"value agent: {n.value:.2f}"]
        lines += [f"  {v.stage}: {v.value:.2f} {v.explanation}" for v in store.value_estimates(run_id, n.id)]
    reviews = store.reviews(run_id, n.id)
    if reviews:
        lines += ["", "reviews:"]
        for r in reviews:
            lines.append(f"  {r.reviewer} ({r.model}): {r.verdict} {r.score or 0:g}/10 {r.summary}")
            lines += [f"    [{i.get('severity', 'minor')}] {i.get('description', '')}" for i in r.issues]
    calls = store.llm_calls(run_id, n.id)
    if calls:
        lines += ["", "llm calls:"]
        by_role: dict[str | None, list[LLMCallRecord]] = {}
        for c in calls:
            by_role.setdefault(c.role, []).append(c)
        for role, rows in by_role.items():
            tokens = sum((c.tokens_in or 0) + (c.tokens_out or 0) for c in rows)
            cost = sum(c.cost or 0.0 for c in rows)
            errors = sum(1 for c in rows if c.error)
            lines.append(f"  {role}: {len(rows)} calls, {tokens} tokens, ${cost:.5f}"
                         + (f", {errors} failed" if errors else ""))
    if n.status != NodeStatus.pending:
        lines += ["", "code:", n.code or "(none)"]
    if n.stdout_tail:
        lines += ["", "stdout (tail):", n.stdout_tail.rstrip()]
    if n.stderr_tail:
        lines += ["", "stderr (tail):", n.stderr_tail.rstrip()]
    return "\n".join(lines)


def _paper_lines(store: RunStore, run_id: str) -> list[str]:
    """The papers the run used: checked against its idea, or found for its write-up."""
    papers = store.run_papers(run_id)
    if not papers:
        return []
    lines = ["", f"papers ({len(papers)}):"]
    for rp in papers:
        why = {"idea": "idea checked against it", "related": "found for the write-up"}.get(rp.purpose, rp.purpose)
        lines.append(f"  [{why}] {rp.paper.reference}" + (f" ({rp.note})" if rp.note else ""))
    return lines


def _final_lines(store: RunStore, run_id: str, nodes: dict) -> list[str]:  # noqa: ANN001 - {id: Node}
    """Seed re-runs and the held-out result, when the run made them."""
    from discovery.final import summarise

    # A task's test grade is in the summary table's task lines already.
    evaluations = [e for e in store.evaluations(run_id) if e.kind != "test"]
    if not evaluations:
        return []
    lines = ["", "final selection:"]
    for s in sorted(summarise(evaluations, nodes), key=lambda s: s.node_id):
        failed = f", {s.failed} re-runs failed" if s.failed else ""
        lines.append(f"  node {s.node_id}: mean {s.mean:.6g} +/- {s.std:.3g} over {s.n} runs{failed}")
    for e in evaluations:
        if e.kind == "holdout":
            val = nodes[e.node_id].metric
            gap = f", validation - held-out gap {val - e.metric:.4g}" if (val is not None and e.metric is not None) else ""
            lines.append(f"  held-out on node {e.node_id}: {e.metric if e.metric is not None else e.error}{gap}")
    return lines
