"""How long one TUI refresh takes on a large live tree.

For each size, a synthetic running run is written to a real store; the app is opened
headless (``App.run_test``); then, repeatedly, another connection changes 50 nodes and adds
10 (as an orchestrator would), and one refresh is timed from the poll until the screen has
processed and painted it. Each size runs in its own process so that peak RSS is its own.

    python bench/tui_refresh.py                     # 1,000 and 10,000 nodes
    python bench/tui_refresh.py --nodes 10000 --repeats 30 --expanded

Columns: ``idle ms`` a refresh that finds nothing; ``poll ms`` the store query and widget
updates; ``refresh ms`` / ``p95 ms`` wall time until the screen is painted; ``cpu ms`` the
process's CPU time for the same (wall time on a busy machine includes waiting for a core).

Target: under 100 ms per refresh at 10,000 nodes. ``--expanded`` adds a row where the user
has opened every subtree, the worst case for Textual's Tree (it relists every open line).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import random
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from runs.models import Idea, MetricSpec, Node, NodeStatus, Run, RunConfig
from runs.store import RunStore

RUN_ID = "bench-tui"
T0 = 1_767_225_600.0
CHANGED, ADDED = 50, 10


def build_store(root: Path, n: int) -> None:
    """``n`` nodes: 20 drafts, then each node gets children at random below earlier nodes."""
    rng = random.Random(0)
    store = RunStore(root)
    idea = Idea(title="TUI refresh benchmark", metric=MetricSpec(name="score"))
    store.create_run(Run(id=RUN_ID, idea=idea, config=RunConfig(budget=n * 2, workers=8), created_at=T0))
    nodes: list[Node] = []
    for i in range(1, n + 1):
        parent = None if i <= 20 else rng.randint(max(1, i - 2000), i - 1)
        depth = 0 if parent is None else nodes[parent - 1].depth + 1
        buggy = rng.random() < 0.2
        nodes.append(Node(
            run_id=RUN_ID, id=i, parent_id=parent, depth=depth, operator="draft" if parent is None else "improve",
            status=NodeStatus.buggy if buggy else NodeStatus.good, metric=None if buggy else rng.random(),
            plan=f"node {i}", code="print('x')\n", created_at=T0 + i, started_at=T0 + i, finished_at=T0 + i + 0.5,
        ))
    store.save_nodes(nodes)
    store.close()


def mutate(writer: RunStore, rng: random.Random, next_id: int, clock: float) -> int:
    """Finish or rescore 50 existing nodes and add 10 running ones, in one transaction."""
    n = next_id - 1
    changed = []
    for node_id in rng.sample(range(1, n + 1), CHANGED):
        node = writer.get_node(RUN_ID, node_id)
        good = rng.random() < 0.8
        changed.append(node.model_copy(update={
            "status": NodeStatus.good if good else NodeStatus.buggy, "metric": rng.random() if good else None,
            "finished_at": clock,
        }))
    for k in range(ADDED):
        parent = rng.randint(1, n)
        changed.append(Node(run_id=RUN_ID, id=next_id + k, parent_id=parent, operator="improve",
                            status=NodeStatus.running, plan="new", created_at=clock, started_at=clock))
    writer.save_nodes(changed)
    return next_id + ADDED


async def settle(pilot) -> None:
    """Until every widget has handled its messages and the screen has laid out and painted.

    ``Pilot.pause`` would also sleep in 20 ms steps until the process looks idle; that
    sleep is not the app's work, so the screen's pending update is run directly instead.
    """
    for _ in range(2):  # a layout can post resize messages that need one more round
        await pilot._wait_for_screen()
        pilot.app.screen._on_timer_update()


async def measure(n: int, repeats: int, expanded: bool) -> dict:
    from tui.app import DiscoverApp
    from tui.widgets.run_tree import RunTree

    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp) / "runs"
        build_store(root, n)
        started = time.perf_counter()
        app = DiscoverApp(root, RUN_ID, poll_seconds=0)  # refreshes are driven by hand below
        async with app.run_test(size=(160, 50)) as pilot:
            await pilot.pause()
            open_s = time.perf_counter() - started
            tree = app.query_one(RunTree)
            if expanded:  # as if the user had opened every subtree (parents come before children)
                for node_id in sorted(app.watcher.rows):
                    line = tree.shown.get(node_id)
                    if line is not None and line.allow_expand:
                        tree._fill(line, node_id, expand=False)
                        line.expand()
                await pilot.pause()
            lines = len(tree._tree_lines)
            writer = RunStore(root)
            rng = random.Random(1)
            next_id, clock = n + 1, T0 + n + 10
            idle, total, poll, cpu = [], [], [], []
            for _ in range(3):  # a refresh that finds nothing: the floor of a cycle
                t = time.perf_counter()
                app.refresh_from_store()
                await settle(pilot)
                idle.append((time.perf_counter() - t) * 1000)
            for _ in range(repeats):
                clock += 1
                next_id = mutate(writer, rng, next_id, clock)
                await pilot.pause()  # start each cycle from a quiet app
                t, c = time.perf_counter(), time.process_time()
                app.refresh_from_store()
                poll.append(app.last_refresh_ms)
                await settle(pilot)
                total.append((time.perf_counter() - t) * 1000)
                cpu.append((time.process_time() - c) * 1000)
            writer.close()
            assert len(app.watcher.rows) == n + repeats * ADDED, "the app missed added nodes"
    return {
        "nodes": n, "expanded": expanded, "lines": lines, "open_s": open_s,
        "idle_ms": statistics.median(idle), "median_ms": statistics.median(total),
        "p95_ms": sorted(total)[max(0, int(len(total) * 0.95) - 1)], "poll_ms": statistics.median(poll),
        "cpu_ms": statistics.median(cpu),
        "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--nodes", type=int, nargs="+", default=[1000, 10000])
    parser.add_argument("--repeats", type=int, default=20)
    parser.add_argument("--expanded", action="store_true", help="add a row with every subtree open (largest size)")
    parser.add_argument("--one", type=int, help=argparse.SUPPRESS)  # child process: one size, JSON out
    parser.add_argument("--open-all", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.one:
        print(json.dumps(asyncio.run(measure(args.one, args.repeats, args.open_all))))
        return
    cases = [(n, False) for n in args.nodes] + ([(max(args.nodes), True)] if args.expanded else [])
    print(f"TUI refresh after {CHANGED} changed + {ADDED} added nodes, {args.repeats} repeats, headless 160x50")
    print(f"{'nodes':>7} {'open lines':>11} {'open s':>7} {'idle ms':>8} {'poll ms':>8} "
          f"{'refresh ms':>11} {'p95 ms':>7} {'cpu ms':>7} {'peak RSS MB':>12}")
    for n, expanded in cases:
        cmd = [sys.executable, __file__, "--one", str(n), "--repeats", str(args.repeats)]
        if expanded:
            cmd.append("--open-all")
        out = subprocess.run(cmd, capture_output=True, text=True, check=False)
        if out.returncode != 0:
            print(f"{n:>7} failed: {out.stderr.strip().splitlines()[-1] if out.stderr.strip() else out.returncode}")
            continue
        r = json.loads(out.stdout.strip().splitlines()[-1])
        lines = f"{r['lines']}{' (all)' if r['expanded'] else ''}"
        print(f"{r['nodes']:>7} {lines:>11} {r['open_s']:>7.2f} "
              f"{r['idle_ms']:>8.1f} {r['poll_ms']:>8.1f} {r['median_ms']:>11.1f} {r['p95_ms']:>7.1f} {r['cpu_ms']:>7.1f} "
              f"{r['peak_rss_mb']:>12.0f}")


if __name__ == "__main__":
    main()
