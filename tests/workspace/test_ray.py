"""The Ray workspace: the worker side on its own, a private local Ray instance, and Ray's
multi-node test cluster with a worker machine killed in the middle of a run.

Only ``address="local"`` or the test cluster's own address is used, never one from the
environment. The Ray tests skip when Ray is not installed (``pip install -e '.[ray]'``).
"""

from __future__ import annotations

import asyncio
import importlib.util
import json
import os
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import EXAMPLES, alive
from workspace.base import ExecRequest
from workspace.ray_task import TASK_FILE, TaskSpec, run_task

NO_RAY = "Ray is not installed (pip install -e '.[ray]'): the Ray workspace is not tested"
SLEEPER = "import time\nprint('up', flush=True)\ntime.sleep(60)\n"


def request(tmp_path: Path, code: str, node_id: int = 1, **kw) -> ExecRequest:
    return ExecRequest(run_id="r", node_id=node_id, workdir=tmp_path / f"node{node_id}", code=code,
                       time_limit=kw.pop("time_limit", 30), **kw)


def wait_until(check: Callable[[], Any], timeout: float = 10.0, what: str = "condition") -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = check()
        if value:
            return value
        time.sleep(0.05)
    raise AssertionError(f"timed out after {timeout:g}s waiting for {what}")


def running_tasks(scratch: Path) -> list[dict]:
    """Tasks whose node process has started, from the files the worker side leaves in scratch."""
    out = []
    for task_file in scratch.glob(f"*/{TASK_FILE}"):
        pid_file = task_file.parent / "node" / "pid"
        try:
            info = json.loads(task_file.read_text())
            info["pid"] = int(pid_file.read_text())
        except (OSError, ValueError):
            continue
        info["folder"] = task_file.parent
        out.append(info)
    return out


# -- the worker side, without Ray ------------------------------------------------------------

def test_worker_side_ships_small_outputs_and_names_the_rest(tmp_path: Path) -> None:
    data = tmp_path / "big_dataset.txt"
    data.write_text("rows")
    code = ("import json, os\n"
            "print(os.environ['CUDA_VISIBLE_DEVICES'], os.environ['OMP_NUM_THREADS'], open('data/big_dataset.txt').read())\n"
            "os.makedirs('plots', exist_ok=True)\n"
            "open('plots/small.txt', 'w').write('s' * 100)\n"
            "open('huge.bin', 'wb').write(b'h' * 5000)\n"
            "json.dump({'acc': 0.75}, open('metrics.json', 'w'))\n")
    spec = TaskSpec(request=request(tmp_path, code, data=[str(data), "/nonexistent/shards"]).model_dump(mode="json"),
                    threads=3, scratch_dir=str(tmp_path / "scratch"), artifact_file_cap=1000)
    (tmp_path / "scratch").mkdir()
    out = run_task(spec.model_dump(), gpu_ids=["2", "5"])
    result = out["result"]
    assert result["exit_code"] == 0, result["stderr"]
    assert result["stdout"] == "2,5 3 rows\n"
    assert result["metrics"] == {"acc": 0.75}
    assert result["artifacts"] == ["plots/small.txt"]
    assert set(out["files"]) == {"metrics.json", "plots/small.txt"}
    assert out["left_out"] == ["huge.bin (5 kB is over the 1 kB artifact cap)"]
    assert "data path /nonexistent/shards does not exist on the Ray worker" in result["stderr"]
    assert list((tmp_path / "scratch").iterdir()) == []  # the scratch folder is gone


def test_reaper_kills_the_node_when_its_worker_dies(tmp_path: Path) -> None:
    """A killed worker (ray.cancel(force=True), a crash, a lost machine) must not leave the node's
    processes running: the reaper kills its process group and removes the scratch folder."""
    scratch = tmp_path / "scratch"
    scratch.mkdir()
    code = ("import subprocess, sys, time\n"
            "subprocess.Popen([sys.executable, '-c', 'import time; time.sleep(60)'], stdout=subprocess.DEVNULL)\n"
            "time.sleep(60)\n")
    spec = TaskSpec(request=request(tmp_path, code).model_dump(mode="json"), scratch_dir=str(scratch))
    worker_code = "import json, sys\nfrom workspace.ray_task import run_task\nrun_task(json.loads(sys.argv[1]), gpu_ids=[])"
    fake_worker = subprocess.Popen([sys.executable, "-c", worker_code, spec.model_dump_json()],
                                   cwd=Path(__file__).resolve().parents[2])
    try:
        task = wait_until(lambda: running_tasks(scratch), what="the node to start")[0]
        group = task["pid"]
        members = wait_until(lambda: [p for p in _group_members(group) if p != group], what="the node's child")
        fake_worker.send_signal(signal.SIGKILL)
        fake_worker.wait()
        wait_until(lambda: not any(alive(p) for p in [group, *members]), what="the node's processes to die")
        wait_until(lambda: not task["folder"].exists(), what="the scratch folder to go")
    finally:
        fake_worker.kill()


def _cmdline(pid: int) -> bytes:
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes()
    except OSError:
        return b""


def _group_members(pgid: int) -> list[int]:
    out = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if int(fields[2]) == pgid:
            out.append(int(stat.parent.name))
    return out


def test_bad_settings_name_the_field() -> None:
    from workspace.ray_workspace import RayWorkspace

    with pytest.raises(ValueError, match="^inner: unknown workspace 'podman'"):
        RayWorkspace("local", inner="podman")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="^num_gpus: 1.5"):
        RayWorkspace("local", num_gpus=1.5)


def test_unreachable_cluster_fails_fast_with_one_line() -> None:
    pytest.importorskip("ray", reason=NO_RAY)
    from workspace.ray_workspace import RayUnavailable, cluster_resources

    t0 = time.monotonic()
    with pytest.raises(RayUnavailable, match="^--ray-address: nothing answers at 127.0.0.1:1 "):
        cluster_resources("127.0.0.1:1")
    assert time.monotonic() - t0 < 10


# -- a private local Ray instance --------------------------------------------------------------

@pytest.fixture(scope="class")
def local_ray():
    """A RayWorkspace that started its own local Ray instance (2 CPUs); closed after the class."""
    ray = pytest.importorskip("ray", reason=NO_RAY)
    from workspace.ray_workspace import RayWorkspace

    assert not ray.is_initialized()
    ws = RayWorkspace("local", init_kwargs=dict(num_cpus=2, object_store_memory=80 * 1024 * 1024))
    ws.connect()
    yield ws
    asyncio.run(ws.close())
    assert not ray.is_initialized(), "close() must stop the instance it started"


@pytest.mark.slow
class TestLocalRay:
    async def test_outputs_come_back_to_the_driver(self, local_ray, tmp_path: Path) -> None:
        from workspace.ray_workspace import RayWorkspace

        code = ("import json, os\nprint('gpus=' + os.environ['CUDA_VISIBLE_DEVICES'], flush=True)\n"
                "open('curve.csv', 'w').write('1,2\\n')\nopen('weights.bin', 'wb').write(b'w' * 4000)\n"
                "json.dump({'acc': 0.5, 'loss': float('inf')}, open('metrics.json', 'w'))\n")
        ws = RayWorkspace("local", artifact_file_cap=2000, scratch_dir=str(tmp_path))
        req = request(tmp_path, code)
        req.workdir.mkdir()
        (req.workdir / "metrics.json").write_text('{"acc": 0.1}')  # stale, from an earlier attempt
        result = await ws.execute(req)
        assert result.exit_code == 0 and not result.cancelled
        assert result.stdout == "gpus=\n"
        assert result.metrics == {"acc": 0.5, "loss": "inf"}
        assert result.artifacts == ["curve.csv"]
        assert "artifact weights.bin (4 kB is over the 2 kB artifact cap) left on the Ray worker" in result.stderr
        assert 0 < result.overhead < 30
        folder = req.workdir
        assert (folder / "curve.csv").read_text() == "1,2\n"
        assert not (folder / "weights.bin").exists()
        assert json.loads((folder / "metrics.json").read_text())["acc"] == 0.5
        assert (folder / "experiment.py").read_text() == code
        assert (folder / "stdout.txt").read_text() == "gpus=\n"
        assert json.loads((folder / "ray.json").read_text())["attempts"] == 1
        await ws.close()  # joined, not started, by this one: Ray stays up for the others
        import ray

        assert ray.is_initialized()

    async def test_the_memory_limit_holds_on_the_worker(self, local_ray, tmp_path: Path) -> None:
        from workspace.ray_workspace import RayWorkspace

        code = "import time\nheld = []\nfor _ in range(60):\n    held.append(bytearray(10 << 20))\n    time.sleep(0.02)\n"
        ws = RayWorkspace("local", scratch_dir=str(tmp_path), inner_options={"memory_limit": 150 << 20})
        result = await ws.execute(request(tmp_path, code))
        assert result.oom_killed and "killed: out of memory" in result.stderr
        assert "150m memory per node" in ws.isolation()
        await ws.close()

    async def test_cancel_kills_the_task_and_all_its_processes(self, local_ray, tmp_path: Path) -> None:
        from workspace.ray_workspace import RayWorkspace

        ws = RayWorkspace("local", scratch_dir=str(tmp_path))
        code = ("import subprocess, sys, time\n"
                "subprocess.Popen([sys.executable, '-c', 'import time; time.sleep(60)'], stdout=subprocess.DEVNULL)\n"
                "time.sleep(60)\n")
        task = asyncio.create_task(ws.execute(request(tmp_path, code)))
        members: list[int] = []
        for _ in range(400):
            tasks = running_tasks(tmp_path)
            members = _group_members(tasks[0]["pid"]) if tasks else []
            # The group holds the launcher and the experiment from the start; wait for the
            # grandchild, whatever else a busy machine lets us see (a fork not yet exec'd).
            if any(b"import time; time.sleep(60)" in _cmdline(p) for p in members):
                break
            await asyncio.sleep(0.05)
        assert any(b"import time; time.sleep(60)" in _cmdline(p) for p in members), members
        t0 = time.monotonic()
        task.cancel()
        result = await task
        assert result.cancelled and result.exit_code is None
        assert time.monotonic() - t0 < 5
        for _ in range(200):
            if not any(alive(p) for p in members):
                break
            await asyncio.sleep(0.05)
        assert not any(alive(p) for p in members), "a process of the cancelled node is still running"
        assert "Ray task was killed" in (tmp_path / "node1" / "stderr.txt").read_text()

    async def test_a_request_no_node_can_meet_is_recorded_failed(self, local_ray, tmp_path: Path) -> None:
        from workspace.ray_workspace import RayWorkspace

        ws = RayWorkspace("local", resources={"tpu_pod": 1}, infeasible_timeout=0.5, check_every=0.2)
        result = await asyncio.wait_for(ws.execute(request(tmp_path, SLEEPER)), 30)
        assert result.exit_code is None and not result.cancelled
        assert "no live node of the Ray cluster offers num_cpus=1, num_gpus=0, tpu_pod=1" in result.stderr
        assert result.metrics_error and "recorded as failed" in result.metrics_error

    async def test_docker_inside_ray_and_a_cancel_removes_the_container(self, local_ray, tmp_path: Path) -> None:
        from workspace.docker import engine_status, image_status
        from workspace.docker_spec import DEFAULT_IMAGE
        from workspace.ray_workspace import RayWorkspace

        ok, why = engine_status()
        ok, why = image_status(DEFAULT_IMAGE) if ok else (ok, why)
        if not ok:
            pytest.skip(f"needs a Docker engine and {DEFAULT_IMAGE} (scripts/docker-engine.sh): {why}")
        import docker

        client = docker.from_env()
        run_id = f"ray{os.getpid()}-{time.monotonic_ns() % 10**9}"
        ws = RayWorkspace("local", inner="docker", inner_options={"memory": "256m"}, scratch_dir=str(tmp_path))
        code = ("import json, os\nprint(os.getcwd(), flush=True)\n"
                "json.dump({'acc': 0.25}, open('metrics.json', 'w'))\n")
        req = ExecRequest(run_id=run_id, node_id=1, workdir=tmp_path / "n1", code=code, time_limit=60)
        result = await ws.execute(req)
        assert (result.exit_code, result.stdout, result.metrics) == (0, "/node\n", {"acc": 0.25}), result.stderr

        def containers() -> list:
            # sparse: no inspect per container, which races with the reaper removing it
            return client.containers.list(all=True, sparse=True, filters={"label": f"discover.run={run_id}"})

        task = asyncio.create_task(ws.execute(req.model_copy(update={"node_id": 2, "code": SLEEPER,
                                                                      "workdir": tmp_path / "n2"})))
        for _ in range(600):
            if containers():
                break
            await asyncio.sleep(0.05)
        assert containers(), "the node's container never started"
        await asyncio.sleep(0.5)
        task.cancel()
        assert (await task).cancelled
        for _ in range(300):
            if not containers():
                break
            await asyncio.sleep(0.1)
        assert containers() == [], "the cancelled node's container is still there"
        client.close()

    def test_cluster_resources_of_the_running_instance(self, local_ray) -> None:
        from workspace.ray_workspace import cluster_resources

        info = cluster_resources("local")
        assert info["nodes"] == 1 and info["cpus_total"] == 2.0 and info["gpus_total"] == 0.0
        assert 0 <= info["cpus_free"] <= 2.0


# -- a multi-node test cluster, one worker machine killed mid-run ------------------------------

@pytest.fixture
def cluster():
    """A head node with no CPUs and two worker nodes with one CPU and one fake GPU each."""
    ray = pytest.importorskip("ray", reason=NO_RAY)
    from ray.cluster_utils import Cluster

    assert not ray.is_initialized()
    small = dict(object_store_memory=80 * 1024 * 1024)
    c = Cluster(initialize_head=True, head_node_args=dict(num_cpus=0, include_dashboard=False, **small))
    workers = [c.add_node(num_cpus=1, resources={"fake_gpu": 1}, **small) for _ in range(2)]
    try:
        yield c, workers
    finally:
        if ray.is_initialized():
            ray.shutdown()
        c.shutdown()


def slow_example(folder: Path) -> Path:
    """The ridge example with a 5 s pause in each node, so that a worker dies while it runs one
    (taking a Ray node down can take seconds on a busy machine)."""
    shutil.copytree(EXAMPLES / "ridge_degree", folder)
    baseline = folder / "baseline.py"
    code = baseline.read_text()
    baseline.write_text(code.replace("import json\n", "import json\nimport time\n\ntime.sleep(5)\n", 1))
    return folder / "idea.md"


@pytest.mark.slow
async def test_a_run_survives_a_dead_worker_machine(cluster, tmp_path: Path) -> None:
    from agents.offline import OfflineAgent
    from discovery.api import create_run
    from discovery.engine import Engine
    from discovery.graph import run_loop
    from discovery.idea import load_idea
    from discovery.progress import SilentProgress
    from runs.models import RunConfig
    from runs.store import RunStore
    from search.policy import make_policy
    from workspace.ray_workspace import RayWorkspace

    c, (keep, doomed) = cluster
    scratch = tmp_path / "scratch"
    scratch.mkdir()
    store = RunStore(tmp_path / "runs")
    config = RunConfig(budget=6, workers=2, seed=1, workspace="ray")
    run = create_run(store, load_idea(slow_example(tmp_path / "idea")), config)
    workspace = RayWorkspace(c.address, resources={"fake_gpu": 1}, scratch_dir=str(scratch))
    await asyncio.to_thread(workspace.connect)
    engine = Engine(store=store, run=run, policy=make_policy(config.policy, num_drafts=config.num_drafts),
                    agent=OfflineAgent(), workspace=workspace, progress=SilentProgress())
    loop = asyncio.create_task(run_loop(engine))
    try:
        victim = None
        for _ in range(1200):
            victim = next((t for t in running_tasks(scratch) if t["ray_node_id"] == doomed.node_id), None)
            if victim or loop.done():
                break
            await asyncio.sleep(0.05)
        assert victim is not None, "no node ran on the worker to be killed"
        c.remove_node(doomed)
        await asyncio.wait_for(loop, 180)
    finally:
        await workspace.close()

    assert store.get_run(run.id).status == "finished"
    nodes = store.nodes(run.id)
    assert len(nodes) == config.budget
    unfinished = [(n.id, n.status.value) for n in nodes if not n.status.finished]
    assert not unfinished, f"nodes left pending or running: {unfinished}"
    # The node that was running on the dead machine was run again on the other one.
    lost = next(n for n in nodes if n.id == victim["node_id"])
    info = json.loads((store.node_dir(run.id, lost.id) / "ray.json").read_text())
    assert info["attempts"] == 2 and "NodeDiedError" in info["lost"][0], info
    assert info["ray_node_id"] == keep.node_id
    assert lost.status.value == "good" and lost.metric is not None, (lost.status, lost.error)
    assert "attempt 1 was lost" in lost.stderr_tail
    assert not alive(victim["pid"]), "the node process on the dead machine is still running"
    assert sum(n.status.value == "good" for n in nodes) >= 4


@pytest.mark.slow
@pytest.mark.skipif(importlib.util.find_spec("ray") is None, reason="ray is not installed (pip install -e '.[ray]')")
def test_cli_run_with_the_ray_workspace(tmp_path: Path) -> None:
    import subprocess
    import sys

    from runs.store import RunStore
    from tests.conftest import EXAMPLES, ROOT

    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    env.pop("RAY_ADDRESS", None)
    done = subprocess.run([sys.executable, "-m", "discovery.cli", "run", str(EXAMPLES / "ridge_degree" / "idea.md"),
                           "--workspace", "ray", "--ray-address", "local", "--budget", "3", "--workers", "2"],
                          cwd=tmp_path, env=env, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    store = RunStore(tmp_path / "runs", readonly=True)
    run_id = store.resolve_run(None)
    assert store.get_run(run_id).workspace == "ray"
    assert store.get_run(run_id).resources["nodes"] >= 1  # the cluster, as the TUI header shows it
    nodes = store.nodes(run_id)
    assert len(nodes) == 3 and all(n.status.value == "good" for n in nodes)
    assert all((store.node_dir(run_id, n.id) / "ray.json").exists() for n in nodes)
