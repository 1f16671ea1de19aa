"""The answers never leak: a node that hunts for them (the runs folder, the database, the task folder,
/proc, its environment) finds nothing, in the local (Landlock), Docker and Ray workspaces.

The markers are the private test answers and the labels of the rows the framework held back:
long decimals that appear nowhere a node is meant to see. The probe carries them reversed, so
that its own code (in the database and its folder) does not count as a find. A control runs the
same probe unconfined and must find them, so a probe that found nothing proves something.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from discovery.api import run
from discovery.idea import load_idea
from discovery.tasks.split import prepare
from discovery.tasks.table import read_table
from runs.models import NodeStatus
from runs.store import RunStore
from tests.discovery.task_kit import regress_task
from workspace.confine import available

PROBE = r'''
import json, os, re, sqlite3
MARKERS = [m[::-1] for m in REVERSED]
found, read_ok, denied = set(), [], [0]
leads = {"db": [], "proc": [], "other": []}  # paths worth following, most promising first
budget = {"entries": 2500, "bytes": 100_000_000}
PATH = re.compile(rb"/[A-Za-z0-9_./+-]{3,}")


def scan(data, where):
    for m in MARKERS:
        if m.encode() in data:
            found.add(where)


def note_paths(data, kind):
    leads[kind].extend(p.decode(errors="ignore").rstrip("/.") for p in PATH.findall(data[:1_000_000]))


def read(path, kind="other"):
    if budget["bytes"] <= 0:
        return None
    try:
        if not os.path.isfile(path):
            return None
        with open(path, "rb") as f:
            data = f.read(5_000_000)
    except OSError:
        denied[0] += 1
        return None
    budget["bytes"] -= len(data)
    read_ok.append(path)
    scan(data, path)
    note_paths(data, kind)
    return data


def walk(top, depth=4):
    try:
        entries = os.listdir(top)
    except OSError:
        denied[0] += 1
        return
    for name in entries:
        if budget["entries"] <= 0:
            return
        budget["entries"] -= 1
        path = os.path.join(top, name)
        if os.path.isdir(path) and not os.path.islink(path):
            if depth > 0:
                walk(path, depth - 1)
        else:
            read(path)


for up in ("..", "../..", "../../..", "../../../.."):  # node folder -> nodes -> run -> runs folder
    walk(up, depth=3)
for name in os.listdir("data"):
    target = os.path.realpath(os.path.join("data", name))
    read(target)
    walk(os.path.dirname(target), depth=1)
    walk(os.path.join(os.path.dirname(target), "..", "private"), depth=1)
for db in ("../../../discover.db", "../../../../discover.db"):
    try:
        con = sqlite3.connect(f"file:{db}?mode=ro", uri=True)
        for (table,) in con.execute("select name from sqlite_master where type='table'").fetchall():
            for row in con.execute(f"select * from {table}"):
                text = repr(row).encode()
                scan(text, "db:" + table)
                note_paths(text, "db")
        read_ok.append(db)
    except Exception:
        denied[0] += 1
try:
    pids = [p for p in os.listdir("/proc") if p.isdigit()]
except OSError:
    denied[0] += 1
    pids = [str(os.getppid()), "1"]
for pid in pids:
    for part in ("cmdline", "environ"):
        data = read(f"/proc/{pid}/{part}", "proc" if pid == str(os.getppid()) else "other")
        if data and pid == str(os.getppid()):
            leads["proc"].extend(a.decode(errors="ignore") for a in data.split(b"\0") if a.startswith(b"/"))
walk(f"/proc/{os.getppid()}/cwd", depth=2)
scan(repr(dict(os.environ)).encode(), "environment")
# Follow the paths seen: the task folder named in the database or a command line first.
seen = set()
for p in leads["db"] + leads["proc"] + leads["other"][:100]:
    if p in seen or p in ("/", "/proc", "/sys", "/usr", "/dev", "/etc", "/tmp", "/root"):
        continue
    seen.add(p)
    if os.path.isdir(p):
        walk(p, depth=2)
        walk(os.path.join(p, "private"), depth=1)
    else:
        read(p)
test = open("data/test.csv").read().splitlines()[1:]
with open("submission.csv", "w") as f:
    f.write("id,y\n" + "".join(line.split(",")[0] + ",0.25\n" for line in test))
json.dump({"found": sorted(found), "read": len(read_ok), "denied": denied[0],
           "read_own_data": any(p.endswith("train.csv") for p in read_ok),
           "read_db": any(p.endswith("discover.db") for p in read_ok)}, open("found.json", "w"))
'''


def _leak_task(folder: Path, seed: int) -> tuple[Path, list[str]]:
    """A task whose baseline is the probe, and the strings that must never reach a node."""
    task = regress_task(folder)
    idea = load_idea(task)
    answers = read_table(idea.task.answers).values("y")
    held = [v[0] for v in prepare(idea.task, folder.parent / "scratch" / "task", seed).val_answers.values()]
    markers = sorted(set(answers) | set(held))
    assert len(markers) == 28 and all(len(m) >= 8 for m in markers)
    # SLOPE keeps the task's search space meaningful to the offline agent; the probe ignores it.
    code = f"SLOPE = 1.0\nREVERSED = {[m[::-1] for m in markers]!r}\n" + PROBE
    (task / "baseline.py").write_text(code)
    return task, markers


def _probe_found(runs: Path, run_id: str) -> tuple[dict, Path, list[str]]:
    store = RunStore(runs, readonly=True)
    node = store.nodes(run_id)[0]
    assert node.status == NodeStatus.good, (node.error, node.stderr_tail)
    folder = store.node_dir(run_id, node.id)
    return json.loads((folder / "found.json").read_text()), folder, store.get_run(run_id).idea.data


def _control(folder: Path, data: list[str]) -> dict:
    """The same probe, unconfined, from the same node folder: it must find the answers."""
    (folder / "data").mkdir(exist_ok=True)  # a Ray node ran elsewhere: its folder here has no data links
    for path in data:
        link = folder / "data" / Path(path).name
        if link.is_symlink() and not link.exists():
            link.unlink()  # a Docker node's link points into its container (/discover-data/...)
        if not link.is_symlink():
            link.symlink_to(path)
    done = subprocess.run([sys.executable, "experiment.py"], cwd=folder, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    return json.loads((folder / "found.json").read_text())


@pytest.mark.slow
@pytest.mark.skipif(not available(), reason="this kernel has no Landlock: local nodes cannot be confined")
def test_a_local_node_cannot_find_the_answers(tmp_path: Path) -> None:
    task, markers = _leak_task(tmp_path / "leak", seed=3)
    runs = tmp_path / "runs"
    result = run(task, runs_dir=runs, budget=1, workers=1, seed=3, workspace="local", write_report=False)
    found, folder, data = _probe_found(runs, result.run_id)
    assert found["found"] == [], found
    assert found["read_own_data"] and not found["read_db"] and found["denied"] > 10, found
    control = _control(folder, data)
    assert control["read_db"] and any(f.endswith("private/answers.csv") for f in control["found"]), control
    stored = b"".join(p.read_bytes() for p in runs.glob("discover.db*"))
    assert stored and not [m for m in markers if m.encode() in stored]  # the database holds no answer at all
    assert any(f.endswith("val_answers.csv") for f in control["found"]), control


def _docker_ready() -> tuple[bool, str]:
    from workspace.docker import engine_status, image_status
    from workspace.docker_spec import DEFAULT_IMAGE

    ok, why = engine_status()
    return (ok, why) if not ok else image_status(DEFAULT_IMAGE)


@pytest.mark.slow
def test_a_docker_node_cannot_find_the_answers(tmp_path: Path) -> None:
    ok, why = _docker_ready()
    if not ok:
        pytest.skip(f"needs a Docker engine and the test image: {why}")
    task, _ = _leak_task(tmp_path / "leak", seed=5)
    runs = tmp_path / "runs"
    result = run(task, runs_dir=runs, budget=1, workers=1, seed=5, workspace="docker", write_report=False)
    assert RunStore(runs, readonly=True).get_run(result.run_id).workspace == "docker"
    found, folder, data = _probe_found(runs, result.run_id)
    assert found["found"] == [], found
    assert found["read_own_data"] and not found["read_db"], found
    assert any(f.endswith("private/answers.csv") for f in _control(folder, data)["found"])


@pytest.mark.slow
@pytest.mark.skipif(not available(), reason="this kernel has no Landlock: local nodes cannot be confined")
def test_a_node_on_a_ray_worker_cannot_find_the_answers(tmp_path: Path) -> None:
    """What a Ray worker runs for a node (workspace.ray_task.run_task, without a cluster: the full
    Ray path took a minute here), given a finished task run's node: a scratch folder, the
    inner local workspace, and the confinement the request carries."""
    from workspace.base import ExecRequest
    from workspace.ray_task import TaskOutput, run_task

    task, _ = _leak_task(tmp_path / "leak", seed=7)
    runs = tmp_path / "runs"
    result = run(task, runs_dir=runs, budget=1, workers=1, seed=7, workspace="local", write_report=False)
    store = RunStore(runs, readonly=True)
    node = store.nodes(result.run_id)[0]
    idea = store.get_run(result.run_id).idea
    request = ExecRequest(run_id=result.run_id, node_id=node.id, workdir=tmp_path / "unused", code=node.code,
                          time_limit=120, data=idea.data, confine=True)
    scratch = runs / result.run_id / "nodes" / "ray-scratch"  # as near the answers as a worker could be
    scratch.mkdir()
    out = TaskOutput.model_validate(run_task({"request": request.model_dump(mode="json"), "inner": "local",
                                              "scratch_dir": str(scratch)}, gpu_ids=[]))
    assert out.result["exit_code"] == 0, out.result["stderr"]
    found = json.loads(out.files["found.json"])
    assert found["found"] == [], found
    assert found["read_own_data"] and not found["read_db"], found


@pytest.mark.slow
def test_no_prompt_holds_an_answer_or_a_private_path(tmp_path: Path) -> None:
    """A task run with the LLM agent: every request the model received is free of the answers,
    the held-back labels and the task's private paths."""
    import re

    from tests.llm_server import Reply, ScriptedLLM

    task, markers = _leak_task(tmp_path / "leak", seed=2)
    (task / "baseline.py").write_text("SLOPE = 3.0\nimport csv\nrows = list(csv.DictReader(open('data/test.csv')))\n"
                                      "open('submission.csv', 'w').write('id,y\\n' + ''.join("
                                      "r['id'] + ',' + str(3 * float(r['x0'])) + '\\n' for r in rows))\n")

    def model(req):  # noqa: ANN001, ANN202 - a Request, a Reply
        text = req.text()
        if "Reply with the word OK." in text:
            return Reply("OK")
        if '"verdict"' in text:
            return Reply('{"score": 7, "verdict": "valid", "issues": [], "summary": "ok"}')
        if '"value"' in text:
            return Reply('{"value": 0.5, "explanation": "ok"}')
        code = re.findall(r"```python\n(.*?)```", text, re.S)
        if not code:
            return Reply(status=400)
        # Each answer changes the slope a little: the engine never runs the same experiment twice.
        slope = 3.0 + 0.1 * len(server.requests)
        return Reply(f"Use the baseline.\n```python\n{code[0].replace('SLOPE = 3.0', f'SLOPE = {slope:.1f}')}```")

    with ScriptedLLM(handler=model) as server:
        result = run(task, runs_dir=tmp_path / "runs", budget=2, workers=1, seed=2, workspace="local",
                     model="openai/scripted", api_base=server.api_base, write_report=False)
        texts = [r.text() for r in server.requests]
    store = RunStore(tmp_path / "runs", readonly=True)
    assert {n.status for n in store.nodes(result.run_id)} == {NodeStatus.good}
    # The first node is the baseline (no model call); the model drafts and reviews the rest.
    assert len(texts) >= 3 and any("submission.csv" in t and "data/test.csv" in t for t in texts)
    private = [str(task / "private"), "answers.csv", "val_answers", "mapping.csv", str(tmp_path / "runs")]
    for text in texts:
        assert not [m for m in markers if m in text]
        assert not [p for p in private if p in text], [p for p in private if p in text]
