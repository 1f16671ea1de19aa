"""Run a node as a local process in its own folder, under a launcher that kills all it starts,
with a disk quota, a scrubbed environment and, where the kernel allows, no network."""

from __future__ import annotations

import asyncio
import contextlib
import functools
import json
import os
import signal
import subprocess
import sys
import time
import uuid
from pathlib import Path
from typing import Any, BinaryIO

from workspace.base import (
    CappedBuffer,
    ExecRequest,
    ExecResult,
    list_artifacts,
    open_node_file,
    prepare_workdir,
    read_metrics,
    write_node_file,
    write_outputs,
)
from workspace.limits import parse_size, size_text
from workspace.memory import watch_memory
from workspace.quota import DISK_NOTE, folder_usage, trim_to, watch

# Only these variables of the host pass through; everything else (API keys, tokens,
# cloud credentials, DISCOVER_* settings) stays behind.
_PASS_THROUGH = ("PATH", "LANG", "LC_ALL", "LC_CTYPE", "TZ", "TERM", "LD_LIBRARY_PATH")
_KILL_GRACE = 3.0  # seconds between SIGTERM and SIGKILL of the group: the launcher's own grace and its sweep
LAUNCHER = Path(__file__).with_name("launcher.py")
TOKEN_VARIABLE = "DISCOVER_NODE_TOKEN"  # in every process of a node, so that escapees can be found


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
    """Runs each node with the interpreter running discover, with a wall-clock limit, under a
    launcher that kills whatever the node leaves behind (workspace/launcher.py), a disk quota
    on its folder and, where the kernel allows it, no network."""

    name = "local"

    def __init__(self, python: str | None = None, *, disk_limit: int | None = None,
                 memory_limit: int | None = None, isolate_network: bool = True) -> None:
        self.python = python or sys.executable
        self.disk_limit = disk_limit  # bytes per node folder; None: no quota (ExecRequest.disk_limit wins)
        self.memory_limit = memory_limit  # resident bytes of a node's processes; None: no limit
        self.isolate_network = isolate_network
        self._live: dict[int, str] = {}  # process group of each running node -> its token

    def isolation(self) -> str:
        """One line: what this workspace keeps a node from doing, and what it does not."""
        parts = ["no sandbox: the node runs as you, with your files"]
        if self.isolate_network:
            how = probe().get("network")
            parts.append("no network (a network namespace)" if how else
                         "network open (this kernel refuses an unprivileged network namespace)")
        else:
            parts.append("network open")
        parts.append(f"{size_text(self.disk_limit)} disk per node" if self.disk_limit else "no disk quota")
        parts.append(f"{size_text(self.memory_limit)} memory per node (resident, all its processes)"
                     if self.memory_limit else "no memory limit")
        parts.append("processes killed with the node" if probe().get("subreaper") else
                     "leftover processes killed by process group and a sweep")
        parts.append("a /dev/shm of its own" if probe().get("shm") else
                     "the host's /dev/shm (this kernel refuses a mount namespace: files there outlive the node)")
        return ", ".join(parts)

    def kill_all(self) -> None:
        """Kill every running node and all it started (last resort on a hard exit)."""
        for pgid in list(self._live):
            _signal(pgid, signal.SIGUSR1)  # the launcher kills the node's processes at once
        if self._live:
            time.sleep(0.2)
        for pgid, token in list(self._live.items()):
            _signal_group(pgid, signal.SIGKILL)
            sweep_token(token)

    async def execute(self, request: ExecRequest) -> ExecResult:
        """Run the node; on timeout, cancellation or a full disk kill it and all it started."""
        t0 = time.perf_counter()
        prepare_workdir(request)
        limit = request.disk_limit or self.disk_limit
        memory = parse_size(request.memory_limit) if request.memory_limit else self.memory_limit
        token = uuid.uuid4().hex
        env = {**node_environment(request), TOKEN_VARIABLE: token}
        launcher = [sys.executable, "-I", "-S", str(LAUNCHER)]
        if limit:
            launcher += ["--fsize", str(limit)]
        if self.isolate_network and not request.network:
            launcher.append("--no-network")
        # A /dev/shm of its own: what the node leaves there goes with it, and counts as its memory.
        launcher += ["--shm", str(memory or 0)]
        out, err = CappedBuffer(request.output_cap), CappedBuffer(request.output_cap)
        argv = [self.python, request.script]
        if request.confine:
            from workspace.confine import available, confined_command

            if available():  # else the framework has said that the node runs unconfined
                argv = confined_command(self.python, request.script, request.workdir, request.data)
        # Opened before the node starts: it could otherwise put a link there first.
        live_out = os.fdopen(open_node_file(request.workdir / "stdout.txt", write=True), "wb")
        live_err = os.fdopen(open_node_file(request.workdir / "stderr.txt", write=True), "wb")
        try:
            proc = await asyncio.create_subprocess_exec(
                *launcher, "--", *argv,
                cwd=request.workdir,
                env=env,
                stdin=asyncio.subprocess.DEVNULL,
                stdout=asyncio.subprocess.PIPE,
                stderr=asyncio.subprocess.PIPE,
                start_new_session=True,  # its own process group, so a kill reaches its children
            )
        except BaseException:
            live_out.close()
            live_err.close()
            raise
        started = time.perf_counter()
        self._live[proc.pid] = token
        timed_out = cancelled = False
        full = asyncio.Event()
        with contextlib.suppress(OSError):  # the node raced to put something there: resume then finds no pid
            write_node_file(request.workdir / "pid", str(proc.pid))
        readers = asyncio.gather(_pump(proc.stdout, out, live_out), _pump(proc.stderr, err, live_err))

        async def on_full() -> None:
            full.set()
            _signal(proc.pid, signal.SIGUSR1)  # no grace: every second more is another GB

        watcher = asyncio.ensure_future(watch(request.workdir, limit, on_full)) if limit else None
        used_memory: list[int] = []

        async def on_memory(used: int) -> None:
            used_memory.append(used)
            _signal(proc.pid, signal.SIGUSR1)

        memory_watcher = asyncio.ensure_future(watch_memory(proc.pid, memory, on_memory)) if memory else None
        try:
            if not await _exited(proc, request.time_limit):
                timed_out = True
                await _kill_group(proc)
        except asyncio.CancelledError:
            cancelled = True
            await _kill_group(proc)
        finally:
            ended = time.perf_counter()
            for task in (watcher, memory_watcher):
                if task is not None:
                    task.cancel()
            _signal_group(proc.pid, signal.SIGKILL)  # the launcher is gone: reap stragglers left in the group
            self._live.pop(proc.pid, None)
            await asyncio.to_thread(sweep_token, token)  # and any that escaped it (a killed launcher)
            try:
                await asyncio.wait_for(readers, timeout=5)
            except (asyncio.TimeoutError, asyncio.CancelledError):
                readers.cancel()
        disk_exceeded = False
        if limit:
            disk_exceeded = full.is_set() or await asyncio.to_thread(folder_usage, request.workdir) >= limit
            if disk_exceeded:
                await asyncio.to_thread(trim_to, request.workdir, limit)
        stdout, stderr = out.text(), err.text()
        if disk_exceeded:
            stderr += f"\n[discover: killed: {DISK_NOTE} (the node folder reached its {size_text(limit)} limit)]\n"
        elif used_memory:
            stderr += (f"\n[discover: killed: out of memory (its processes and its /dev/shm held "
                       f"{size_text(used_memory[0])}, over its {size_text(memory)} limit)]\n")
        elif timed_out:
            stderr += f"\n[discover: killed after the {request.time_limit:g}s time limit]\n"
        write_outputs(request.workdir, stdout, stderr)
        metrics, metrics_error = read_metrics(request.workdir)
        result = ExecResult(
            exit_code=proc.returncode,
            timed_out=timed_out and not disk_exceeded and not used_memory,
            oom_killed=bool(used_memory) and not disk_exceeded,
            cancelled=cancelled,
            disk_exceeded=disk_exceeded,
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


@functools.cache
def probe() -> dict[str, Any]:
    """What the launcher can do on this machine: {'subreaper': bool, 'network': how or None,
    'shm': whether a node gets a /dev/shm of its own}."""
    try:
        done = subprocess.run([sys.executable, "-I", "-S", str(LAUNCHER), "--probe", "--no-network", "--shm", "0"],
                              capture_output=True, text=True, timeout=30, check=False)
        return json.loads(done.stdout)
    except (OSError, subprocess.SubprocessError, ValueError):
        return {"subreaper": False, "network": None, "shm": False}


def sweep_token(token: str) -> int:
    """SIGKILL every process whose environment carries ``token``: those that escaped the
    launcher (it was killed first, or they left its process tree). How many were found."""
    needle = f"{TOKEN_VARIABLE}={token}".encode() + b"\0"
    found = 0
    for name in os.listdir("/proc"):
        if not name.isdigit() or int(name) == os.getpid():
            continue
        try:
            with open(f"/proc/{name}/environ", "rb") as f:
                if needle not in f.read() + b"\0":
                    continue
            os.kill(int(name), signal.SIGKILL)
            found += 1
        except (OSError, ValueError):
            continue
    return found


async def _pump(stream: asyncio.StreamReader | None, sink: CappedBuffer, live: BinaryIO) -> None:
    """Read a stream into ``sink``; its head also goes to ``live`` as it comes, so that the
    output of a node survives a crash of the orchestrator (the file is rewritten at the end)."""
    with live as f:
        if stream is None:
            return
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


def _signal(pid: int, sig: int) -> None:
    try:
        os.kill(pid, sig)
    except (ProcessLookupError, PermissionError):
        pass


async def _kill_group(proc: asyncio.subprocess.Process) -> None:
    """SIGTERM the process group; the launcher gives the node a grace period, then kills all it
    started. SIGKILL the group if the launcher has not exited by then."""
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
