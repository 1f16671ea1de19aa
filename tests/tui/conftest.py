"""Fixture stores for the TUI tests: a small deterministic run, large synthetic trees, a copy of
a real offline run. Every store is a real SQLite file written through RunStore."""

from __future__ import annotations

import io
import shutil
from pathlib import Path

import pytest
from rich.console import Console

from runs.models import Idea, MetricSpec, Node, NodeStatus, Run, RunConfig
from runs.store import RunStore

T0 = 1_767_225_600.0  # 2026-01-01 00:00:00 UTC: fixed so screens are the same on every machine
RUN_ID = "20260101-000000-demo"

CODE = '''import json

LR = {lr}
HIDDEN = {hidden}


def train():
    return 0.5 + LR * HIDDEN / 1000


print(json.dumps({{"score": train()}}))
'''

# (id, parent, operator, status, metric, pruned, lr, hidden)
DEMO_NODES = [
    (1, None, "draft", "good", 0.5, False, 0.1, 32),
    (2, None, "draft", "buggy", None, False, 0.3, 8),
    (3, None, "draft", "good", 0.61, False, 0.01, 64),
    (4, 1, "improve", "good", 0.7, False, 0.3, 32),
    (5, 2, "debug", "good", 0.55, False, 0.3, 16),
    (6, 4, "improve", "running", None, False, 1.0, 32),
    (7, 3, "improve", "flagged", 0.9, False, 0.01, 128),
    (8, 4, "tune", "good", 0.65, True, 0.3, 64),
    (9, 4, "ablate", "pending", None, False, None, None),
]


def demo_run(run_id: str = RUN_ID, *, status: str = "running", budget: int = 20) -> Run:
    idea = Idea(title="Learning rate and width of a tiny model", metric=MetricSpec(name="score"),
                source="examples/demo/idea.md")
    return Run(id=run_id, idea=idea, config=RunConfig(budget=budget, workers=2, seed=0, policy="greedy"), status=status,
               created_at=T0, elapsed=125.0, cost=0.0)


def demo_node(run_id: str, node_id: int, parent: int | None, operator: str, status: str, metric: float | None,
              pruned: bool = False, lr: float | None = 0.1, hidden: int | None = 32) -> Node:
    """A node with fixed timestamps derived from its id."""
    ran = status not in ("pending",)
    finished = status not in ("pending", "running")
    params = {} if lr is None else {"LR": lr, "HIDDEN": hidden}
    return Node(
        run_id=run_id, id=node_id, parent_id=parent, depth=0, operator=operator, status=NodeStatus(status),
        plan=f"{operator} from {parent if parent is not None else 'scratch'}: LR={lr}, HIDDEN={hidden}",
        code=CODE.format(lr=lr, hidden=hidden) if ran else None, params=params, metric=metric,
        metrics={"score": metric, "train_loss": 0.25} if metric is not None else {},
        error="Traceback (most recent call last):\nValueError: shapes do not match" if status == "buggy" else None,
        exit_code=(1 if status == "buggy" else 0) if finished else None, exec_seconds=1.5 if finished else None,
        stdout_tail=f"epoch 1 loss 0.5\nscore {metric}\n" if metric is not None else "",
        stderr_tail="ValueError: shapes do not match\n" if status == "buggy" else "",
        created_at=T0 + node_id, started_at=T0 + node_id + 0.5 if ran else None,
        finished_at=T0 + node_id + 2 if finished else None, pruned=pruned, attempts=1 if ran else 0,
    )


def write_demo(root: Path, *, status: str = "running") -> tuple[Path, str]:
    """The small deterministic run the snapshots and action tests use."""
    store = RunStore(root)
    store.create_run(demo_run(status=status))
    nodes = []
    for node_id, parent, operator, st, metric, pruned, lr, hidden in DEMO_NODES:
        node = demo_node(RUN_ID, node_id, parent, operator, st, metric, pruned, lr, hidden)
        depth = 0 if parent is None else next(n.depth for n in nodes if n.id == parent) + 1
        nodes.append(node.model_copy(update={"depth": depth}))
    store.save_nodes(nodes)
    with store._db.conn:
        store._db["events"].insert_all([
            {"run_id": RUN_ID, "ts": T0 + i, "kind": kind, "node_id": node_id, "message": message}
            for i, (kind, node_id, message) in enumerate([
                ("run_started", None, "greedy policy, offline agent, 2 workers"),
                ("node_finished", 1, "draft -> 0.5"),
                ("node_finished", 2, "draft -> buggy: ValueError: shapes do not match"),
                ("node_finished", 3, "draft -> 0.61"),
                ("node_finished", 4, "improve -> 0.7"),
                ("node_started", 6, "improve: LR=1.0"),
            ])
        ])
    store.close()
    return root, RUN_ID


def write_wide_tree(root: Path, n: int, *, run_id: str = "20260101-000000-wide", fanout: int = 8) -> tuple[Path, str]:
    """A synthetic run of ``n`` finished nodes: 20 drafts, then each node has up to ``fanout`` children."""
    store = RunStore(root)
    store.create_run(demo_run(run_id, budget=n * 2))
    nodes = []
    for i in range(1, n + 1):
        parent = None if i <= 20 else (i - 21) // fanout + 1
        depth = 0 if parent is None else nodes[parent - 1].depth + 1
        metric = round(0.3 + 0.6 * ((i * 7919) % 1000) / 1000, 4)
        status = "buggy" if i % 11 == 0 else "good"
        nodes.append(Node(run_id=run_id, id=i, parent_id=parent, depth=depth,
                          operator="draft" if parent is None else "improve", status=NodeStatus(status),
                          metric=metric if status == "good" else None, plan=f"node {i}", code="print(1)\n",
                          created_at=T0 + i, started_at=T0 + i, finished_at=T0 + i + 0.5))
    store.save_nodes(nodes)
    store.close()
    return root, run_id


@pytest.fixture
def demo_store(tmp_path: Path) -> tuple[Path, str]:
    """(runs folder, run id) of the small running demo run."""
    return write_demo(tmp_path / "runs")


@pytest.fixture
def finished_demo_store(tmp_path: Path) -> tuple[Path, str]:
    """The demo run marked finished, with a write-up on disk."""
    root, run_id = write_demo(tmp_path / "runs", status="finished")
    report = root / run_id / "report"
    report.mkdir(parents=True)
    (report / "report.md").write_text("# Demo write-up\n\nThe best node scored **0.7**.\n", encoding="utf-8")
    return root, run_id


@pytest.fixture
def copied_run(finished_run: tuple[Path, str], tmp_path: Path) -> tuple[Path, str]:
    """A private copy of the session's real offline run, safe to write commands into."""
    root, run_id = finished_run
    target = tmp_path / "runs"
    shutil.copytree(root, target)
    return target, run_id


def text_of(renderable: object, width: int = 120) -> str:
    """What a Rich renderable reads as, without styles."""
    console = Console(width=width, record=True, color_system=None, file=io.StringIO())
    console.print(renderable)
    return console.export_text()


def screen_text(app: object) -> str:
    """The characters on the app's screen right now."""
    strips = app.screen._compositor.render_strips()  # type: ignore[attr-defined]
    return "\n".join("".join(segment.text for segment in strip) for strip in strips)


def notices(app: object) -> list[str]:
    """Messages of the toasts the app has shown and not yet expired."""
    return [str(n.message) for n in app._notifications]  # type: ignore[attr-defined]


def command_rows(root: Path, run_id: str) -> list[tuple[str, int | None]]:
    """(kind, node_id) of every command written for the run, oldest first."""
    store = RunStore(root, readonly=True)
    try:
        return [(k, n) for k, n in store._db.execute(
            "select kind, node_id from commands where run_id = ? order by id", [run_id])]
    finally:
        store.close()
