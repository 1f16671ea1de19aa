"""Hostile experiment programs in the local workspace: disk fillers, orphan makers, network use."""

from __future__ import annotations

import asyncio
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests.conftest import alive
from workspace.base import ExecRequest
from workspace.local import LocalWorkspace, probe
from workspace.quota import folder_usage

MB = 1 << 20


def request(tmp_path: Path, code: str, node_id: int = 1, **kw) -> ExecRequest:
    return ExecRequest(run_id="r", node_id=node_id, workdir=tmp_path / f"node{node_id}", code=code,
                       time_limit=kw.pop("time_limit", 20), **kw)


BIG_FILE = """
import json
json.dump({'acc': 1.0}, open('metrics.json', 'w'))
print('writing', flush=True)
with open('big.bin', 'wb') as f:
    while True:
        f.write(b'x' * (1 << 20))
"""

MANY_FILES = """
import os, time
print('writing', flush=True)
os.makedirs('tmp/junk', exist_ok=True)
i = 0
while True:  # each file stays under any size limit: only the folder's total can stop this
    open(f'tmp/junk/{i}.bin', 'wb').write(b'y' * (256 << 10))
    i += 1
"""


async def test_a_big_file_stops_at_the_quota_and_the_next_node_runs(tmp_path: Path) -> None:
    ws = LocalWorkspace(disk_limit=8 * MB)
    t0 = time.monotonic()
    result = await ws.execute(request(tmp_path, BIG_FILE))
    assert time.monotonic() - t0 < 10
    assert result.disk_exceeded and not result.timed_out
    assert "disk quota exceeded" in result.stderr
    assert "writing" in result.stdout  # its output is kept
    big = tmp_path / "node1" / "big.bin"
    assert 0 < big.stat().st_size <= 8 * MB  # kept up to the quota
    assert folder_usage(tmp_path / "node1") <= 8 * MB + MB
    nxt = await ws.execute(request(tmp_path, "print('next')\n", node_id=2))
    assert nxt.exit_code == 0 and not nxt.disk_exceeded and nxt.stdout == "next\n"


async def test_many_small_files_are_caught_by_the_watcher_and_trimmed(tmp_path: Path) -> None:
    result = await LocalWorkspace(disk_limit=6 * MB).execute(request(tmp_path, MANY_FILES, time_limit=30))
    assert result.disk_exceeded and not result.timed_out
    assert result.exit_code != 0
    assert folder_usage(tmp_path / "node1") <= 6 * MB + MB


async def test_the_request_quota_wins_and_none_means_none(tmp_path: Path) -> None:
    code = "open('f.bin', 'wb').write(b'z' * (3 << 20))\nprint('ok')\n"
    roomy = await LocalWorkspace(disk_limit=64 * MB).execute(request(tmp_path, code))
    assert roomy.exit_code == 0 and not roomy.disk_exceeded
    tight = await LocalWorkspace(disk_limit=64 * MB).execute(request(tmp_path, code, node_id=2, disk_limit=2 * MB))
    assert tight.disk_exceeded and "File too large" in tight.stderr


ORPHANS = """
import os, subprocess, sys, time
pids = []
# A daemon: double fork and a session of its own, so a process-group kill misses it.
r, w = os.pipe()
if os.fork() == 0:
    os.setsid()
    if os.fork() == 0:
        os.write(w, str(os.getpid()).encode() + b' ')
        time.sleep(300)
    os._exit(0)
# A plain background child, and one started with setsid(1).
p = subprocess.Popen([sys.executable, '-c', 'import time; time.sleep(300)'])
q = subprocess.Popen(['setsid', 'sleep', '300'])
time.sleep(0.3)
os.close(w)
daemon = os.read(r, 100).decode().split()
open(os.environ['PIDS'], 'w').write(' '.join([*daemon, str(p.pid), str(q.pid)]))
print('left three behind', flush=True)
"""


async def test_no_process_outlives_its_node(tmp_path: Path) -> None:
    pids_file = tmp_path / "pids"
    result = await LocalWorkspace().execute(request(tmp_path, ORPHANS, extra_env={"PIDS": str(pids_file)}))
    assert result.exit_code == 0, result.stderr
    pids = [int(p) for p in pids_file.read_text().split()]
    assert len(pids) >= 3
    await asyncio.sleep(0.2)
    assert [p for p in pids if alive(p)] == []


async def test_orphans_of_a_timed_out_node_die_too(tmp_path: Path) -> None:
    pids_file = tmp_path / "pids"
    code = ORPHANS + "import time\ntime.sleep(300)\n"
    result = await LocalWorkspace().execute(request(tmp_path, code, time_limit=3, extra_env={"PIDS": str(pids_file)}))
    assert result.timed_out
    pids = [int(p) for p in pids_file.read_text().split()]
    await asyncio.sleep(0.2)
    assert [p for p in pids if alive(p)] == []


KILLS_ITS_LAUNCHER = """
import os, signal, time
if os.fork() == 0:
    os.setsid()
    if os.fork() == 0:
        open(os.environ['PIDS'], 'w').write(str(os.getpid()))
        time.sleep(300)
    os._exit(0)
time.sleep(0.3)
os.kill(os.getppid(), signal.SIGKILL)  # the launcher: its daemon is now nobody's child
"""


async def test_a_daemon_whose_launcher_was_killed_is_swept(tmp_path: Path) -> None:
    pids_file = tmp_path / "pids"
    await LocalWorkspace().execute(request(tmp_path, KILLS_ITS_LAUNCHER, extra_env={"PIDS": str(pids_file)}))
    await asyncio.sleep(0.2)
    assert not alive(int(pids_file.read_text()))


CONNECT = """
import os, socket
try:
    socket.create_connection(('127.0.0.1', int(os.environ['PORT'])), timeout=2).close()
    print('reached the host')
except OSError as exc:
    print('no network:', exc)
s = socket.socket()
s.bind(('127.0.0.1', 0))  # its own loopback works
print('loopback ok')
"""


@pytest.fixture
def host_server():
    """A TCP server on the host's loopback; yields its port."""
    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen(8)
    yield server.getsockname()[1]
    server.close()


@pytest.mark.skipif(not probe().get("network"), reason="this kernel refuses an unprivileged network namespace")
async def test_no_network_unless_the_idea_asks(tmp_path: Path, host_server: int) -> None:
    env = {"PORT": str(host_server)}
    ws = LocalWorkspace()
    closed = await ws.execute(request(tmp_path, CONNECT, extra_env=env))
    assert "no network" in closed.stdout and "loopback ok" in closed.stdout, closed.stderr
    opened = await ws.execute(request(tmp_path, CONNECT, node_id=2, network=True, extra_env=env))
    assert "reached the host" in opened.stdout, opened.stderr
    assert "no network (a network namespace)" in ws.isolation()


SHM = """
import multiprocessing as mp, os
name = os.environ["SHM_NAME"]
print("host file seen" if os.path.exists('/dev/shm/' + os.environ["HOST_FILE"]) else "host file unseen")
open('/dev/shm/' + name, 'wb').write(b'z' * (4 << 20))
q = mp.Queue()  # POSIX semaphores live in /dev/shm: the node's own must work
with mp.Pool(2) as pool:
    print('pool', sum(pool.map(abs, [-1, -2, -3])))
q.put('queued'); print(q.get())
s = os.statvfs('/dev/shm')
print('shm size', s.f_blocks * s.f_frsize >> 20)
"""


@pytest.mark.skipif(not probe().get("shm"), reason="this kernel refuses a mount namespace for the node's /dev/shm")
async def test_a_node_has_a_dev_shm_of_its_own_that_goes_with_it(tmp_path: Path) -> None:
    """A file a node writes to /dev/shm lives in RAM, outside its folder's quota: on the host's
    /dev/shm it outlived the node. Each node gets its own, bounded by its memory limit."""
    token = os.urandom(4).hex()
    host_file = Path(f"/dev/shm/discover-test-host-{token}")
    host_file.write_bytes(b"the user's shared memory")
    try:
        ws = LocalWorkspace(memory_limit=128 * MB)
        env = {"SHM_NAME": f"discover-test-node-{token}", "HOST_FILE": host_file.name}
        result = await ws.execute(request(tmp_path, SHM, extra_env=env))
        assert result.exit_code == 0, result.stderr
        assert "host file unseen" in result.stdout and "pool 6" in result.stdout and "queued" in result.stdout
        # Sized by the memory limit. (Filling it to ENOSPC would race the watcher, which counts it too.)
        assert "shm size 128" in result.stdout
        assert not Path(f"/dev/shm/discover-test-node-{token}").exists()
        assert "a /dev/shm of its own" in ws.isolation()
    finally:
        host_file.unlink()


@pytest.mark.skipif(not probe().get("shm"), reason="this kernel refuses a mount namespace for the node's /dev/shm")
async def test_what_a_node_keeps_in_its_dev_shm_counts_against_its_memory_limit(tmp_path: Path) -> None:
    """A tmpfs's pages are in no process's resident size: 60 MB there with a few MB resident
    passes a 64 MB limit only when the watcher counts the node's /dev/shm too."""
    code = ("import time\nwith open('/dev/shm/held', 'wb') as f:\n    for _ in range(60):\n"
            "        f.write(b'x' * (1 << 20))\nprint('held', flush=True)\ntime.sleep(10)\n")
    result = await LocalWorkspace(memory_limit=64 * MB).execute(request(tmp_path, code))
    assert result.oom_killed and result.duration < 8, (result.stdout, result.stderr)
    assert "killed: out of memory (its processes and its /dev/shm held" in result.stderr


ORCHESTRATOR = """
import asyncio, sys
from pathlib import Path
from workspace.base import ExecRequest
from workspace.local import LocalWorkspace

code = "import os, time\\nopen('pid.txt', 'w').write(str(os.getpid()))\\ntime.sleep(5)\\nopen('done', 'w').write('ran on')\\n"
asyncio.run(LocalWorkspace().execute(ExecRequest(run_id="r", node_id=1, workdir=Path(sys.argv[1]), code=code,
                                                 time_limit=30)))
"""


def test_a_node_dies_with_an_orchestrator_killed_outright(tmp_path: Path) -> None:
    node = tmp_path / "node1"
    env = {**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parents[2])}
    orchestrator = subprocess.Popen([sys.executable, "-c", ORCHESTRATOR, str(node)], env=env)
    deadline = time.monotonic() + 30
    while not (node / "pid.txt").exists() or not (node / "pid.txt").read_text():
        assert orchestrator.poll() is None and time.monotonic() < deadline
        time.sleep(0.05)
    pid = int((node / "pid.txt").read_text())
    orchestrator.send_signal(signal.SIGKILL)  # no clean-up code of ours runs
    orchestrator.wait()
    deadline = time.monotonic() + 3
    while alive(pid) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert not alive(pid), "the node ran on after its orchestrator was killed"
    time.sleep(5.5)
    assert not (node / "done").exists()
