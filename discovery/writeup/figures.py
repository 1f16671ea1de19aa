"""The report's figures as PNG files: best metric against nodes and time, the tree coloured by
metric, the metric by operator and by depth, and the plots the best experiments saved."""

from __future__ import annotations

import os
import re
import shutil
import statistics
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from discovery.writeup.facts import Facts
from runs.models import NodeStatus

PLOT_NODES = 3  # best nodes whose own plots are copied into the report
PLOTS_PER_NODE = 4
PLOT_MAX_BYTES = 3_000_000
_SKIP_DIRS = {"tmp", "data", "__pycache__", ".git"}


@dataclass(frozen=True)
class Figure:
    key: str
    path: str  # relative to the report folder
    caption: str


def make_figures(f: Facts, out: Path, deadline: float | None = None,
                 skipped: list[str] | None = None) -> list[Figure]:
    """Draw the run's figures into ``out``; return them in report order.

    With a ``deadline`` (a ``time.time()`` value) no figure is started after it (a run's
    --time limit covers its report); the keys of those left out are added to ``skipped``.
    """
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    name, direction = f.metric_name, f.run.idea.metric.direction

    def curve(key: str, col: int, label: str) -> None:
        fig, ax = plt.subplots(figsize=(6, 3.5))
        ax.step([p[col] for p in f.best_curve], [p[2] for p in f.best_curve], where="post", color="tab:blue")
        ax.set_xlabel(label)
        ax.set_ylabel(f"best {name}")
        ax.set_title(f"Best {name} ({direction}) so far")
        ax.grid(alpha=0.3)
        fig.tight_layout()
        fig.savefig(out / f"{key}.png", dpi=110)
        plt.close(fig)

    plan: list[tuple[Figure, Callable[[], None]]] = []
    if f.best_curve:
        plan += [(Figure("best_vs_nodes", "best_vs_nodes.png", f"Best {name} against the number of nodes finished"),
                  lambda: curve("best_vs_nodes", 0, "nodes finished")),
                 (Figure("best_vs_time", "best_vs_time.png", f"Best {name} against time spent searching"),
                  lambda: curve("best_vs_time", 1, "seconds of search"))]
    if f.nodes:
        plan.append((Figure("tree", "tree.png", "The search tree (grey square: the idea; colour: metric; "
                                                "red x: no valid metric; orange: flagged)"),
                     lambda: tree_figure(f, out / "tree.png")))
    if any(s.metrics for s in f.operators.values()):
        plan.append((Figure("by_operator", "by_operator.png", f"{name} of every valid node, by operator"),
                     lambda: _grouped(f, out / "by_operator.png", by="operator")))
    if any(s.metrics for s in f.depths.values()):
        plan.append((Figure("by_depth", "by_depth.png", f"{name} of every valid node, by depth in the tree"),
                     lambda: _grouped(f, out / "by_depth.png", by="depth")))
    figures: list[Figure] = []
    for figure, draw in plan:
        if deadline is not None and time.time() >= deadline:
            if skipped is not None:
                skipped.append(figure.key)
            continue
        draw()
        figures.append(figure)
    return figures


def _grouped(f: Facts, path: Path, *, by: str) -> None:
    import matplotlib.pyplot as plt

    groups: dict[object, list[float]] = {}
    for n in f.nodes:
        if n.status == NodeStatus.good and n.metric is not None:
            groups.setdefault(n.operator if by == "operator" else n.depth, []).append(n.metric)
    keys = sorted(groups, key=lambda k: (str(type(k)), k))
    fig, ax = plt.subplots(figsize=(6, 3.5))
    best = max if f.maximize else min
    if by == "depth" and len(keys) > 15:
        # Too many depths for a box each: every node as a faint dot, the best and median per depth as lines.
        xs = [k for k in keys for _ in groups[k]]
        ax.scatter(xs, [v for k in keys for v in groups[k]], s=3, alpha=0.15, color="tab:blue", linewidths=0)
        ax.plot(keys, [best(groups[k]) for k in keys], color="red", linewidth=1, label="best")
        ax.plot(keys, [statistics.median(groups[k]) for k in keys], color="black", linewidth=1, label="median")
        ax.set_xlabel(by)
        ax.set_ylabel(f.metric_name)
        ax.legend(loc="best", fontsize=8)
        ax.grid(alpha=0.3)
        fig.tight_layout()
        fig.savefig(path, dpi=110)
        plt.close(fig)
        return
    positions = list(range(1, len(keys) + 1))
    if max(len(v) for v in groups.values()) >= 5:
        ax.boxplot([groups[k] for k in keys], positions=positions, widths=0.5, showfliers=False)
    for pos, k in zip(positions, keys):
        values = groups[k]
        # A fixed jitter pattern: the same run always draws the same figure.
        jitter = [((i * 0.618) % 1 - 0.5) * 0.3 for i in range(len(values))]
        ax.scatter([pos + j for j in jitter], values, s=12 if len(values) < 200 else 3, alpha=0.6 if len(values) < 200
                   else 0.2, color="tab:blue", zorder=3)
    ax.plot(positions, [best(groups[k]) for k in keys], "r_", markersize=18, label="best", zorder=4)
    ax.set_xticks(positions, [str(k) for k in keys])
    ax.set_xlabel(by)
    ax.set_ylabel(f.metric_name)
    ax.legend(loc="best", fontsize=8)
    ax.grid(alpha=0.3, axis="y")
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def tree_figure(f: Facts, path: Path) -> None:
    """The whole tree, leaves spread left to right, nodes coloured by metric."""
    import matplotlib.pyplot as plt
    from matplotlib.collections import LineCollection

    pos = tree_layout([(n.id, n.parent_id if n.parent_id in f.by_id else None) for n in f.nodes])
    big = len(f.nodes) > 300
    fig, ax = plt.subplots(figsize=(min(30, 4 + 0.25 * len(f.nodes)), 5))
    segments = [[pos[n.parent_id if n.parent_id in f.by_id else 0], pos[n.id]] for n in f.nodes]
    ax.add_collection(LineCollection(segments, colors="#999999", linewidths=0.3 if big else 0.8, zorder=1))
    size = 8 if big else 60
    ax.scatter([pos[0][0]], [pos[0][1]], marker="s", s=size * 1.5, color="#777777", zorder=2)
    metrics = [n for n in f.nodes if n.status == NodeStatus.good and n.metric is not None]
    flagged = [n for n in f.nodes if n.status == NodeStatus.flagged]
    others = [n for n in f.nodes
              if n.status != NodeStatus.flagged and (n.status != NodeStatus.good or n.metric is None)]
    if others:
        ax.scatter([pos[n.id][0] for n in others], [pos[n.id][1] for n in others], marker="x", s=size,
                   color="#d62728", zorder=2, linewidths=0.8)
    if flagged:
        ax.scatter([pos[n.id][0] for n in flagged], [pos[n.id][1] for n in flagged], s=size, color="orange", zorder=2)
    if metrics:
        cmap = "viridis" if f.maximize else "viridis_r"
        drawn = ax.scatter([pos[n.id][0] for n in metrics], [pos[n.id][1] for n in metrics],
                           c=[n.metric for n in metrics], cmap=cmap, s=size * 1.5, zorder=3)
        fig.colorbar(drawn, ax=ax, label=f.metric_name)
    if f.best is not None and f.best.id in pos:
        ax.scatter([pos[f.best.id][0]], [pos[f.best.id][1]], s=size * 5, facecolors="none", edgecolors="red",
                   linewidths=1.5, zorder=4)
    if len(f.nodes) <= 60:
        for n in f.nodes:
            ax.annotate(str(n.id), pos[n.id], fontsize=6, ha="center", va="center", xytext=(0, 7),
                        textcoords="offset points")
    ax.set_title("Search tree (best node circled in red)")
    ax.autoscale()
    ax.margins(0.03, 0.1)
    ax.axis("off")
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def tree_layout(edges: list[tuple[int, int | None]]) -> dict[int, tuple[float, float]]:
    """(x, y) per node id: leaves spread evenly, parents centred over their children, y = -depth.

    Node 0 stands for the idea itself, the parent of every draft. Iterative, so deep debug
    chains cannot hit the recursion limit.
    """
    children: dict[int, list[int]] = {0: []}
    for node_id, parent in edges:
        children.setdefault(node_id, [])
        children.setdefault(parent or 0, []).append(node_id)
    pos: dict[int, tuple[float, float]] = {}
    next_x = 0.0
    depth = {0: 0}
    stack: list[tuple[int, bool]] = [(0, False)]
    while stack:
        node, done = stack.pop()
        kids = children.get(node, [])
        if not done:
            stack.append((node, True))
            for k in reversed(kids):
                depth[k] = depth[node] + 1
                stack.append((k, False))
            continue
        if kids:
            x = sum(pos[k][0] for k in kids) / len(kids)
        else:
            x, next_x = next_x, next_x + 1.0
        pos[node] = (x, -float(depth[node]))
    return pos


def node_plots(folder: Path, limit: int = PLOTS_PER_NODE) -> list[Path]:
    """PNG files a node saved in its folder (one level of subfolders), smallest names first."""
    found: list[Path] = []
    try:
        entries = sorted(os.scandir(folder), key=lambda e: e.name)
    except OSError:
        return []
    for entry in entries:
        # Links are not followed: a node could point plot.png at any file of the user's.
        if entry.is_file(follow_symlinks=False) and entry.name.lower().endswith(".png"):
            found.append(Path(entry.path))
        elif entry.is_dir(follow_symlinks=False) and entry.name not in _SKIP_DIRS:
            try:
                found += sorted(Path(e.path) for e in os.scandir(entry.path)
                                if e.is_file(follow_symlinks=False) and e.name.lower().endswith(".png"))
            except OSError:
                continue
        if len(found) >= limit:
            break
    return [p for p in found[:limit] if 0 < p.stat().st_size <= PLOT_MAX_BYTES]


def copy_best_plots(f: Facts, out: Path) -> list[Figure]:
    """Copy the plots saved by the best nodes into ``out/plots``; return them as figures."""
    figures: list[Figure] = []
    target = out / "plots"
    if target.exists():
        shutil.rmtree(target)  # plots of an earlier report may belong to nodes no longer best
    chosen = [f.best] if f.best is not None else []
    chosen += [n for n in f.ranked if f.best is None or n.id != f.best.id][: PLOT_NODES - len(chosen)]
    for n in chosen:
        for src in node_plots(f.node_dir(n.id)):
            target.mkdir(exist_ok=True)
            rel = src.relative_to(f.node_dir(n.id)).as_posix()
            name = f"node{n.id:05d}_" + re.sub(r"[^A-Za-z0-9.-]+", "-", rel)
            shutil.copyfile(src, target / name)
            role = "the best node" if f.best is not None and n.id == f.best.id else "a top node"
            metric = f"{n.metric:.6g}" if n.metric is not None else n.status.value
            figures.append(Figure(f"plot-{n.id}-{rel}", f"plots/{name}",
                                  f"`{rel}`, saved by node {n.id} ({role}, {f.metric_name} {metric})"))
    return figures
