"""A fast workspace for the search benchmark: each node's script runs in a fork of a warm Python.

The benchmark's experiments are tiny self-contained scripts; starting a fresh interpreter
(plus the local workspace's sandboxing launcher) for each costs about 0.1 s of CPU, far more
than the script itself, and does not change which node a policy picks. Here a small server
process (the "zygote", started before any thread exists) imports what the scripts import
once, then forks a child per node: the child moves into the node's folder, sends its
output to files and runs the script; the zygote reports its exit status. Limits: a wall
clock per node (the child is killed past it); nothing else, since the scripts are ours.

Use it only for the benchmark: real experiment code runs in workspace/ (local, Docker, Ray).
"""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from workspace.base import ExecRequest, ExecResult, list_artifacts, prepare_workdir, read_metrics  # noqa: E402

ZYGOTE = r'''
import json, math, os, random, runpy, signal, sys, time
for line in sys.stdin:
    req = json.loads(line)
    pid = os.fork()
    if pid == 0:
        try:
            os.chdir(req["workdir"])
            os.environ.update(req["env"])
            out = os.open("stdout.txt", os.O_WRONLY | os.O_CREAT | os.O_TRUNC)
            err = os.open("stderr.txt", os.O_WRONLY | os.O_CREAT | os.O_TRUNC)
            os.dup2(out, 1)
            os.dup2(err, 2)
            sys.argv = ["experiment.py"]
            runpy.run_path("experiment.py", run_name="__main__")
            code = 0
        except SystemExit as exc:
            code = exc.code if isinstance(exc.code, int) else 1
        except BaseException:
            import traceback
            traceback.print_exc()
            code = 1
        sys.stdout.flush()
        sys.stderr.flush()
        os._exit(code)
    deadline = time.monotonic() + req["limit"]
    timed_out = False
    while True:
        done, status = os.waitpid(pid, os.WNOHANG)
        if done:
            break
        if time.monotonic() > deadline:
            os.kill(pid, signal.SIGKILL)
            os.waitpid(pid, 0)
            timed_out, status = True, 9
            break
        time.sleep(0.001)
    code = os.waitstatus_to_exitcode(status) if not timed_out else -9
    print(json.dumps({"code": code, "timed_out": timed_out}), flush=True)
'''


class ForkWorkspace:
    """Runs each node's script in a fork of a warm interpreter (one at a time per zygote)."""

    name = "fork"

    def __init__(self, zygotes: int = 1, order: Any = None) -> None:
        """``order``: a ``finish_order.SeededOrder`` deciding when each node's result is returned."""
        self.order = order
        self._free: asyncio.Queue[subprocess.Popen[str]] | None = None
        self._count = zygotes
        self._procs: list[subprocess.Popen[str]] = []

    def _start(self) -> None:
        self._free = asyncio.Queue()
        for _ in range(self._count):
            proc = subprocess.Popen([sys.executable, "-c", ZYGOTE], stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                    text=True, bufsize=1)
            self._procs.append(proc)
            self._free.put_nowait(proc)

    async def execute(self, request: ExecRequest) -> ExecResult:
        """Run the script in a forked child; the result as the local workspace would report it."""
        if self._free is None:
            self._start()
        prepare_workdir(request)
        if self.order is None:
            return await self._run(request)
        self.order.start(request.node_id, request.seed)
        try:
            result = await self._run(request)
        except BaseException:
            self.order.drop(request.node_id)
            raise
        await self.order.finish(request.node_id)
        return result

    async def _run(self, request: ExecRequest) -> ExecResult:
        assert self._free is not None
        proc = await self._free.get()
        t0 = time.perf_counter()
        try:
            env = {"DISCOVER_SEED": str(request.seed), "DISCOVER_NODE_ID": str(request.node_id)}
            line = json.dumps({"workdir": str(request.workdir), "env": env, "limit": request.time_limit})
            reply = await asyncio.to_thread(_ask, proc, line)
        finally:
            self._free.put_nowait(proc)
        duration = time.perf_counter() - t0
        stdout = _read(request.workdir / "stdout.txt")
        stderr = _read(request.workdir / "stderr.txt")
        metrics, metrics_error = read_metrics(request.workdir)
        return ExecResult(exit_code=reply["code"], timed_out=reply["timed_out"], duration=duration, stdout=stdout,
                          stderr=stderr, stdout_bytes=len(stdout), stderr_bytes=len(stderr), metrics=metrics,
                          metrics_error=metrics_error, artifacts=list_artifacts(request.workdir))

    async def close(self) -> None:
        for proc in self._procs:
            if proc.stdin:
                proc.stdin.close()
            proc.wait(timeout=5)


def _ask(proc: subprocess.Popen[str], line: str) -> dict:
    assert proc.stdin is not None and proc.stdout is not None
    proc.stdin.write(line + "\n")
    proc.stdin.flush()
    return json.loads(proc.stdout.readline())


def _read(path: Path) -> str:
    try:
        return path.read_text(errors="replace")[-1_000_000:]
    except OSError:
        return ""
