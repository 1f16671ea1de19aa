"""Run a node as a local process in its own folder, process group and scrubbed environment."""

from __future__ import annotations

import asyncio
import os
import signal
import sys
import time
from pathlib import Path

from workspace.base import (
    CappedBuffer,
    ExecRequest,
    ExecResult,
    list_artifacts,
    prepare_workdir,
    read_metrics,
    write_outputs,
)

# Only these variables of the host pass through; everything else (API keys, tokens,
# cloud credentials, DISCOVER_* settings) stays behind.
_PASS_THROUGH = ("PATH", "LANG", "LC_ALL", "LC_CTYPE", "TZ", "TERM", "LD_LIBRARY_PATH")
_KILL_GRACE = 2.0  # seconds between SIGTERM and SIGKILL


def node_environment(request: ExecRequest, host: dict[str, str] | None = None) -> dict[str, str]:
    """The whole environment a node sees: a whitelist of the host's plus our own."""
    host = os.environ if host is None else host
    env = {k: host[k] for k in _PASS_THROUGH if k in host}
    workdir = str(request.workdir)
    threads = str(max(1, request.threads))
    env.update(
        HOME=workdir,
        TMPDIR=os.path.join(workdir, "tmp"),
        PYTHONUNBUFFERED="1",
        PYTHONDONTWRITEBYTECODE="1",
        MPLBACKEND="Agg",
        OMP_NUM_THREADS=threads,
        OPENBLAS_NUM_THREADS=threads,
        MKL_NUM_THREADS=threads,
        CUDA_VISIBLE_DEVICES=",".join(request.gpus),
        DISCOVER_NODE_ID=str(request.node_id),
        DISCOVER_SEED=str(request.seed),
    )
    for key in ("OPENBLAS_CORETYPE", "OPENBLAS_L2_SIZE"):
        # Set on some hosts because older OpenBLAS builds crash without them.
        if key in host:
            env[key] = host[key]
    env.update(request.extra_env)
    return env


class LocalWorkspace:
    """Runs each node with the interpreter running discover, with a wall-clock limit."""

    name = "local"

    def __init__(self, python: str | None = None) -> None:
        self.python = python or sys.executable
        self._live: set[int] = set()  # process groups of running nodes

    def kill_all(self) -> None:
        """SIGKILL every running node's process group (last resort on a hard exit)."""
        for pgid in list(self._live):
            _signal_group(pgid, signal.SIGKILL)

    async def execute(self, request: ExecRequest) -> ExecResult:
        """Run the node; on timeout or cancellation kill its whole process group."""
        t0 = time.perf_counter()
        prepare_workdir(request)
        out, err = CappedBuffer(request.output_cap), CappedBuffer(request.output_cap)
        proc = await asyncio.create_subprocess_exec(
            self.python, request.script,
            cwd=request.workdir,
            env=node_environment(request),
            stdin=asyncio.subprocess.DEVNULL,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.PIPE,
            start_new_session=True,  # its own process group, so a kill reaches its children
        )
        started = time.perf_counter()
        self._live.add(proc.pid)
        timed_out = cancelled = False
        (request.workdir / "pid").write_text(str(proc.pid))
        readers = asyncio.gather(
            _pump(proc.stdout, out, request.workdir / "stdout.txt"),
            _pump(proc.stderr, err, request.workdir / "stderr.txt"),
        )
        try:
            if not await _exited(proc, request.time_limit):
                timed_out = True
                await _kill_group(proc)
        except asyncio.CancelledError:
            cancelled = True
            await _kill_group(proc)
        finally:
            ended = time.perf_counter()
            _signal_group(proc.pid, signal.SIGKILL)  # reap stragglers left in the group
            self._live.discard(proc.pid)
            try:
                await asyncio.wait_for(readers, timeout=5)
            except (asyncio.TimeoutError, asyncio.CancelledError):
                readers.cancel()
        stdout, stderr = out.text(), err.text()
        if timed_out:
            stderr += f"\n[discover: killed after the {request.time_limit:g}s time limit]\n"
        write_outputs(request.workdir, stdout, stderr)
        metrics, metrics_error = read_metrics(request.workdir)
        result = ExecResult(
            exit_code=proc.returncode,
            timed_out=timed_out,
            cancelled=cancelled,
            duration=ended - started,
            stdout=stdout,
            stderr=stderr,
            stdout_bytes=out.total,
            stderr_bytes=err.total,
            metrics=metrics,
            metrics_error=metrics_error,
            artifacts=list_artifacts(request.workdir),
        )
        # A cancelled node still returns: its partial output is recorded as a cancelled attempt.
        result.overhead = time.perf_counter() - t0 - result.duration
        return result

    async def close(self) -> None:
        return None


async def _pump(stream: asyncio.StreamReader | None, sink: CappedBuffer, live: Path) -> None:
    """Read a stream into ``sink``; its head also goes to ``live`` as it comes, so that the
    output of a node survives a crash of the orchestrator (the file is rewritten at the end)."""
    if stream is None:
        return
    with open(live, "wb") as f:
        while chunk := await stream.read(65536):
            sink.feed(chunk)
            room = sink.half - f.tell()
            if room > 0:
                f.write(chunk[:room])
                f.flush()


async def _exited(proc: asyncio.subprocess.Process, limit: float) -> bool:
    """Wait up to ``limit`` seconds for the process itself to exit; True when it did.

    On Python 3.11 ``proc.wait()`` returns only once the output pipes close, so a node whose
    main process exited but left a background child holding stdout would look timed out.
    The return code is set at exit, before the pipes close: look at it too.
    """
    loop = asyncio.get_running_loop()
    deadline = loop.time() + limit
    waiter = asyncio.ensure_future(proc.wait())
    try:
        while proc.returncode is None:
            remaining = deadline - loop.time()
            if remaining <= 0:
                return False
            # No added latency in the usual case: wait() finishing ends this at once.
            await asyncio.wait({waiter}, timeout=min(0.1, remaining))
        return True
    finally:
        waiter.cancel()


def _signal_group(pid: int, sig: int) -> None:
    try:
        os.killpg(pid, sig)
    except (ProcessLookupError, PermissionError):
        pass


async def _kill_group(proc: asyncio.subprocess.Process) -> None:
    """SIGTERM the process group, then SIGKILL it if it has not exited after a grace period."""
    _signal_group(proc.pid, signal.SIGTERM)
    try:
        await asyncio.wait_for(asyncio.shield(proc.wait()), timeout=_KILL_GRACE)
    except (asyncio.TimeoutError, asyncio.CancelledError):
        pass
    _signal_group(proc.pid, signal.SIGKILL)
    try:
        await asyncio.wait_for(asyncio.shield(proc.wait()), timeout=5)
    except (asyncio.TimeoutError, asyncio.CancelledError):
        pass
