"""The user's limits bound the whole run: --max-cost is a hard cap on every model call, --time
covers the write-up, SIGTERM and a second Ctrl-C exit at once. Real subprocesses, real HTTP
to the scripted model server."""

from __future__ import annotations

import os
import re
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from discovery.cli import main
from runs.models import NodeStatus
from runs.store import RunStore
from tests.conftest import EXAMPLES, ROOT, alive
from tests.discovery.test_llm_run import Reviewing
from tests.discovery.test_run import running_nodes, slow_idea, wait_for
from tests.llm_server import Reply, Request, ScriptedLLM, fast_config, llm, scripted_server  # noqa: F401 - fixtures

ENV = {**os.environ, "PYTHONPATH": str(ROOT), "LITELLM_LOCAL_MODEL_COST_MAP": "True"}
SPIRALS = str(EXAMPLES / "mlp_spirals" / "idea.md")
WRITEUP = "You write the abstract"


def start(*args: str, cwd: Path) -> subprocess.Popen[str]:
    return subprocess.Popen([sys.executable, "-m", "discovery.cli", *args], cwd=cwd, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True, env=ENV)


def discover(*args: str, cwd: Path, timeout: float = 300) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "discovery.cli", *args], cwd=cwd, capture_output=True, text=True,
                          env=ENV, timeout=timeout, check=False)


class Priced(Reviewing):
    """The scripted scientist, every reply billed as a long prompt: $0.0156 at gpt-4o-mini prices."""

    def __call__(self, req: Request) -> Reply:
        reply = super().__call__(req)
        reply.usage = (100_000, 1000)
        return reply


class SlowWriter(Reviewing):
    """Quick for the search, but the write-up's model takes a minute to answer."""

    def __call__(self, req: Request) -> Reply:
        if req.messages and str(req.messages[0].get("content", "")).startswith(WRITEUP):
            return Reply('{"abstract": "late", "discussion": "late", "limitations": "- late"}', delay=60)
        return super().__call__(req)


# -- --max-cost -------------------------------------------------------------------------------

@pytest.mark.slow
def test_max_cost_is_a_hard_cap_on_every_call(tmp_path: Path) -> None:
    cap = 0.2  # about 13 calls: enough for a valid node, which the final selection re-runs
    with ScriptedLLM(handler=Priced()) as server:
        done = discover("run", SPIRALS, "--model", "openai/gpt-4o-mini", "--api-base", server.api_base,
                        "--budget", "20", "--workers", "2", "--max-cost", str(cap), "--final-seeds", "1",
                        "--final-top-k", "1", "--quiet", cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    store = RunStore(tmp_path / "runs", readonly=True)
    run_id = store.resolve_run(None)
    run = store.get_run(run_id)
    calls = store.llm_calls(run_id)
    # The moment the ledger reached the cap: no call may start after it.
    spent, crossed = 0.0, None
    for c in sorted(calls, key=lambda c: c.started_at + c.latency):
        spent += c.cost
        if spent >= cap:
            crossed = c.started_at + c.latency
            break
    assert crossed is not None and run.cost >= cap
    late = [(c.role, c.node_id) for c in calls if c.started_at > crossed + 0.01]
    assert late == [], f"calls started after the cost limit was reached: {late}"
    in_flight = [c for c in calls if c.started_at + c.latency > crossed]
    assert run.cost <= cap + 0.0157 * (1 + len(in_flight))  # the call that crossed it, and those under way
    assert not {c.role for c in calls} & {"writeup", "writeup_rewrite", "writeup_review", "meta_review"}
    report = (store.run_dir(run_id) / "report" / "report.md").read_text()
    assert "cost limit ($0.2) was reached" in report and "## Review panel" not in report
    # The run stopped on cost, and the final selection (no model needed) still ran.
    assert any(e.kind == "stopping" and e.message == "cost" for _, e in store.events(run_id))
    assert [e for e in store.evaluations(run_id) if e.kind == "seed"]
    assert all(n.status != NodeStatus.running for n in store.nodes(run_id))
    store.close()


def test_a_cap_on_an_unpriced_model_is_refused(tmp_path: Path, capsys: pytest.CaptureFixture[str],
                                               llm: ScriptedLLM) -> None:  # noqa: F811 - the fixture  # noqa: F811 - the fixture
    llm.reset(lambda req: Reply("OK"))
    runs = str(tmp_path / "runs")
    code = main(["--runs-dir", runs, "run", SPIRALS, "--model", "openai/scripted", "--api-base", llm.api_base,
                 "--max-cost", "1"])
    err = capsys.readouterr().err
    assert code == 2 and err.count("discover: error:") == 1
    assert "--max-cost: openai/scripted has no known price" in err and "--price-in and --price-out" in err
    assert not (tmp_path / "runs" / "discover.db").exists()
    code = main(["--runs-dir", runs, "run", SPIRALS, "--model", "openai/scripted", "--api-base", llm.api_base,
                 "--price-in", "3"])
    assert code == 2 and "--price-out: give it too" in capsys.readouterr().err


def test_an_unpriced_model_is_named_once_at_start(finished_run: tuple[Path, str], tmp_path: Path,
                                                  capsys: pytest.CaptureFixture[str],
                                                  llm: ScriptedLLM) -> None:  # noqa: F811 - the fixture  # noqa: F811 - the fixture
    root = tmp_path / "runs"
    shutil.copytree(finished_run[0], root)
    llm.reset(lambda req: Reply("OK") if "Reply with the word OK." in req.text() else Reply(status=400))
    code = main(["--runs-dir", str(root), "report", finished_run[1], "--model", "openai/scripted", "--api-base",
                 llm.api_base, "--no-panel"])
    err = capsys.readouterr().err
    assert code == 0 and err.count("openai/scripted has no known price: its calls count as $0") == 1
    code = main(["--runs-dir", str(root), "report", finished_run[1], "--model", "openai/scripted", "--api-base",
                 llm.api_base, "--price-in", "1", "--price-out", "2", "--no-panel"])
    assert code == 0 and "no known price" not in capsys.readouterr().err


# -- --time --------------------------------------------------------------------------------------

@pytest.mark.slow
def test_the_write_up_stops_at_the_deadline(finished_run: tuple[Path, str], tmp_path: Path,
                                            llm: ScriptedLLM) -> None:  # noqa: F811 - the fixture
    import litellm  # noqa: F401 - loaded already in a run that reaches its write-up
    import matplotlib.pyplot  # noqa: F401

    from discovery.report import write_report

    root = tmp_path / "runs"
    shutil.copytree(finished_run[0], root)
    llm.reset(lambda req: Reply('{"abstract": "x", "discussion": "x", "limitations": "- x"}', delay=60))
    t0 = time.time()
    # 30 s: the figures come first, and the model is asked only with 10 s left after them
    path = write_report(root, finished_run[1], llm=fast_config(llm, timeout=120), deadline=t0 + 30)
    assert time.time() - t0 <= 30.5
    text = path.read_text()
    assert "had not written the text when the run's --time limit came" in text
    assert "The review panel did not run: the run's --time limit left too little time" in text
    assert len(llm.requests) == 1  # the one write-up request, abandoned at the deadline


@pytest.mark.slow
def test_time_bounds_a_run_whose_model_writes_slowly(tmp_path: Path) -> None:
    with ScriptedLLM(handler=SlowWriter()) as server:
        done = discover("run", SPIRALS, "--model", "openai/scripted", "--api-base", server.api_base,
                        "--budget", "500", "--workers", "2", "--time", "20s", "--quiet", cwd=tmp_path, timeout=120)
        exited = time.time()
    assert done.returncode == 0, done.stderr
    store = RunStore(tmp_path / "runs", readonly=True)
    run_id = store.resolve_run(None)
    run = store.get_run(run_id)
    began = run.finished_at - run.elapsed  # when the orchestrator started: --time counts from there
    report = store.run_dir(run_id) / "report" / "report.md"
    # To the last file of the report, then to the end of the process.
    assert report.stat().st_mtime - began <= 20 + 0.5, report.stat().st_mtime - began
    assert exited - began <= 20 + 3.0, exited - began
    assert store.get_run(run_id).status == "finished"
    # Whether the search left the model too little time to start, or it started and the deadline cut
    # it off depends on how fast this machine ran the search; either way the model's late text is absent.
    text = report.read_text()
    assert ("--time limit left too little time for the model" in text
            or "had not written the text when the run's --time limit came" in text), text[:2000]
    assert not re.search(r"\blate\b", text)
    store.close()


# -- signals ----------------------------------------------------------------------------------------

def assert_stopped_cleanly(tmp_path: Path, status: str) -> None:
    store = RunStore(tmp_path / "runs", readonly=True)
    run_id = store.resolve_run(None)
    run = store.get_run(run_id)
    assert run.status == status and run.pid is None
    nodes = store.nodes(run_id)
    assert nodes and all(n.status.finished for n in nodes)
    for node in nodes:  # no process of a node outlives the orchestrator
        pid_file = store.node_dir(run_id, node.id) / "pid"
        if pid_file.exists():
            assert not alive(int(pid_file.read_text()))
    store.close()


@pytest.mark.slow
def test_sigterm_exits_within_two_seconds(tmp_path: Path) -> None:
    proc = start("run", str(slow_idea(tmp_path)), "--workers", "2", cwd=tmp_path)
    wait_for(lambda: running_nodes(tmp_path / "runs" / "discover.db") == 2)
    t0 = time.monotonic()
    proc.send_signal(signal.SIGTERM)
    _, err = proc.communicate(timeout=30)
    assert time.monotonic() - t0 <= 2.0 and proc.returncode == 143, err
    assert "SIGTERM" in err
    assert_stopped_cleanly(tmp_path, "stopped")


def stubborn_idea(tmp_path: Path) -> Path:
    """Nodes that ignore SIGTERM: stopping them takes the workspace's whole grace period."""
    (tmp_path / "baseline.py").write_text(
        "import json, signal, time\nWAIT = 30\nsignal.signal(signal.SIGTERM, signal.SIG_IGN)\n"
        "print('start', flush=True)\ntime.sleep(WAIT)\njson.dump({'score': WAIT}, open('metrics.json', 'w'))\n")
    idea = tmp_path / "idea.md"
    idea.write_text("---\ntitle: Stubborn\nmetric: score\nbaseline: baseline.py\nsearch_space: {WAIT: [30, 31, 32]}\n"
                    "time_limit: 60\n---\n# Stubborn\n")
    return idea


@pytest.mark.slow
def test_a_second_ctrl_c_exits_within_two_seconds(tmp_path: Path) -> None:
    proc = start("run", str(stubborn_idea(tmp_path)), "--workers", "2", cwd=tmp_path)
    # Both experiments ignore SIGTERM by now: the first Ctrl-C waits out the kill's grace period.
    wait_for(lambda: len([p for p in (tmp_path / "runs").glob("*/nodes/*/stdout.txt") if "start" in p.read_text()]) == 2)
    proc.send_signal(signal.SIGINT)
    time.sleep(0.3)
    t0 = time.monotonic()
    proc.send_signal(signal.SIGINT)
    _, err = proc.communicate(timeout=30)
    assert time.monotonic() - t0 <= 2.0 and proc.returncode == 130, err
    assert_stopped_cleanly(tmp_path, "stopped")


@pytest.mark.slow
def test_sigterm_while_a_slow_model_writes_the_report(tmp_path: Path) -> None:
    with ScriptedLLM(handler=SlowWriter()) as server:
        proc = start("run", SPIRALS, "--model", "openai/scripted", "--api-base", server.api_base, "--budget", "2",
                     "--workers", "2", "--quiet", cwd=tmp_path)
        wait_for(lambda: any(WRITEUP in r.text() for r in list(server.requests)), timeout=120)
        t0 = time.monotonic()
        proc.send_signal(signal.SIGTERM)
        _, err = proc.communicate(timeout=30)
        took = time.monotonic() - t0
    assert took <= 2.0 and proc.returncode == 143, err
    assert_stopped_cleanly(tmp_path, "finished")  # the search had ended: only its report is missing
