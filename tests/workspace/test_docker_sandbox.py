"""Hostile programs and data layouts in the Docker workspace, against a real engine (skips with
the reason when none answers)."""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import time
import uuid
from pathlib import Path

import pytest

from tests.workspace.test_docker import _ENGINE_OK, _IMAGE, _IMAGE_OK, Nodes, nodes, workspaces  # noqa: F401
from tests.workspace.test_local_sandbox import BIG_FILE, MANY_FILES, ORPHANS
from workspace.docker import LABEL_RUN, clean, connect
from workspace.docker_spec import DEADLINE_GRACE, DEFAULT_IMAGE
from workspace.quota import folder_usage

pytestmark = pytest.mark.skipif(
    not (_ENGINE_OK and _IMAGE_OK),
    reason=f"Docker tests need an engine and {DEFAULT_IMAGE}: {_IMAGE}; run scripts/docker-engine.sh as root")

MB = 1 << 20
READ = "import os\nprint(open('data/a.csv').read().strip(), sorted(os.listdir('data')))\n"


async def test_data_under_tmp_is_seen_by_every_node_of_a_pooled_container(workspaces, tmp_path: Path) -> None:
    # tmp_path lives under /tmp, like a user's /tmp/.../a.csv; one warm container serves all four nodes.
    data = tmp_path / "input" / "a.csv"
    data.parent.mkdir()
    data.write_text("x,y\n")
    nodes = workspaces(pool_size=1)
    results = [await nodes.run(READ, data=[str(data)]) for _ in range(4)]
    assert [r.stdout for r in results] == ["x,y ['a.csv']\n"] * 4, [r.stderr[-300:] for r in results]
    assert len(nodes.containers()) == 1  # the same container each time
    assert data.read_text() == "x,y\n"


async def test_a_listed_folder_is_data_itself_and_files_keep_their_names(workspaces, tmp_path: Path) -> None:
    folder = tmp_path / "data"  # `data: [data]` next to the idea file
    folder.mkdir()
    (folder / "a.csv").write_text("from folder\n")
    (folder / "b.csv").write_text("b\n")
    extra = tmp_path / "labels.json"
    extra.write_text("{}")
    nodes = workspaces(pool_size=1)
    alone = await nodes.run(READ, data=[str(folder)])
    assert alone.stdout == "from folder ['a.csv', 'b.csv']\n", alone.stderr
    both = await nodes.run(READ, data=[str(folder), str(extra)])
    assert both.stdout == "from folder ['a.csv', 'b.csv', 'labels.json']\n", both.stderr
    again = await nodes.run(READ, data=[str(folder), str(extra)])  # the warm container of `both`
    assert again.stdout == both.stdout, again.stderr


async def test_a_big_file_stops_at_the_quota(workspaces) -> None:
    nodes = workspaces(pool_size=1, disk_limit=8 * MB)
    result = await nodes.run(BIG_FILE)
    assert result.disk_exceeded and not result.timed_out, result.stderr
    assert "disk quota exceeded" in result.stderr and "writing" in result.stdout
    node = nodes.root / "nodes" / "00001"
    assert 0 < (node / "big.bin").stat().st_size <= 8 * MB
    assert json.loads((node / "metrics.json").read_text()) == {"acc": 1.0}  # its output is kept
    await nodes.still_runs()


async def test_many_files_in_tmp_are_caught_by_the_watcher(workspaces) -> None:
    nodes = workspaces(pool_size=1, disk_limit=6 * MB)
    result = await nodes.run(MANY_FILES.replace("tmp/junk", "/tmp/junk"), time_limit=30)
    assert result.disk_exceeded and not result.timed_out, result.stderr
    assert nodes.containers() == []  # a container killed for its disk is not reused
    assert folder_usage(nodes.root / "nodes" / "00001") <= 6 * MB + MB
    await nodes.still_runs()


async def test_a_pooled_container_keeps_no_process_of_a_node(workspaces, tmp_path: Path) -> None:
    nodes = workspaces(pool_size=1)
    code = ORPHANS.replace("os.environ['PIDS']", "'pids.txt'")
    result = await nodes.run(code)
    assert result.exit_code == 0 and "left three behind" in result.stdout, result.stderr
    [container] = nodes.containers()
    # What still runs in the warm container: its idle init only.
    processes = container.top()["Processes"]
    assert len(processes) == 1 and "python3 -c" in processes[0][-1], processes


async def test_outputs_survive_slots_on_another_filesystem(workspaces) -> None:
    # Pooled slots on a tmpfs, node folders on disk: moving the outputs home is a copy, not a rename.
    shm = Path("/dev/shm")
    if not shm.is_dir() or shm.stat().st_dev == Path.cwd().stat().st_dev:
        pytest.skip("needs /dev/shm on a filesystem of its own")
    scratch = shm / f"discover-test-{nodes_id()}"
    nodes = workspaces(pool_size=1, scratch=scratch)
    code = ("import json, os\nos.makedirs('plots', exist_ok=True)\nopen('plots/a.png', 'wb').write(b'png')\n"
            "json.dump({'acc': 0.7}, open('metrics.json', 'w'))\n")
    try:
        result = await nodes.run(code)
        assert result.exit_code == 0, result.stderr
        assert result.metrics == {"acc": 0.7} and result.artifacts == ["plots/a.png"], result.stderr
        await nodes.still_runs()
    finally:
        shutil.rmtree(scratch, ignore_errors=True)  # the machine's shared memory is not ours to litter


async def test_memory_and_shm_are_settings(workspaces) -> None:
    nodes = workspaces(pool_size=0, memory="300m", shm_size="96m")
    code = ("import os\ns = os.statvfs('/dev/shm')\nprint(s.f_blocks * s.f_frsize >> 20)\n"
            "print(open('/sys/fs/cgroup/memory/memory.limit_in_bytes').read().strip() "
            "if os.path.exists('/sys/fs/cgroup/memory/memory.limit_in_bytes') "
            "else open('/sys/fs/cgroup/memory.max').read().strip())\n")
    result = await nodes.run(code)
    shm_mb, memory = result.stdout.split()
    assert int(shm_mb) == 96 and int(memory) == 300 * MB, result.stdout
    assert "300m memory" in nodes.ws.isolation() and "96m /dev/shm" in nodes.ws.isolation()


def nodes_id() -> str:
    import os
    import time

    return f"{os.getpid()}-{time.monotonic_ns() % 10**9}"


ORCHESTRATOR = """
import asyncio, sys
from pathlib import Path
from workspace.base import ExecRequest
from workspace.docker import DockerWorkspace

code = "import time\\nprint('started', flush=True)\\nopen('started', 'w').write('1')\\ntime.sleep(600)\\n"
request = ExecRequest(run_id=sys.argv[2], node_id=1, workdir=Path(sys.argv[1]), code=code, time_limit=2)
asyncio.run(DockerWorkspace(pool_size=1, memory="256m").execute(request))
"""


def test_a_node_in_a_container_stops_at_its_limit_without_its_orchestrator(tmp_path: Path) -> None:
    run_id = f"orphan-{uuid.uuid4().hex[:8]}"
    node = tmp_path / "nodes" / "00001"
    env = {**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parents[2])}
    orchestrator = subprocess.Popen([sys.executable, "-c", ORCHESTRATOR, str(node), run_id], env=env)
    client = connect()
    try:
        deadline = time.monotonic() + 60
        containers: list = []
        while not containers or "experiment.py" not in json.dumps(containers[0].top()):
            assert orchestrator.poll() is None and time.monotonic() < deadline, "the node never started"
            time.sleep(0.2)
            containers = client.containers.list(filters={"label": f"{LABEL_RUN}={run_id}"})
        orchestrator.send_signal(signal.SIGKILL)  # nobody is left to enforce the 2 s limit
        orchestrator.wait()
        deadline = time.monotonic() + 2 + DEADLINE_GRACE + 10
        while "experiment.py" in json.dumps(containers[0].top()):
            assert time.monotonic() < deadline, "the node ran on past its limit in a container nobody watches"
            time.sleep(0.5)
    finally:
        clean(run_id, client)
