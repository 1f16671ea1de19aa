"""Orchestration overhead: the start and exit of `discover run`, and the time per node.

The first table runs `discover run --quiet` as a user does (a subprocess), offline and with a
model (the scripted OpenAI-compatible server of tests/llm_server.py, answering at once), and
reads from the store when the run was stored and its first node started, and when the last
node and the report were finished, against the process's start and exit.

The second runs a 50-node search of a trivial experiment (it only writes metrics.json) with
the offline agent and the local workspace in this process, one row per worker count:
overhead/node is the wall time per node minus the time the node's own process ran.

    python bench/overhead.py [--nodes 50] [--starts 3]
"""

from __future__ import annotations

import argparse
import os
import random
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
os.environ.setdefault("LITELLM_LOCAL_MODEL_COST_MAP", "True")

TRIVIAL = "import json\nX = 0\nY = 0\njson.dump({'score': -(X - 7) ** 2 - (Y - 3) ** 2}, open('metrics.json', 'w'))\n"


def make_idea(folder: Path) -> Path:
    (folder / "baseline.py").write_text(TRIVIAL)
    values = list(range(0, 20))
    (folder / "idea.md").write_text(
        f"---\ntitle: Trivial\nmetric: score\nbaseline: baseline.py\nsearch_space: {{X: {values}, Y: {values}}}\n"
        "time_limit: 30\n---\n# Trivial\n")
    return folder / "idea.md"


def _scripted(request) -> object:  # noqa: ANN001 - tests.llm_server.Request -> Reply
    """A model that answers at once: OK to the check, a trivial variant to code asks, 400 otherwise."""
    from tests.llm_server import Reply

    text = request.text()
    if "Reply with the word OK." in text:
        return Reply("OK")
    if "Task:" in text:
        code = TRIVIAL.replace("X = 0", f"X = {random.randrange(20)}").replace("Y = 0", f"Y = {random.randrange(20)}")
        return Reply(f"Try another point.\n```python\n{code}```")
    return Reply(status=400)  # JSON roles and the write-up: refused at once (not retried)


def start_and_exit(model: bool, budget: int = 3) -> dict[str, float]:
    """Seconds from the command to the run stored and the first node started; from the last node
    finished and the report written to the process's exit."""
    from runs.store import RunStore

    root = Path(__file__).resolve().parent.parent
    env = {**os.environ, "PYTHONPATH": str(root), "LITELLM_LOCAL_MODEL_COST_MAP": "True"}
    env.pop("DISCOVER_MODEL", None)
    with tempfile.TemporaryDirectory() as tmp:
        idea = make_idea(Path(tmp))
        cmd = [sys.executable, "-m", "discovery.cli", "--runs-dir", str(Path(tmp) / "runs"), "run", str(idea),
               "--budget", str(budget), "--workers", "1", "--workspace", "local", "--quiet"]
        server = None
        if model:
            from tests.llm_server import ScriptedLLM

            server = ScriptedLLM(handler=_scripted).start()
            cmd += ["--model", "openai/bench", "--api-base", server.api_base]
        try:
            t0 = time.time()
            done = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=300)
            t_end = time.time()
        finally:
            if server is not None:
                server.stop()
        if done.returncode != 0:
            raise SystemExit(f"discover run failed ({done.returncode}): {done.stderr[-2000:]}")
        store = RunStore(Path(tmp) / "runs", readonly=True)
        run = store.get_run(store.resolve_run(None))
        nodes = store.nodes(run.id, with_code=False)
        store.close()
        report = Path(tmp) / "runs" / run.id / "report"
        written = max(p.stat().st_mtime for p in report.rglob("*") if p.is_file())
    return {"stored": run.created_at - t0, "first": min(n.started_at or t_end for n in nodes) - t0,
            "after_last": t_end - max(n.finished_at or 0.0 for n in nodes), "after_report": t_end - written,
            "total": t_end - t0}


def measure(nodes: int, workers: int) -> dict[str, float]:
    from discovery.api import run
    from runs.store import RunStore

    from discovery.report import write_report

    import discovery.checkpoint, discovery.engine, discovery.graph  # noqa: E401, F401
    import langgraph.graph  # noqa: F401 - a run loads it once, while its first nodes start: not per node

    with tempfile.TemporaryDirectory() as tmp:
        idea = make_idea(Path(tmp))
        cpu0 = time.process_time()  # this process only: the orchestrator, not the nodes
        result = run(idea, runs_dir=Path(tmp) / "runs", budget=nodes, workers=workers, write_report=False)
        cpu = time.process_time() - cpu0
        t0 = time.perf_counter()
        write_report(Path(tmp) / "runs", result.run_id)
        report = time.perf_counter() - t0
        store = RunStore(Path(tmp) / "runs", readonly=True)
        done = store.nodes(result.run_id, with_code=False)
        busy = sum(n.exec_seconds or 0.0 for n in done)
        run = store.get_run(result.run_id)
    per_node = (run.elapsed * workers - busy) / len(done)
    return {"nodes": len(done), "search": run.elapsed, "busy": busy, "per_node_ms": per_node * 1000,
            "cpu_ms": cpu / len(done) * 1000, "report": report}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--nodes", type=int, default=50)
    parser.add_argument("--starts", type=int, default=3, help="runs per mode of the start/exit table (medians)")
    args = parser.parse_args()
    if args.starts:
        print(f"{'mode':<8} {'stored s':>8} {'first node s':>12} {'exit after last node s':>22} "
              f"{'exit after report s':>19} {'total s':>7}")
        for model in (False, True):
            rows = [start_and_exit(model) for _ in range(args.starts)]
            med = {k: statistics.median(r[k] for r in rows) for k in rows[0]}
            print(f"{'model' if model else 'offline':<8} {med['stored']:>8.2f} {med['first']:>12.2f} "
                  f"{med['after_last']:>22.2f} {med['after_report']:>19.2f} {med['total']:>7.2f}")
        print(f"(medians of {args.starts} runs of `discover run --budget 3 --workers 1 --quiet`; "
              "the model is tests/llm_server.py's, answering at once)\n")
        if not args.nodes:
            return
    print(f"{'workers':>7} {'nodes':>5} {'search s':>9} {'node procs s':>12} {'overhead/node ms':>17} "
          f"{'orch. CPU/node ms':>17} {'report s':>8} {'peak RSS MB':>11}")
    for workers in (1, 2):
        row = measure(args.nodes, workers)
        rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
        print(f"{workers:>7} {row['nodes']:>5} {row['search']:>9.2f} {row['busy']:>12.2f} "
              f"{row['per_node_ms']:>17.1f} {row['cpu_ms']:>17.1f} {row['report']:>8.2f} {rss:>11.0f}")
    print("overhead/node = (search wall time x workers - time node processes ran) / nodes; orch. CPU/node = CPU "
          "time of the orchestrator's process over the search / nodes (less sensitive to a busy machine)")


if __name__ == "__main__":
    main()
