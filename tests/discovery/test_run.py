"""End-to-end runs: the CLI and the Python API on the shipped examples, with real processes."""

from __future__ import annotations

import hashlib
import json
import os
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import pytest

from runs.models import NodeStatus
from runs.store import RunStore
from tests.conftest import EXAMPLES, ROOT


def discover(*args: str, cwd: Path, **kw) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "discovery.cli", *args], cwd=cwd, capture_output=True,
                          text=True, timeout=kw.pop("timeout", 300), env={**os.environ, "PYTHONPATH": str(ROOT)}, **kw)


def slow_idea(tmp_path: Path, seconds: float = 30, time_limit: str = "60") -> Path:
    (tmp_path / "baseline.py").write_text(
        f"import json, time\nWAIT = {seconds}\nprint('start', flush=True)\ntime.sleep(WAIT)\n"
        "json.dump({'score': WAIT}, open('metrics.json', 'w'))\n")
    idea = tmp_path / "idea.md"
    idea.write_text(f"---\ntitle: Slow\nmetric: score\nbaseline: baseline.py\nsearch_space: {{WAIT: [{seconds}, "
                    f"{seconds + 1}, {seconds + 2}]}}\ntime_limit: {time_limit}\n---\n# Slow\n")
    return idea


@pytest.mark.slow
def test_finished_run_beats_its_baseline(finished_run: tuple[Path, str]) -> None:
    root, run_id = finished_run
    store = RunStore(root, readonly=True)
    run = store.get_run(run_id)
    nodes = store.nodes(run_id)
    assert run.status == "finished" and len(nodes) == 10
    assert all(n.status.finished for n in nodes)
    baseline = nodes[0]
    assert baseline.operator == "draft" and baseline.params["LR"] == 0.01
    best = store.get_node(run_id, run.best_node_id)
    assert best.metric > baseline.metric + 0.1
    for n in nodes:
        folder = store.node_dir(run_id, n.id)
        assert (folder / "experiment.py").read_text() == n.code
        if n.status == NodeStatus.good:
            assert json.loads((folder / "metrics.json").read_text())["val_accuracy"] == n.metric
    report = store.run_dir(run_id) / "report"
    text = (report / "report.md").read_text()
    assert f"node {best.id}" in text and f"{best.metric:.6g}" in text
    for fig in ("best_vs_nodes.png", "best_vs_time.png", "tree.png"):
        assert (report / fig).stat().st_size > 1000 and f"]({fig})" in text
    kinds = [e.kind for _, e in store.events(run_id)]
    assert kinds[0] == "run_started" and kinds[-1] == "run_finished"
    assert kinds.count("node_finished") == 10


@pytest.mark.slow
def test_cli_minimize_example_and_inspection(tmp_path: Path) -> None:
    done = discover("run", str(EXAMPLES / "ridge_degree" / "idea.md"), "--budget", "8", "--workers", "2",
                    cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    assert "built-in offline agent" in done.stderr
    assert "report: runs/" in done.stderr
    store = RunStore(tmp_path / "runs", readonly=True)
    run_id = store.resolve_run(None)
    nodes = store.nodes(run_id)
    best = store.get_node(run_id, store.get_run(run_id).best_node_id)
    assert best.metric < nodes[0].metric  # minimize: below the baseline's error
    listing = discover("list", cwd=tmp_path)
    assert run_id in listing.stdout and "val_mse (minimize)" in listing.stdout
    shown = discover("show", "--node", str(best.id), cwd=tmp_path)
    assert f"node {best.id} of run {run_id}" in shown.stdout and "DEGREE" in shown.stdout
    tree = discover("show", run_id[:15], cwd=tmp_path)
    assert "tree:" in tree.stdout and f"#{best.id}" in tree.stdout


def test_python_api(tmp_path: Path) -> None:
    from discovery import run

    result = run(EXAMPLES / "ridge_degree" / "idea.md", runs_dir=tmp_path / "runs", budget=3, workers=1)
    assert result.status == "finished" and result.best_node_id is not None
    assert result.report is not None and result.report.exists()
    assert result.best_metric == RunStore(tmp_path / "runs").get_node(result.run_id, result.best_node_id).metric


@pytest.mark.parametrize(
    ("args", "needle"),
    [
        (["run", "missing.md"], "missing.md: no such idea file"),
        (["run", "IDEA", "--budget", "0"], "--budget: Input should be greater than or equal to 1"),
        (["run", "IDEA", "--policy", "astar"], "--policy: unknown policy 'astar'"),
        (["run", "IDEA", "--time", "soon"], "--time: 'soon' is not a duration"),
        (["run", "BAD"], "metric direction: 'sideways' is not"),
        (["--runs-dir", "blocker/runs", "run", "IDEA"], "cannot create the runs folder"),
        (["show", "nosuchrun"], "run 'nosuchrun': no such run"),
    ],
)
def test_bad_input_is_one_line_and_touches_nothing(tmp_path: Path, args: list[str], needle: str) -> None:
    ok = discover("run", str(EXAMPLES / "ridge_degree" / "idea.md"), "--budget", "1", "--quiet", cwd=tmp_path)
    assert ok.returncode == 0, ok.stderr
    db = tmp_path / "runs" / "discover.db"
    before = hashlib.sha256(db.read_bytes()).hexdigest()
    bad = tmp_path / "bad.md"
    bad.write_text("---\ntitle: B\nmetric: m\ndirection: sideways\n---\n")
    (tmp_path / "blocker").write_text("a file, not a folder")
    args = [{"IDEA": str(EXAMPLES / "ridge_degree" / "idea.md"), "BAD": str(bad)}.get(a, a) for a in args]
    done = discover(*args, cwd=tmp_path)
    assert done.returncode == 2
    assert done.stderr.count("\n") == 1 and needle in done.stderr and "Traceback" not in done.stderr
    assert hashlib.sha256(db.read_bytes()).hexdigest() == before


def test_help_imports_nothing_heavy() -> None:
    code = ("import sys\nfrom discovery.cli import main\ntry:\n    main(['--help'])\nexcept SystemExit:\n    pass\n"
            "heavy = [m for m in ('litellm', 'langgraph', 'matplotlib', 'textual', 'docker') if m in sys.modules]\n"
            "print('HEAVY', heavy)\n")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT, timeout=60)
    assert "HEAVY []" in done.stdout


def wait_for(predicate, timeout: float = 60.0) -> None:  # noqa: ANN001
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return
        time.sleep(0.1)
    raise AssertionError("condition not reached in time")


def running_nodes(db: Path) -> int:
    if not db.exists():
        return 0
    try:
        with sqlite3.connect(db) as conn:
            return conn.execute("select count(*) from nodes where status = 'running'").fetchone()[0]
    except sqlite3.OperationalError:
        return 0


@pytest.mark.slow
def test_ctrl_c_kills_nodes_marks_stopped_and_writes_report(tmp_path: Path) -> None:
    idea = slow_idea(tmp_path)
    proc = subprocess.Popen([sys.executable, "-m", "discovery.cli", "run", str(idea), "--workers", "2"],
                            cwd=tmp_path, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            env={**os.environ, "PYTHONPATH": str(ROOT)})
    db = tmp_path / "runs" / "discover.db"
    wait_for(lambda: running_nodes(db) == 2)
    time.sleep(1.5)  # let both experiments print before the interrupt
    t0 = time.monotonic()
    proc.send_signal(signal.SIGINT)
    out, err = proc.communicate(timeout=60)
    assert proc.returncode == 130, err
    assert time.monotonic() - t0 < 20
    store = RunStore(tmp_path / "runs", readonly=True)
    run_id = store.resolve_run(None)
    assert store.get_run(run_id).status == "stopped"
    statuses = [n.status for n in store.nodes(run_id)]
    assert statuses.count(NodeStatus.cancelled) == 2 and NodeStatus.running not in statuses
    assert "start" in store.nodes(run_id)[0].stdout_tail
    assert (store.run_dir(run_id) / "report" / "report.md").exists()


@pytest.mark.slow
def test_stop_command_from_another_process_finishes_running_nodes(tmp_path: Path) -> None:
    idea = slow_idea(tmp_path, seconds=2)
    proc = subprocess.Popen([sys.executable, "-m", "discovery.cli", "run", str(idea), "--workers", "1",
                             "--budget", "10"], cwd=tmp_path, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            text=True, env={**os.environ, "PYTHONPATH": str(ROOT)})
    db = tmp_path / "runs" / "discover.db"
    wait_for(lambda: running_nodes(db) == 1)
    asked = discover("stop", cwd=tmp_path)  # writes the stop command the orchestrator polls
    assert asked.returncode == 0 and asked.stdout.startswith("discover: asked run "), asked.stderr
    proc.communicate(timeout=60)
    assert proc.returncode == 0
    store = RunStore(tmp_path / "runs", readonly=True)
    run_id = store.resolve_run(None)
    run = store.get_run(run_id)
    nodes = store.nodes(run_id)
    assert run.status == "stopped"
    # The running node was allowed to finish (a second may have started while `discover stop` started up).
    assert len(nodes) in (1, 2) and all(n.status == NodeStatus.good for n in nodes)
    again = discover("stop", run_id[9:15], cwd=tmp_path)
    assert again.returncode == 0 and "is not running (stopped); nothing to stop" in again.stdout


@pytest.mark.slow
def test_time_limit_ends_the_run(tmp_path: Path) -> None:
    idea = slow_idea(tmp_path, seconds=30)
    t0 = time.monotonic()
    done = discover("run", str(idea), "--time", "4s", "--workers", "2", cwd=tmp_path, timeout=60)
    assert done.returncode == 3, done.stderr  # the run ended, but no node produced a metric
    assert "no node produced a valid score" in done.stderr
    assert time.monotonic() - t0 < 20
    store = RunStore(tmp_path / "runs", readonly=True)
    run_id = store.resolve_run(None)
    assert store.get_run(run_id).status == "finished"
    assert {n.status for n in store.nodes(run_id)} == {NodeStatus.cancelled}
