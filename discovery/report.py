"""The write-up of a run: ``report.md`` and its figures, made only from what the store holds."""

from __future__ import annotations

import shlex
from pathlib import Path

from discovery.durations import format_duration
from runs.models import Node, NodeStatus, Run
from runs.store import RunStore

_TOP = 10


def write_report(root: str | Path, run_id: str) -> Path:
    """Write ``<root>/<run>/report/report.md`` with figures; return its path."""
    store = RunStore(root, readonly=True)
    try:
        run = store.get_run(run_id)
        nodes = store.nodes(run_id)
        out = store.run_dir(run_id) / "report"
        out.mkdir(parents=True, exist_ok=True)
        figures = _figures(run, nodes, out)
        text = _markdown(store, run, nodes, figures)
        path = out / "report.md"
        path.write_text(text, encoding="utf-8")
        return path
    finally:
        store.close()


def ranked(run: Run, nodes: list[Node]) -> list[Node]:
    """Valid nodes, best first."""
    good = [n for n in nodes if n.status == NodeStatus.good and n.metric is not None and not n.pruned]
    return sorted(good, key=lambda n: n.metric, reverse=run.idea.metric.direction == "maximize")


def best_so_far(run: Run, nodes: list[Node]) -> list[tuple[int, float, float]]:
    """(nodes finished, seconds since start, best metric) at each improvement."""
    better = run.idea.metric.better
    finished = sorted((n for n in nodes if n.finished_at is not None), key=lambda n: n.finished_at or 0)
    points: list[tuple[int, float, float]] = []
    best: float | None = None
    for i, n in enumerate(finished, 1):
        if n.status == NodeStatus.good and n.metric is not None and (best is None or better(n.metric, best)):
            best = n.metric
        if best is not None:
            points.append((i, (n.finished_at or 0) - run.created_at, best))
    return points


def _figures(run: Run, nodes: list[Node], out: Path) -> dict[str, str]:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    figures: dict[str, str] = {}
    points = best_so_far(run, nodes)
    name = run.idea.metric.name
    if points:
        for key, col, label in (("best_vs_nodes", 0, "nodes finished"), ("best_vs_time", 1, "seconds since start")):
            fig, ax = plt.subplots(figsize=(6, 3.5))
            ax.step([p[col] for p in points], [p[2] for p in points], where="post", color="tab:blue")
            ax.set_xlabel(label)
            ax.set_ylabel(f"best {name}")
            ax.set_title(f"Best {name} ({run.idea.metric.direction}) so far")
            ax.grid(alpha=0.3)
            fig.tight_layout()
            fig.savefig(out / f"{key}.png", dpi=110)
            plt.close(fig)
            figures[key] = f"{key}.png"
    if nodes:
        _tree_figure(run, nodes, out / "tree.png")
        figures["tree"] = "tree.png"
    return figures


def _tree_figure(run: Run, nodes: list[Node], path: Path) -> None:
    import matplotlib.pyplot as plt
    import networkx as nx

    graph = nx.DiGraph()
    graph.add_node(0)  # the idea itself: every draft hangs from it
    for n in nodes:
        graph.add_edge(n.parent_id or 0, n.id)
    pos = _tree_layout(graph)
    metrics = {n.id: n.metric for n in nodes if n.status == NodeStatus.good and n.metric is not None}
    fig, ax = plt.subplots(figsize=(min(30, 4 + 0.25 * len(nodes)), 5))
    nx.draw_networkx_edges(graph, pos, ax=ax, arrows=False, edge_color="#999999", width=0.8)
    others = [i for i in graph.nodes if i and i not in metrics]
    nx.draw_networkx_nodes(graph, pos, nodelist=[0], ax=ax, node_color="#777777", node_size=80, node_shape="s")
    if others:
        nx.draw_networkx_nodes(graph, pos, nodelist=others, ax=ax, node_color="#d62728", node_size=60,
                               node_shape="x")
    if metrics:
        ids = list(metrics)
        cmap = plt.cm.viridis if run.idea.metric.direction == "maximize" else plt.cm.viridis_r
        drawn = nx.draw_networkx_nodes(graph, pos, nodelist=ids, node_color=[metrics[i] for i in ids],
                                       cmap=cmap, ax=ax, node_size=90)
        fig.colorbar(drawn, ax=ax, label=run.idea.metric.name)
    if len(nodes) <= 60:
        nx.draw_networkx_labels(graph, pos, labels={i: str(i) for i in graph.nodes if i}, font_size=6, ax=ax)
    ax.set_title("Search tree (grey square: the idea; colour: metric; red x: no valid metric)")
    ax.axis("off")
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def _tree_layout(graph) -> dict[int, tuple[float, float]]:  # noqa: ANN001 - a networkx DiGraph
    """Leaves spread evenly left to right; parents centred over their children."""
    import networkx as nx

    pos: dict[int, tuple[float, float]] = {}
    next_x = 0.0
    depth = nx.shortest_path_length(graph, 0)
    for node in nx.dfs_postorder_nodes(graph, 0):
        kids = list(graph.successors(node))
        if kids:
            x = sum(pos[k][0] for k in kids) / len(kids)
        else:
            x, next_x = next_x, next_x + 1.0
        pos[node] = (x, -float(depth[node]))
    return pos


def _markdown(store: RunStore, run: Run, nodes: list[Node], figures: dict[str, str]) -> str:
    idea, metric = run.idea, run.idea.metric
    top = ranked(run, nodes)
    best = top[0] if top else None
    counts: dict[str, int] = {}
    for n in nodes:
        counts[n.status.value] = counts.get(n.status.value, 0) + 1
    lines = [f"# {idea.title}", "", f"Run `{run.id}` ({run.status}), searched with the `{run.config.policy}` "
             f"policy and the `{run.agent}` agent in the `{run.workspace}` workspace.", ""]
    if idea.hypothesis:
        lines += ["## Hypothesis", "", idea.hypothesis, ""]
    lines += ["## Outcome", ""]
    lines.append(f"- Nodes: {len(nodes)} (" + ", ".join(f"{v} {k}" for k, v in sorted(counts.items())) + ")")
    lines.append(f"- Time searching: {format_duration(run.elapsed)}")
    lines.append(f"- Metric: `{metric.name}`, to {metric.direction}")
    drafts = [n for n in nodes if n.operator == "draft" and n.status == NodeStatus.good and n.metric is not None]
    first = min(drafts, key=lambda n: n.id) if drafts else None
    if best is not None:
        lines.append(f"- Best: node {best.id}, `{metric.name}` = {best.metric:.6g}")
        if first is not None and first.id != best.id:
            lines.append(f"- First draft (node {first.id}): `{metric.name}` = {first.metric:.6g}")
    else:
        lines.append("- No node produced a valid metric.")
    lines.append("")
    if figures:
        lines += ["## Figures", ""]
        for key, title in (("best_vs_nodes", "Best metric against nodes"), ("best_vs_time", "Best metric against time"),
                           ("tree", "The search tree")):
            if key in figures:
                lines += [f"![{title}]({figures[key]})", ""]
    if top:
        lines += ["## Top nodes", "", f"| node | parent | operator | {metric.name} | plan |", "|---:|---:|---|---:|---|"]
        for n in top[:_TOP]:
            plan = n.plan.replace("|", "\\|").replace("\n", " ")
            lines.append(f"| {n.id} | {n.parent_id or '-'} | {n.operator} | {n.metric:.6g} | {plan} |")
        lines.append("")
    if best is not None:
        path = _path(best, {n.id: n for n in nodes})
        lines += ["## How the search got there", ""]
        for n in path:
            score = f"{n.metric:.6g}" if n.metric is not None else n.status.value
            lines.append(f"1. node {n.id} ({n.operator}, {score}): {n.plan}")
        lines.append("")
        node_dir = store.node_dir(run.id, best.id)
        lines += ["## Reproduce the best node", "", "```sh", f"cd {shlex.quote(str(node_dir))} && python experiment.py",
                  "```", "", "```python", (best.code or "").rstrip(), "```", ""]
    failures = [n for n in nodes if n.status in (NodeStatus.buggy, NodeStatus.failed, NodeStatus.flagged)]
    if failures:
        lines += ["## What failed", ""]
        reasons: dict[str, int] = {}
        for n in failures:
            reason = (n.error or n.status.value).splitlines()[0][:100]
            reasons[reason] = reasons.get(reason, 0) + 1
        for reason, count in sorted(reasons.items(), key=lambda kv: -kv[1])[:10]:
            lines.append(f"- {count} x {reason}")
        lines.append("")
    lines += ["## Limitations", "",
              "- The metric is the one the experiment itself wrote to `metrics.json`; it was not re-measured "
              "on held-out data unless the idea provided a held-out script.",
              "- Each node ran once: differences smaller than the run-to-run noise of the experiment are not evidence.",
              ""]
    return "\n".join(lines)


def _path(node: Node, by_id: dict[int, Node]) -> list[Node]:
    path = [node]
    while path[-1].parent_id is not None and path[-1].parent_id in by_id:
        path.append(by_id[path[-1].parent_id])
    return path[::-1]
