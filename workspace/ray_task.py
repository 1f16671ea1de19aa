"""The worker side of the Ray workspace: run one node in a scratch folder and pack up its outputs.

Everything here runs inside a Ray task on whichever machine Ray picked. It imports no Ray
(the Ray-specific facts, such as the GPU ids Ray assigned, are passed in), so it can be
read and tested on its own. The node runs with an ordinary workspace (local process or
Docker) in a temporary folder; its small outputs travel back in the return value, so the
driver and the workers share no filesystem.
"""

from __future__ import annotations

import asyncio
import json
import math
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, Field

from workspace.base import METRICS_FILE, ExecRequest, ExecResult

Inner = Literal["local", "docker"]
TASK_FILE = "task.json"  # written in the scratch folder when a task starts: where it runs, for humans and tests

# A reaper process per task. It holds the read end of a pipe whose write end only the task
# holds. When the node ends normally the task writes one byte and the reaper leaves quietly.
# When the worker process goes away before that, in any way (ray.cancel(force=True), which
# may be a graceful exit that skips the inner workspace's cleanup, a crash, its machine's
# raylet dying), the pipe reaches EOF without that byte and the reaper kills the node's
# process group (Ray kills at most a dead worker's direct children), removes containers the
# node started, and deletes the scratch folder. It detaches itself (forks, and its parent
# exits) so that it is not among the worker's children that Ray kills.
REAPER_CODE = r"""
import os, shutil, signal, subprocess, sys, time
if os.fork() > 0:
    os._exit(0)
folder, run_id, node_id, docker = sys.argv[1], sys.argv[2], sys.argv[3], sys.argv[4] == "1"
signal.signal(signal.SIGINT, signal.SIG_IGN)
signal.signal(signal.SIGTERM, signal.SIG_IGN)
try:
    finished = os.read(0, 1) == b"x"
except OSError:
    finished = False
if not finished:
    try:
        pgid = int(open(os.path.join(folder, "node", "pid")).read().strip())
        if pgid > 1:
            try:
                os.kill(pgid, signal.SIGUSR1)  # the local workspace's launcher: it kills all the node started
                time.sleep(0.3)
            except OSError:
                pass  # the launcher is gone already (Ray may kill it with the worker)
            os.killpg(pgid, signal.SIGKILL)
    except (OSError, ValueError):
        pass
    if docker:
        labels = ["discover.run=" + run_id, "discover.node=" + node_id]
        try:
            import docker as sdk
            client = sdk.from_env()
            for container in client.containers.list(all=True, filters={"label": labels}):
                container.remove(force=True)
        except Exception:
            try:
                ids = subprocess.run(["docker", "ps", "-aq", "--filter", "label=" + labels[0],
                                      "--filter", "label=" + labels[1]],
                                     capture_output=True, text=True, timeout=30).stdout.split()
                if ids:
                    subprocess.run(["docker", "rm", "-f", *ids], capture_output=True, timeout=60)
            except (OSError, subprocess.SubprocessError):
                pass
    shutil.rmtree(folder, ignore_errors=True)
"""


class TaskSpec(BaseModel):
    """What the driver sends with each task: the request (its code included) and the limits."""

    request: dict[str, Any]  # an ExecRequest dump; its workdir is replaced on the worker
    inner: Inner = "local"
    inner_options: dict[str, Any] = Field(default_factory=dict)  # keyword arguments of the inner workspace
    threads: int = 1
    scratch_dir: str | None = None  # parent of the per-task folders; the system temp folder if None
    artifact_file_cap: int = 10 * 1024 * 1024  # bytes; bigger artifacts stay on the worker
    artifact_total_cap: int = 50 * 1024 * 1024


class TaskOutput(BaseModel):
    """What comes back: the result, the files to write on the driver, and where it ran."""

    result: dict[str, Any]  # an ExecResult dump; artifacts lists only the files shipped
    files: dict[str, bytes] = Field(default_factory=dict)  # relative path -> content (metrics.json, artifacts)
    left_out: list[str] = Field(default_factory=list)  # 'path (why)' of artifacts not shipped
    host: str = ""
    ray_node_id: str = ""
    gpu_ids: list[str] = Field(default_factory=list)
    worker_seconds: float = 0.0  # the whole task on the worker, setup and packing included


def run_task(spec: dict[str, Any], *, gpu_ids: list[str], ray_node_id: str = "") -> dict[str, Any]:
    """Run one node on this machine and return a ``TaskOutput`` dump.

    ``gpu_ids`` are the GPUs Ray assigned to this task: they become the node's
    CUDA_VISIBLE_DEVICES (local) or device request (Docker).
    """
    t0 = time.perf_counter()
    task = TaskSpec.model_validate(spec)
    scratch = Path(tempfile.mkdtemp(prefix=f"discover-ray-{task.request.get('node_id', 'x')}-",
                                    dir=task.scratch_dir))
    request = ExecRequest.model_validate({
        **task.request, "workdir": scratch / "node", "gpus": list(gpu_ids), "threads": max(1, task.threads),
    })
    (scratch / TASK_FILE).write_text(json.dumps({
        "host": socket.gethostname(), "ray_node_id": ray_node_id, "worker_pid": os.getpid(),
        "node_id": request.node_id, "run_id": request.run_id, "gpu_ids": list(gpu_ids),
    }))
    reaper, pipe = _start_reaper(scratch, request, docker=task.inner == "docker")
    notes: list[str] = []
    node_done = False
    try:
        notes += _missing_data_notes(request)
        result = asyncio.run(_execute(task.inner, task.inner_options, request))
        node_done = True  # the inner workspace returned: it has killed the node's processes itself
        files, shipped, left_out = _collect(request.workdir, result, task)
        result = result.model_copy(update={"artifacts": shipped})
        if notes:
            result.stderr += "".join(f"\n[discover: {note}]" for note in notes) + "\n"
        return TaskOutput(
            result=result.model_dump(), files=files, left_out=left_out, host=socket.gethostname(),
            ray_node_id=ray_node_id, gpu_ids=list(gpu_ids), worker_seconds=time.perf_counter() - t0,
        ).model_dump()
    finally:
        # Anything else (Ray's graceful kill raising SystemExit mid-run, a crash in here) leaves
        # the reaper to kill whatever of the node still runs.
        _stop_reaper(reaper, pipe, node_done)
        shutil.rmtree(scratch, ignore_errors=True)


async def _execute(inner: Inner, options: dict[str, Any], request: ExecRequest) -> ExecResult:
    workspace = make_inner(inner, options)
    try:
        return await workspace.execute(request)
    finally:
        await workspace.close()


def make_inner(inner: Inner, options: dict[str, Any] | None = None) -> Any:
    """The workspace that runs the node on the worker machine (one per task)."""
    options = dict(options or {})
    if inner == "local":
        from workspace.local import LocalWorkspace

        return LocalWorkspace(**options)
    if inner == "docker":
        from workspace.docker import DockerWorkspace

        # A workspace lives for one task here, so a warm pool would never be reused.
        options.setdefault("pool_size", 0)
        return DockerWorkspace(**options)
    raise ValueError(f"inner: unknown workspace {inner!r} (choose from local, docker)")


def _missing_data_notes(request: ExecRequest) -> list[str]:
    """Large data is read by path on the worker: say which paths this machine lacks."""
    host = socket.gethostname()
    return [f"data path {path} does not exist on the Ray worker {host}" for path in request.data
            if not Path(path).exists()]


def _collect(workdir: Path, result: ExecResult, task: TaskSpec) -> tuple[dict[str, bytes], list[str], list[str]]:
    """metrics.json and the artifacts that fit the caps, as bytes; the rest named with the reason."""
    files: dict[str, bytes] = {}
    metrics = workdir / METRICS_FILE
    if metrics.is_file() and not metrics.is_symlink() and metrics.stat().st_size <= 1_000_000:
        files[METRICS_FILE] = metrics.read_bytes()
    shipped: list[str] = []
    left_out: list[str] = []
    total = 0
    for rel in result.artifacts:
        path = workdir / rel
        try:
            size = path.stat().st_size
        except OSError:
            continue
        if size > task.artifact_file_cap:
            left_out.append(f"{rel} ({_mb(size)} is over the {_mb(task.artifact_file_cap)} artifact cap)")
            continue
        if total + size > task.artifact_total_cap:
            left_out.append(f"{rel} ({_mb(size)} would pass the {_mb(task.artifact_total_cap)} total cap)")
            continue
        files[rel] = path.read_bytes()
        shipped.append(rel)
        total += size
    return files, shipped, left_out


def _mb(size: int) -> str:
    return f"{size / 1e6:.1f} MB" if size >= 100_000 else f"{math.ceil(size / 1000)} kB"


def _start_reaper(scratch: Path, request: ExecRequest, *, docker: bool) -> tuple[subprocess.Popen[bytes] | None, int]:
    """Start the reaper; return its first process and the write end of its pipe (kept open while
    the node runs)."""
    read_end, write_end = os.pipe()
    reaper = None
    try:
        # -S (no site-packages) starts it faster; the Docker cleanup wants the docker SDK from them.
        flags = ["-I"] if docker else ["-I", "-S"]
        reaper = subprocess.Popen(
            [sys.executable, *flags, "-c", REAPER_CODE, str(scratch), request.run_id, str(request.node_id),
             "1" if docker else "0"],
            stdin=read_end, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
            start_new_session=True,  # outlives the worker and its process group
        )
        # Its first process exits once the reaper has detached: until then a kill of the worker
        # (Ray kills the worker's direct children too) would take the reaper with it.
        reaper.wait(timeout=30)
    except (OSError, subprocess.TimeoutExpired):
        pass  # no reaper: the node still runs, only a hard kill of its worker could leave it behind
    os.close(read_end)
    return reaper, write_end


def _stop_reaper(reaper: subprocess.Popen[bytes] | None, write_end: int, node_done: bool) -> None:
    if node_done:
        try:
            os.write(write_end, b"x")
        except OSError:
            pass
    os.close(write_end)
    if reaper is not None:
        # Its first process exited as soon as it had detached the reaper: collect it.
        try:
            reaper.wait(timeout=10)
        except subprocess.TimeoutExpired:
            pass
