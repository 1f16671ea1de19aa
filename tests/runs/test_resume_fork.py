"""Resume after SIGKILL at random moments, and fork from any node, against real processes and files."""

from __future__ import annotations

import os
import random
import re
import signal
import sqlite3
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

from agents.base import params_key
from runs.fork import fork_run
from runs.lock import RunLock, RunLocked, is_locked
from runs.models import NodeStatus
from runs.store import RunStore, StoreError
from tests.conftest import EXAMPLES, ROOT

ENV = {**os.environ, "PYTHONPATH": str(ROOT), "LITELLM_LOCAL_MODEL_COST_MAP": "True"}


def jitter_idea(tmp_path: Path) -> Path:
    """Nodes that take 0-1 s, so kills land in executions as often as in store writes."""
    (tmp_path / "baseline.py").write_text(
        "import json, time\nA = 1\nB = 1\ntime.sleep(0.2 * ((A * 7 + B * 3) % 6))\n"
        "json.dump({'score': -(A - 6) ** 2 - (B - 4) ** 2}, open('metrics.json', 'w'))\n")
    idea = tmp_path / "idea.md"
    idea.write_text("---\ntitle: Jitter\nmetric: score\nbaseline: baseline.py\n"
                    "search_space: {A: [0, 1, 2, 3, 4, 5, 6, 7, 8, 9], B: [0, 1, 2, 3, 4, 5, 6, 7, 8, 9]}\n"
                    "time_limit: 30\n---\n# Jitter\n")
    return idea


READER = textwrap.dedent("""
    import sqlite3, sys, time, json
    db, out, stop = sys.argv[1], sys.argv[2], sys.argv[3]
    import os
    problems, reads = [], 0
    while not os.path.exists(stop):
        if not os.path.exists(db):
            time.sleep(0.05)
            continue
        try:
            conn = sqlite3.connect(db, timeout=5)  # a busy disk can hold a WAL recovery that long
            for status, metric, code, metrics in conn.execute(
                    "select status, metric, code, metrics from nodes"):
                if status == "good" and (metric is None or json.loads(metrics) == {}):
                    problems.append(f"half-written good node: {metric} {metrics}")
                if status == "running" and not code:
                    problems.append("running node without code")
            reads += 1
            conn.close()
        except sqlite3.OperationalError as exc:
            if "no such table" not in str(exc):
                problems.append(f"{exc}")
        time.sleep(0.02)
    open(out, "w").write(json.dumps({"problems": problems, "reads": reads}))
""")


def crash_and_resume(tmp_path: Path, first: list[str], *, kills_wanted: int, window: tuple[float, float],
                     seed: int) -> tuple[RunStore, str, int]:
    """Start ``discover <first>``, SIGKILL it at random moments, resume until it finishes, while a
    reader polls the store the way the TUI does; return the store, the run id and the kill count."""
    import json

    runs = tmp_path / "runs"
    rng = random.Random(seed)
    stop_flag, reader_out = tmp_path / "stop", tmp_path / "reader.json"
    reader = subprocess.Popen([sys.executable, "-c", READER, str(runs / "discover.db"), str(reader_out),
                               str(stop_flag)])
    cmd = [sys.executable, "-m", "discovery.cli", *first, "--quiet"]
    kills = 0
    while True:
        since = time.time()
        proc = subprocess.Popen(cmd, cwd=tmp_path, env=ENV, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        if kills < kills_wanted:
            # Timed from this session's first running node, so that a slow start (a loaded
            # machine, litellm's import) does not move the kills out of the search.
            session_running(runs / "discover.db", proc, since)
            time.sleep(rng.uniform(*window))
            if proc.poll() is None:
                proc.send_signal(signal.SIGKILL)
                proc.wait()
                kills += 1
                store = RunStore(runs, readonly=True)
                run_id = store.resolve_run(None)
                # What a crash leaves behind (or, killed while writing the report, a finished run).
                assert store.get_run(run_id).status in ("running", "finished")
                assert not is_locked(store.run_dir(run_id))  # ...but no stuck lock
                store.close()
                cmd = [sys.executable, "-m", "discovery.cli", "resume", run_id, "--quiet"]
                continue
        out, err = proc.communicate(timeout=300)
        assert proc.returncode == 0, err
        break
    stop_flag.write_text("")
    reader.wait(timeout=30)
    seen = json.loads(reader_out.read_text())
    assert seen["problems"] == [] and seen["reads"] > 50
    store = RunStore(runs, readonly=True)
    return store, store.resolve_run(None), kills


def session_running(db: Path, proc: subprocess.Popen, since: float, timeout: float = 120) -> None:
    """Wait until ``proc`` holds the run and one of its nodes started running after ``since``."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline and proc.poll() is None:
        try:
            with sqlite3.connect(db, timeout=1) as conn:
                mine = conn.execute("select count(*) from runs where pid = ?", [proc.pid]).fetchone()[0]
                running = conn.execute("select count(*) from nodes where status = 'running' and started_at > ?",
                                       [since]).fetchone()[0]
            if mine and running:
                return
        except sqlite3.Error:  # not created yet, or busy
            pass
        time.sleep(0.05)


def check_invariants(store: RunStore, run_id: str, budget: int, kills: int) -> None:
    """No completed node lost or doubled, none stuck, budget counted once, best recomputed, report."""
    import json

    run = store.get_run(run_id)
    nodes = store.nodes(run_id)
    assert run.status == "finished"
    # Nothing lost, nothing doubled: every id is a stored node or one the agent had nothing for
    # (it repeated an experiment, or said so), and no id is used twice.
    dropped = {int(m.group(1)) for _, e in store.events(run_id)
               if e.kind == "exhausted" and (m := re.match(r"node (\d+) dropped", e.message))}
    ids = [n.id for n in nodes]
    assert len(ids) == len(set(ids)) and not set(ids) & dropped
    assert set(ids) | dropped == set(range(1, max(set(ids) | dropped) + 1))
    assert not [n for n in nodes if n.status in (NodeStatus.pending, NodeStatus.running)]
    spent = sum(1 for n in nodes if n.status != NodeStatus.cancelled)
    # The budget is accounted once; a run whose agent ran out of new experiments ends below it.
    exhausted = any(e.kind == "run_finished" and "exhausted" in e.message for _, e in store.events(run_id))
    assert spent == budget or (exhausted and spent < budget)
    good = [n for n in nodes if n.status == NodeStatus.good]
    better = max if run.idea.metric.direction == "maximize" else min
    assert run.best_node_id == better(good, key=lambda n: n.metric).id
    name = run.idea.metric.name
    for n in good:  # every completed node's record matches what its process wrote
        assert json.loads((store.node_dir(run_id, n.id) / "metrics.json").read_text())[name] == n.metric
    interrupted = len(store.attempts(run_id))
    assert interrupted >= 1
    assert (store.run_dir(run_id) / "report" / "report.md").exists()
    kinds = [e.kind for _, e in store.events(run_id)]
    assert kinds.count("run_resumed") == kills


@pytest.mark.slow
def test_sigkill_at_random_moments_then_resume(tmp_path: Path) -> None:
    idea = jitter_idea(tmp_path)
    # Kills land up to 2.5 s after the session's first node started: in executions and store writes.
    store, run_id, kills = crash_and_resume(tmp_path, ["run", str(idea), "--budget", "24", "--workers", "2"],
                                            kills_wanted=4, window=(0.0, 2.5), seed=7)
    assert kills >= 2
    check_invariants(store, run_id, 24, kills)


@pytest.mark.slow
def test_sigkill_during_llm_calls_then_resume(tmp_path: Path) -> None:
    from tests.agents.test_llm_e2e import variant
    from tests.discovery.test_llm_run import Reviewing
    from tests.llm_server import Reply, ScriptedLLM

    class Slow(Reviewing):
        """Every reply takes 0.4 s, so most kills land while a model call is in flight; each
        improvement is a new one, so the search reaches its budget."""

        def __call__(self, req):  # noqa: ANN001, ANN204
            if "Task: propose ONE focused change" in req.text():
                with self.lock:
                    self.improves += 1
                    code = variant(0.3, 64, 600 + 10 * self.improves)
                return Reply(f"Train a little longer.\n```python\n{code}```", delay=0.4)
            reply = super().__call__(req)
            return Reply(reply.content, status=reply.status, delay=0.4) if reply.status == 200 else reply

    with ScriptedLLM(handler=Slow()) as server:
        # Kills land up to 3 s after the session's first node started, mostly during model calls.
        store, run_id, kills = crash_and_resume(
            tmp_path, ["run", str(EXAMPLES / "mlp_spirals" / "idea.md"), "--model", "openai/gpt-4o-mini",
                       "--api-base", server.api_base, "--budget", "8", "--workers", "2", "--value-agent"],
            kills_wanted=3, window=(0.0, 3.0), seed=3)
    assert kills >= 2
    check_invariants(store, run_id, 8, kills)
    # The model calls of every session are in the ledger, and the cost adds them all up.
    calls = store.llm_calls(run_id)
    assert {"draft", "value_before"} <= {c.role for c in calls}
    assert store.get_run(run_id).cost == pytest.approx(sum(c.cost for c in calls))


# -- a kill in the middle of a node: it goes on from its last finished step ---------------------------

COUNTED = ("import json, os, time\nX = 1\nHOLD = {hold!r}\n"
           "open('executions.log', 'a').write(f'{{os.getpid()}}\\n')  # one line per execution of this node\n"
           "t0 = time.time()\n"
           "while HOLD and os.path.exists(HOLD) and time.time() - t0 < 60:  # held while the test says so\n"
           "    time.sleep(0.2)\n"
           "json.dump({{'score': X}}, open('metrics.json', 'w'))\n")


class Counting:
    """A model that answers at once: a new variant for every code ask, a valid review, a value.
    With ``hold_review`` its first review does not answer until ``release`` is set."""

    def __init__(self, *, hold_review: bool = False) -> None:
        import threading

        self.lock = threading.Lock()
        self.variants = 0
        self.reviews = 0
        self.hold_review = hold_review
        self.held, self.release = threading.Event(), threading.Event()

    def __call__(self, req):  # noqa: ANN001, ANN204 - tests.llm_server.Request -> Reply
        from tests.llm_server import Reply

        text = req.text()
        if "Reply with the word OK." in text:
            return Reply("OK")
        if '"verdict"' in text:
            with self.lock:
                self.reviews += 1
                first = self.reviews == 1
            if first and self.hold_review:
                self.held.set()
                self.release.wait(120)
                return Reply(status=400)  # nobody is waiting for it any more
            return Reply('{"score": 7, "verdict": "valid", "issues": [], "summary": "Sound."}')
        if '"value"' in text:
            return Reply('{"value": 0.6, "explanation": "plain"}')
        if "Task:" in text:
            with self.lock:
                self.variants += 1
                code = COUNTED.format(hold="").replace("X = 1", f"X = {self.variants + 1}")
            return Reply(f"Raise X.\n```python\n{code}```")
        return Reply(status=400)  # the write-up: templates


def counted_idea(tmp_path: Path, hold: Path | None = None) -> Path:
    """The idea whose baseline counts its executions; it runs while ``hold`` exists (at most 60 s)."""
    (tmp_path / "baseline.py").write_text(COUNTED.format(hold=str(hold) if hold else ""))
    idea = tmp_path / "idea.md"
    idea.write_text("---\ntitle: Counted\nmetric: score\nbaseline: baseline.py\ntime_limit: 60\n---\n# Counted\n")
    return idea


def kill_then_resume(tmp_path: Path, model: Counting, idea: Path, when: object) -> tuple[RunStore, str, list]:
    """``discover run`` (with ``model``, the value agent, one worker), SIGKILLed once ``when(db)`` is
    true, then ``discover resume`` to the end; the store, the run id and the requests the model got."""
    from tests.llm_server import ScriptedLLM

    runs = tmp_path / "runs"
    with ScriptedLLM(handler=model) as server:
        first = subprocess.Popen(
            [sys.executable, "-m", "discovery.cli", "run", str(idea), "--model", "openai/gpt-4o-mini", "--api-base",
             server.api_base, "--budget", "3", "--workers", "1", "--value-agent", "--quiet"],
            cwd=tmp_path, env=ENV, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        deadline = time.monotonic() + 120
        while not when(runs / "discover.db"):
            assert first.poll() is None and time.monotonic() < deadline, first.communicate()
            time.sleep(0.02)
        first.send_signal(signal.SIGKILL)
        first.wait()
        model.release.set()
        store = RunStore(runs, readonly=True)
        run_id = store.resolve_run(None)
        store.close()
        done = subprocess.run([sys.executable, "-m", "discovery.cli", "resume", run_id, "--quiet"], cwd=tmp_path,
                              env=ENV, capture_output=True, text=True, timeout=300)
        assert done.returncode == 0, done.stderr
        requests = list(server.requests)
    return RunStore(runs, readonly=True), run_id, requests


def executions(store: RunStore, run_id: str, node_id: int) -> int:
    return len((store.node_dir(run_id, node_id) / "executions.log").read_text().splitlines())


def paid_twice(calls: list) -> list:  # noqa: ANN001 - runs.models.LLMCallRecord
    """Answered model calls asked again: the same prompt for the same node."""
    from collections import Counter

    seen = Counter((c.node_id, c.role, c.prompt_hash) for c in calls if c.error is None and c.node_id is not None)
    return [key for key, n in seen.items() if n > 1]


def _query(db: Path, sql: str) -> int:
    try:
        with sqlite3.connect(db, timeout=1) as conn:
            return conn.execute(sql).fetchone()[0]
    except sqlite3.Error:  # not created yet, or busy
        return 0


@pytest.mark.slow
def test_a_node_killed_in_its_review_goes_on_without_running_or_asking_again(tmp_path: Path) -> None:
    model = Counting(hold_review=True)
    # Node 1 (the baseline) has run and asked for its value; the kill lands during its review.
    store, run_id, requests = kill_then_resume(tmp_path, model, counted_idea(tmp_path),
                                               lambda db: model.held.is_set())
    nodes = store.nodes(run_id)
    assert store.get_run(run_id).status == "finished" and [n.status for n in nodes] == [NodeStatus.good] * 3
    assert [executions(store, run_id, n.id) for n in nodes] == [1, 1, 1]  # no program ran twice
    assert nodes[0].attempts == 1 and store.attempts(run_id) == []  # its execution was not lost
    calls = store.llm_calls(run_id)
    assert paid_twice(calls) == []
    first = [c.role for c in calls if c.node_id == 1]
    assert sorted(first) == ["review", "value_after", "value_before"]  # each once, none repeated
    # What the model was asked: the calls kept, the model checks (each session's), and the review the kill cut off.
    assert len(requests) == len(calls) + 3
    assert sum('"verdict"' in r.text() for r in requests) == 3 + 1


@pytest.mark.slow
def test_a_node_killed_while_it_runs_keeps_its_value_estimate(tmp_path: Path) -> None:
    model = Counting()
    # Node 1 (the baseline, 2 s) is running, and its value estimate, asked alongside, is kept.
    kept = "select count(*) from checkpoint_writes where channel = 'value'"
    hold = tmp_path / "hold"
    hold.touch()

    def running_and_kept(db: Path) -> bool:
        # The estimate waits for the model check (litellm loading): the program is held until then.
        if any(db.parent.glob("*/nodes/00001/executions.log")) and _query(db, kept) > 0:
            hold.unlink()  # the kill follows at once; the execution after the resume is not held
            return True
        return False

    store, run_id, requests = kill_then_resume(tmp_path, model, counted_idea(tmp_path, hold), running_and_kept)
    nodes = store.nodes(run_id)
    assert store.get_run(run_id).status == "finished" and [n.status for n in nodes] == [NodeStatus.good] * 3
    assert executions(store, run_id, 1) == 2  # the execution the kill cut short ran again...
    assert [a.status for a in store.attempts(run_id)] == ["interrupted"] and nodes[0].attempts == 2
    calls = store.llm_calls(run_id)
    assert paid_twice(calls) == []
    assert [c.role for c in calls if c.node_id == 1].count("value_before") == 1  # ...its estimate did not
    assert len(requests) == len(calls) + 2  # and nothing else was asked twice (+2: each session's model check)


def test_second_resume_is_refused_while_running(tmp_path: Path) -> None:
    lock = RunLock(tmp_path / "run")
    lock.acquire()
    assert is_locked(tmp_path / "run")
    code = ("import sys; from runs.lock import RunLock, RunLocked\n"
            f"try:\n    RunLock({str(tmp_path / 'run')!r}).acquire()\nexcept RunLocked as e:\n    print(e)\n")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=ENV, cwd=ROOT)
    assert f"already running in process {os.getpid()}" in done.stdout
    lock.release()
    assert not is_locked(tmp_path / "run")


@pytest.fixture
def source_run(finished_run: tuple[Path, str], tmp_path: Path) -> tuple[RunStore, str]:
    import shutil

    root, run_id = finished_run
    copy = tmp_path / "runs"
    shutil.copytree(root, copy)
    return RunStore(copy), run_id


def test_fork_scopes_and_lineage(source_run: tuple[RunStore, str]) -> None:
    store, run_id = source_run
    before = store._db.execute("select * from nodes where run_id = ? order by id", [run_id]).fetchall()
    nodes = {n.id: n for n in store.nodes(run_id)}
    leaf = max(nodes.values(), key=lambda n: n.depth)
    path = []
    i = leaf.id
    while i is not None:
        path.append(i)
        i = nodes[i].parent_id
    fork_path = fork_run(store, run_id, leaf.id, "path", budget=5, config={"policy": "greedy"})
    assert sorted(n.id for n in store.nodes(fork_path)) == sorted(path)
    parent_of_leaf = nodes[leaf.id].parent_id
    fork_sub = fork_run(store, run_id, parent_of_leaf, "subtree")
    sub_ids = {n.id for n in store.nodes(fork_sub)}
    assert leaf.id in sub_ids and set(path[1:]) <= sub_ids
    fork_all = fork_run(store, run_id, leaf.id, "all")
    assert len(store.nodes(fork_all)) == len(nodes)
    forked = store.get_run(fork_path)
    assert forked.parent_run_id == run_id and forked.parent_node_id == leaf.id
    assert forked.config.budget == len(path) + 5 and forked.status == "stopped"
    copied = store.get_node(fork_path, leaf.id)
    assert copied.code == nodes[leaf.id].code and copied.metric == nodes[leaf.id].metric
    assert (store.node_dir(fork_path, leaf.id) / "experiment.py").read_text() == nodes[leaf.id].code
    # A fork of a fork works, and the parent run is untouched by all of it.
    fork2 = fork_run(store, fork_path, leaf.id, "path", budget=2)
    assert store.get_run(fork2).parent_run_id == fork_path
    after = store._db.execute("select * from nodes where run_id = ? order by id", [run_id]).fetchall()
    assert before == after
    with pytest.raises(StoreError, match="no node 999"):
        fork_run(store, run_id, 999)


@pytest.mark.slow
def test_fork_then_search_from_cli(source_run: tuple[RunStore, str], tmp_path: Path) -> None:
    store, run_id = source_run
    best = store.get_run(run_id).best_node_id
    done = subprocess.run(
        [sys.executable, "-m", "discovery.cli", "--runs-dir", str(store.root), "fork", run_id, "--node", str(best),
         "--budget", "3", "--workers", "1", "--quiet"], capture_output=True, text=True, env=ENV, cwd=tmp_path,
        timeout=120)
    assert done.returncode == 0, done.stderr
    new_id = store.resolve_run(None)
    new = store.get_run(new_id)
    assert new.status == "finished" and new.parent_run_id == run_id
    nodes = store.nodes(new_id)
    fresh = [n for n in nodes if n.created_at > new.created_at]
    assert len(fresh) == 3 and all(n.status.finished for n in nodes)
    listing = subprocess.run([sys.executable, "-m", "discovery.cli", "--runs-dir", str(store.root), "list"],
                             capture_output=True, text=True, env=ENV, cwd=tmp_path)
    assert f"(fork of {run_id}#{best})" in listing.stdout


def test_resume_of_a_running_run_is_refused_by_the_cli(source_run: tuple[RunStore, str], tmp_path: Path) -> None:
    store, run_id = source_run
    with RunLock(store.run_dir(run_id)):
        done = subprocess.run(
            [sys.executable, "-m", "discovery.cli", "--runs-dir", str(store.root), "resume", run_id],
            capture_output=True, text=True, env=ENV, cwd=tmp_path, timeout=60)
    assert done.returncode == 2
    assert f"run {run_id}: it is already running in process {os.getpid()}" in done.stderr
    with sqlite3.connect(store.db_path) as conn:
        assert conn.execute("select status from runs where id = ?", [run_id]).fetchone()[0] == "finished"


def descends_from(nodes: dict, node_id: int, ancestor: int) -> bool:  # noqa: ANN001 - {id: Node}
    current = node_id
    while current is not None:
        if current == ancestor:
            return True
        current = nodes[current].parent_id
    return False


@pytest.mark.slow
@pytest.mark.parametrize(("policy", "scope"), [("mcts", "path"), ("greedy", "subtree"), ("bfts", "all")])
def test_a_fork_goes_on_from_its_node(source_run: tuple[RunStore, str], tmp_path: Path, policy: str,
                                      scope: str) -> None:
    """The fork's first expansion is from the node, a path or subtree fork stays in the node's
    subtree, and nothing the parent ran (the baseline, drafts, its parameter sets) is run again."""
    store, run_id = source_run
    best = store.get_run(run_id).best_node_id
    old = {n.id: n for n in store.nodes(run_id)}
    parents = {n.parent_id for n in old.values()}
    # Not the best node (the old behaviour improved the best node and drafted, wherever N was).
    if scope == "subtree":
        candidates = [n for n in old.values() if n.id in parents and n.id != best]
    else:
        candidates = [n for n in old.values() if n.parent_id is not None and n.id != best
                      and n.status == NodeStatus.good]
    node = candidates[0]
    scope_flag = {"path": [], "subtree": ["--subtree"], "all": ["--all"]}[scope]
    done = subprocess.run(
        [sys.executable, "-m", "discovery.cli", "--runs-dir", str(store.root), "fork", run_id, "--node", str(node.id),
         *scope_flag, "--budget", "3", "--workers", "2", "--policy", policy, "--quiet"],
        capture_output=True, text=True, env=ENV, cwd=tmp_path, timeout=120)
    assert done.returncode == 0, done.stderr
    fork_id = store.resolve_run(None)
    fork = store.get_run(fork_id)
    nodes = {n.id: n for n in store.nodes(fork_id)}
    fresh = sorted(i for i, n in nodes.items() if n.created_at >= fork.created_at)
    assert len(fresh) == 3
    assert nodes[fresh[0]].parent_id == node.id  # its first expansion
    if scope != "all":
        assert all(descends_from(nodes, i, node.id) for i in fresh), [(i, nodes[i].parent_id) for i in fresh]
        assert not [i for i in fresh if nodes[i].operator == "draft"]
    ran_before = {params_key(n.params) for n in old.values()}
    assert not [i for i in fresh if params_key(nodes[i].params) in ran_before]
    assert fork.focus_node_id == node.id and fork.focus_within == (scope != "all")


@pytest.mark.slow
def test_a_fork_of_a_buggy_node_that_was_debugged_debugs_it_again(source_run: tuple[RunStore, str],
                                                                    tmp_path: Path) -> None:
    """Forking from a buggy node whose debug already has a child starts with a new debug of
    that node (seen in CI: the fork fell through to the policy and improved the child)."""
    store, run_id = source_run
    old = store.nodes(run_id)
    parents = {n.parent_id for n in old}
    node = next(n for n in old if n.id in parents)
    # Make it the shape CI met: a buggy node whose debug child exists.
    store.save_node(store.get_node(run_id, node.id).model_copy(
        update={"status": NodeStatus.buggy, "metric": None, "error": "ValueError: made buggy by the test"}))
    done = subprocess.run(
        [sys.executable, "-m", "discovery.cli", "--runs-dir", str(store.root), "fork", run_id, "--node", str(node.id),
         "--subtree", "--budget", "2", "--workers", "1", "--policy", "greedy", "--quiet"],
        capture_output=True, text=True, env=ENV, cwd=tmp_path, timeout=120)
    assert done.returncode == 0, done.stderr
    fork = store.get_run(store.resolve_run(None))
    fresh = sorted((n for n in store.nodes(fork.id) if n.created_at >= fork.created_at), key=lambda n: n.id)
    assert len(fresh) == 2
    assert (fresh[0].parent_id, fresh[0].operator) == (node.id, "debug")


def test_resume_reads_no_planted_link_and_kills_only_the_nodes_own_process(tmp_path: Path) -> None:
    """What resume reads in a node folder the node could have written: its output tails (not
    through a link to a file of the user's) and its pid file (not another process's pid)."""
    from runs.resume import _kill_leftover, _tail

    folder = tmp_path / "runs" / "RUN" / "nodes" / "00001"
    folder.mkdir(parents=True)
    (tmp_path / "secret").write_text("a key of the user's")
    (folder / "stdout.txt").symlink_to(tmp_path / "secret")
    (folder / "stderr.txt").write_text("x" * 10_000 + "the end")
    assert _tail(folder / "stdout.txt") == "" and _tail(folder / "stderr.txt").endswith("the end")
    sleeper = [sys.executable, "-c", "import time; time.sleep(60)", "experiment.py"]
    other = subprocess.Popen(sleeper, env={**os.environ, "HOME": str(tmp_path / "other" / "nodes" / "00001")},
                             start_new_session=True)
    own = subprocess.Popen(sleeper, env={**os.environ, "HOME": "runs/RUN/nodes/00001"}, start_new_session=True)
    try:
        time.sleep(0.3)
        (folder / "pid").write_text(str(other.pid))  # the node named another experiment's process
        _kill_leftover(folder)
        time.sleep(0.3)
        assert other.poll() is None
        (folder / "pid").write_text(str(own.pid))
        _kill_leftover(folder)
        assert own.wait(timeout=10) == -signal.SIGKILL
    finally:
        for p in (other, own):
            p.kill()
            p.wait()
