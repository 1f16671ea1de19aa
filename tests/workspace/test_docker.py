"""The Docker workspace against a real engine (scripts/docker-engine.sh starts one and builds
the test image). Skips with the reason when no engine answers."""

from __future__ import annotations

import asyncio
import json
import os
import time
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from workspace.base import ExecRequest, ExecResult
from workspace.docker import DockerWorkspace, DockerWorkspaceError, clean, engine_status, image_status
from workspace.docker_spec import DEFAULT_IMAGE, exec_environment

_ENGINE_OK, _ENGINE = engine_status()
_IMAGE_OK, _IMAGE = image_status(DEFAULT_IMAGE) if _ENGINE_OK else (False, _ENGINE)
pytestmark = pytest.mark.skipif(
    not (_ENGINE_OK and _IMAGE_OK),
    reason=f"Docker tests need an engine and {DEFAULT_IMAGE}: {_IMAGE}; run scripts/docker-engine.sh as root")


class Nodes:
    """Runs numbered nodes of one run through one workspace."""

    def __init__(self, ws: DockerWorkspace, root: Path, run_id: str) -> None:
        self.ws, self.root, self.run_id, self.next_id = ws, root, run_id, 1

    def request(self, code: str, **kw) -> ExecRequest:
        node_id, self.next_id = self.next_id, self.next_id + 1
        return ExecRequest(run_id=self.run_id, node_id=node_id, workdir=self.root / "nodes" / f"{node_id:05d}",
                           code=code, time_limit=kw.pop("time_limit", 30), **kw)

    async def run(self, code: str, **kw) -> ExecResult:
        return await self.ws.execute(self.request(code, **kw))

    def containers(self) -> list:
        return self.ws.client.containers.list(all=True, filters={"label": f"discover.run={self.run_id}"})

    async def still_runs(self) -> None:
        """The run carries on: the next node succeeds."""
        result = await self.run("print('next')\n")
        assert (result.exit_code, result.stdout) == (0, "next\n"), result.stderr


@pytest.fixture
async def workspaces(tmp_path: Path) -> AsyncIterator:
    """``workspaces(pool_size=..)`` opens a workspace for a fresh run; all are closed after the test
    and must leave no container behind."""
    opened: list[Nodes] = []

    def open_nodes(**kw) -> Nodes:
        ws = DockerWorkspace(**{"pool_size": 1, "memory": "256m", **kw})
        run_id = f"t{os.getpid()}-{time.monotonic_ns() % 10**9}"
        opened.append(Nodes(ws, tmp_path / run_id, run_id))
        return opened[-1]

    yield open_nodes
    for nodes in opened:
        await nodes.ws.close()
        assert clean(nodes.run_id) == 0, "close() left containers behind"


@pytest.fixture
def nodes(workspaces) -> Nodes:
    return workspaces()


SUCCESS = """
import json, os
print('uid', os.getuid(), 'cwd', os.getcwd(), flush=True)
open('plot.png', 'wb').write(b'png')
open('/tmp/scratch', 'w').write('t')
json.dump({'acc': 0.5 + int(os.environ['DISCOVER_NODE_ID']) / 100}, open('metrics.json', 'w'))
print(sorted(os.listdir('.')))
"""


async def test_success_crash_and_the_pool_reuses_a_reset_container(nodes: Nodes) -> None:
    first = await nodes.run(SUCCESS)
    assert first.exit_code == 0, first.stderr
    assert first.stdout.splitlines()[0] == "uid 65534 cwd /node" if os.getuid() == 0 else "cwd /node" in first.stdout
    assert first.metrics == {"acc": 0.51} and first.artifacts == ["plot.png"]
    node1 = nodes.root / "nodes" / "00001"
    assert (node1 / "plot.png").read_bytes() == b"png"
    assert (node1 / "stdout.txt").read_text() == first.stdout
    [container] = nodes.containers()

    crash = await nodes.run("print('before')\nraise ValueError('boom')\n")
    assert crash.exit_code == 1 and "ValueError: boom" in crash.stderr and crash.stdout == "before\n"
    assert crash.metrics is None and crash.artifacts == []

    third = await nodes.run(SUCCESS)
    assert third.metrics == {"acc": 0.53}
    # Same warm container, but it saw only its own files: the slot was reset in between.
    assert [c.id for c in nodes.containers()] == [container.id]
    assert third.stdout.splitlines()[1] == "['experiment.py', 'metrics.json', 'plot.png', 'tmp']"
    assert third.overhead < 2.0


async def test_output_is_capped(nodes: Nodes) -> None:
    code = "import sys\nfor i in range(30000): sys.stdout.write('x' * 99 + '\\n')\nprint('END')\n"
    result = await nodes.run(code, output_cap=10_000)
    assert result.stdout_bytes > 3_000_000 and len(result.stdout) < 11_000
    assert "bytes cut by discover" in result.stdout and result.stdout.rstrip().endswith("END")


@pytest.mark.slow
async def test_timeout_kills_the_container(nodes: Nodes) -> None:
    t0 = time.monotonic()
    result = await nodes.run("import time\nprint('started', flush=True)\ntime.sleep(60)\n", time_limit=1.5)
    assert result.timed_out and not result.oom_killed
    assert time.monotonic() - t0 < 10
    assert "started" in result.stdout and "time limit" in result.stderr
    assert nodes.containers() == []  # a killed container is not reused
    await nodes.still_runs()


async def test_out_of_memory_is_recorded(nodes: Nodes) -> None:
    result = await nodes.run("print('alloc', flush=True)\nblob = b'x' * (600 << 20)\nprint('survived')\n")
    assert result.oom_killed and not result.timed_out
    assert result.exit_code == -9 and "memory limit" in result.stderr and "survived" not in result.stdout
    await nodes.still_runs()


@pytest.mark.slow
async def test_fork_bomb_hits_the_process_limit(workspaces) -> None:
    nodes = workspaces(pids_limit=64)
    bomb = ("import os, time\nprint('bomb', flush=True)\nfailed = 0\n"
            "while True:\n    try:\n        os.fork()\n    except OSError:\n        time.sleep(0.01)\n")
    result = await nodes.run(bomb, time_limit=3)
    assert result.timed_out and "bomb" in result.stdout
    count = ("import os\nkids = []\n"
             "try:\n    for _ in range(200):\n        pid = os.fork()\n        if pid == 0:\n"
             "            import time; time.sleep(30); os._exit(0)\n        kids.append(pid)\n"
             "except OSError as exc:\n    print('stopped', len(kids), exc.errno)\n")
    counted = await nodes.run(count, time_limit=20)
    # The limit counts every process of the container (init, shell, python): fewer than 64 children.
    assert counted.exit_code == 0 and counted.stdout.startswith("stopped"), counted.stderr
    assert 30 < int(counted.stdout.split()[1]) < 64
    # Its 60-odd sleeping children were killed when it exited: the next node is alone.
    procs = await nodes.run("import os\nprint(len([p for p in os.listdir('/proc') if p.isdigit()]))\n")
    assert int(procs.stdout) <= 4, procs.stdout  # init, shell, python (and at most one being reaped)


async def test_no_network_unless_asked(nodes: Nodes) -> None:
    code = """
import os, socket
print(sorted(os.listdir('/sys/class/net')))
for host in ('1.1.1.1', '172.17.0.1'):
    try:
        socket.create_connection((host, 53), timeout=2)
        print(host, 'reached')
    except OSError as exc:
        print(host, 'unreachable', exc.errno)
"""
    closed = await nodes.run(code)
    lines = closed.stdout.splitlines()
    assert lines[0] == "['lo']", closed.stdout
    assert "reached" not in " ".join(line.split()[1] for line in lines[1:]) and len(lines) == 3
    opened = await nodes.run("import os\nprint(sorted(os.listdir('/sys/class/net')))\n", network=True)
    assert "eth0" in opened.stdout


async def test_writes_outside_the_node_folder_fail(nodes: Nodes, tmp_path: Path) -> None:
    data = tmp_path / "data.csv"
    data.write_text("a,b\n1,2\n")
    code = """
import os
print('data', open('data/data.csv').read().splitlines()[1])
outside = ('/etc/evil', '/evil', '/usr/lib/evil', '/node/../evil')
for path in outside + ('data/data.csv', os.path.realpath('data/data.csv')):
    try:
        with open(path, 'a') as f:
            f.write('x')
        print(path, 'WROTE')
    except OSError as exc:
        print(path, 'refused', exc.errno)
open('/tmp/mine', 'w').write('ok')
open('inside.txt', 'w').write('ok')
"""
    result = await nodes.run(code, data=[str(data)])
    assert result.exit_code == 0, result.stderr
    assert "data 1,2" in result.stdout and "WROTE" not in result.stdout
    assert result.stdout.count("refused") == 6
    assert data.read_text() == "a,b\n1,2\n"
    assert result.artifacts == ["inside.txt"]
    await nodes.still_runs()


async def test_no_api_keys_or_host_environment(nodes: Nodes, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("OPENAI_API_KEY", "sk-test-secret-123")
    monkeypatch.setenv("DISCOVER_MODEL", "gpt-x")
    code = ("import os, json\nprint(json.dumps(dict(os.environ)))\n"
            "print(open('/proc/1/environ').read().replace(chr(0), ' '))\n")
    result = await nodes.run(code)
    env = json.loads(result.stdout.splitlines()[0])
    assert "OPENAI_API_KEY" not in env and "DISCOVER_MODEL" not in env
    assert "sk-test-secret" not in result.stdout
    assert env["HOME"] == "/node" and env["DISCOVER_NODE_ID"] == "1"
    # Only what discover sets plus what the engine and the node's shell add.
    ours = set(exec_environment(nodes.request("")))
    assert set(env) - ours <= {"PATH", "HOSTNAME", "PWD"}, set(env) - ours


@pytest.mark.slow
async def test_cancellation_kills_the_node(nodes: Nodes) -> None:
    task = asyncio.ensure_future(nodes.run("import time\nprint('up', flush=True)\ntime.sleep(60)\n"))
    await asyncio.sleep(1.5)
    t0 = time.monotonic()
    task.cancel()
    result = await task
    assert result.cancelled and not result.timed_out
    assert time.monotonic() - t0 < 10
    assert nodes.containers() == []
    await nodes.still_runs()


async def test_concurrent_nodes_share_the_pool(workspaces) -> None:
    nodes = workspaces(pool_size=2)
    results = await asyncio.gather(*(nodes.run(SUCCESS) for _ in range(3)))
    assert [r.exit_code for r in results] == [0, 0, 0]
    assert sorted(r.metrics["acc"] for r in results) == [0.51, 0.52, 0.53]
    assert len(nodes.containers()) == 2  # three made, two kept warm


async def test_cold_containers_and_planted_links(workspaces, tmp_path: Path) -> None:
    nodes = workspaces(pool_size=0)
    victim = tmp_path / "victim.txt"
    victim.write_text("host file\n")
    secret = tmp_path / "secret.json"
    secret.write_text('{"acc": 1.0}')
    code = (f"import os\nos.symlink({str(victim)!r}, 'stdout.txt')\nos.symlink({str(secret)!r}, 'metrics.json')\n"
            "print('planted')\n")
    result = await nodes.run(code)
    assert result.exit_code == 0, result.stderr
    assert victim.read_text() == "host file\n"  # the framework did not write through the link
    assert result.metrics is None
    assert (nodes.root / "nodes" / "00001" / "stdout.txt").read_text() == "planted\n"
    assert nodes.containers() == []  # cold: removed after the node
    await nodes.still_runs()


async def test_clean_removes_a_runs_leftovers(nodes: Nodes) -> None:
    await nodes.still_runs()
    [container] = nodes.containers()
    slot = Path(container.labels["discover.slot"])
    assert slot.is_dir()
    assert clean("some-other-run") == 0
    assert clean(nodes.run_id) == 1
    assert nodes.containers() == [] and not slot.exists()


async def test_gpu_request_reaches_the_engine(nodes: Nodes) -> None:
    if "nvidia" in (nodes.ws.client.info().get("Runtimes") or {}):
        result = await nodes.run("import os\nprint(os.environ['DISCOVER_GPUS'])\n", gpus=["0"])
        assert result.exit_code == 0 and result.stdout == "0\n"
        return
    # No NVIDIA runtime here: the engine receives the device request and refuses it.
    with pytest.raises(DockerWorkspaceError, match="cannot hand GPU 0 .*NVIDIA Container Toolkit"):
        await nodes.run("print(1)\n", gpus=["0"])
    assert nodes.containers() == []
    await nodes.still_runs()
