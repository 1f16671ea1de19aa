"""Run each node as a Ray task, on whichever machine of a Ray cluster has the resources it asks for.

The orchestrator stays on the driver and remains the only writer of the run store. A node's
code goes out in the task's arguments; on the worker it runs with the local (or Docker)
workspace in a scratch folder, with the GPUs Ray assigned; its output, metrics.json and
small artifacts come back in the task's return value and are written here into the node's
folder. No shared filesystem is needed; large data is read by path on the workers.

A task lost with its worker or machine is run once more, then recorded as a failed
execution (exit code None, the reason in stderr); the search goes on. Ray is imported only
here and in the task entry point, lazily: installing it is optional (``pip install '.[ray]'``).
"""

from __future__ import annotations

import asyncio
import json
import logging
import math
import os
import socket
import threading
import time
from pathlib import Path, PurePosixPath
from typing import Any

from workspace.base import (
    METRICS_FILE,
    ExecRequest,
    ExecResult,
    open_node_file,
    remove_node_file,
    write_node_file,
    write_outputs,
)
from workspace.limits import size_text
from workspace.ray_task import Inner, TaskOutput, TaskSpec

RAY_FILE = "ray.json"  # where and how often a node ran, written in its folder on the driver
_FEASIBLE_CACHE = 2.0  # seconds a look at the cluster's nodes is reused


class RayUnavailable(RuntimeError):
    """Ray is not installed or the cluster cannot be reached; the message says which."""


class RayWorkspace:
    """Runs nodes as Ray tasks with ``num_cpus``/``num_gpus`` (and custom ``resources``) each.

    ``address``: ``"local"`` starts a private Ray instance on this machine (stopped by
    ``close``); ``"HOST:PORT"`` or ``"ray://HOST:PORT"`` joins a running cluster; ``None``
    lets Ray decide (``RAY_ADDRESS``, else a cluster already running here, else a new local
    one). When Ray is already initialised in this process, that connection is used and left
    open on ``close``.
    """

    name = "ray"

    def __init__(self, address: str | None = None, *, inner: Inner = "local",
                 inner_options: dict[str, Any] | None = None, num_cpus: float = 1, num_gpus: float = 0,
                 resources: dict[str, float] | None = None, retries: int = 1,
                 scratch_dir: str | None = None, artifact_file_cap: int = 10 * 1024 * 1024,
                 artifact_total_cap: int = 50 * 1024 * 1024, infeasible_timeout: float | None = 300.0,
                 check_every: float = 2.0, runtime_env: dict[str, Any] | None = None,
                 init_kwargs: dict[str, Any] | None = None, task_options: dict[str, Any] | None = None) -> None:
        if inner not in ("local", "docker"):
            raise ValueError(f"inner: unknown workspace {inner!r} (choose from local, docker)")
        if not (num_cpus >= 0 and math.isfinite(num_cpus)):
            raise ValueError(f"num_cpus: {num_cpus!r} must be a number >= 0")
        if not (num_gpus >= 0 and math.isfinite(num_gpus)) or (num_gpus > 1 and num_gpus != int(num_gpus)):
            raise ValueError(f"num_gpus: {num_gpus!r} must be 0, a fraction up to 1, or a whole number")
        if retries < 0:
            raise ValueError(f"retries: {retries!r} must be >= 0")
        self.address = address
        self.inner: Inner = inner
        self.inner_options = dict(inner_options or {})  # e.g. image, memory of the Docker workspace
        self.num_cpus = num_cpus
        self.num_gpus = num_gpus
        self.resources = dict(resources or {})
        self.retries = retries
        self.scratch_dir = scratch_dir
        self.artifact_file_cap = artifact_file_cap
        self.artifact_total_cap = artifact_total_cap
        self.infeasible_timeout = infeasible_timeout  # None: wait for the autoscaler as long as it takes
        self.check_every = check_every
        self.runtime_env = runtime_env
        self.init_kwargs = dict(init_kwargs or {})
        self.task_options = dict(task_options or {})
        self._connect_lock = threading.Lock()
        self._remote: Any = None
        self._owns_ray = False
        self._inflight: dict[int, Any] = {}  # node id -> ObjectRef
        self._feasible_at = 0.0
        self._feasible = True

    def isolation(self) -> str:
        """One line: how a node is contained on the worker that runs it."""
        disk, memory = self.inner_options.get("disk_limit"), self.inner_options.get("memory_limit")
        quota = (f", {size_text(disk)} disk per node" if disk else "") + (
            f", {size_text(memory)} memory per node" if memory and self.inner == "local" else "")
        return (f"each node a Ray task in the {self.inner} workspace of the machine that runs it "
                f"({'a container' if self.inner == 'docker' else 'no sandbox'}{quota}; its processes killed with it)")

    # -- connection -----------------------------------------------------------------------

    def connect(self) -> None:
        """Join (or start) the Ray cluster; idempotent. Raises RayUnavailable with one clear line."""
        with self._connect_lock:
            if self._remote is not None:
                return
            ray = _import_ray()
            if not ray.is_initialized():
                _check_reachable(self.address)
                kwargs: dict[str, Any] = dict(logging_level=logging.WARNING, log_to_driver=False)
                if self.runtime_env:
                    kwargs["runtime_env"] = self.runtime_env
                if self.address == "local":
                    kwargs["include_dashboard"] = False
                kwargs.update(self.init_kwargs)
                try:
                    with _quiet_sigterm_warning():
                        ray.init(address=self.address, **kwargs)
                except Exception as exc:  # Ray raises ConnectionError, RuntimeError, ValueError...
                    where = self.address or "the default address (RAY_ADDRESS or a local cluster)"
                    raise RayUnavailable(f"--ray-address: cannot start or join Ray at {where}: "
                                         f"{_one_line(exc)}") from None
                self._owns_ray = True
            self._remote = ray.remote(_ray_entry)

    def _options(self) -> dict[str, Any]:
        options: dict[str, Any] = dict(num_cpus=self.num_cpus, num_gpus=self.num_gpus,
                                       max_retries=0, retry_exceptions=False)  # lost tasks: retried here, counted
        if self.resources:
            options["resources"] = self.resources
        options.update(self.task_options)
        return options

    def _spec(self, request: ExecRequest) -> dict[str, Any]:
        return TaskSpec(
            request=request.model_dump(mode="json"), inner=self.inner, inner_options=self.inner_options,
            threads=max(1, math.ceil(self.num_cpus)), scratch_dir=self.scratch_dir,
            artifact_file_cap=self.artifact_file_cap, artifact_total_cap=self.artifact_total_cap,
        ).model_dump()

    # -- execution ------------------------------------------------------------------------

    async def execute(self, request: ExecRequest) -> ExecResult:
        """Run the node as a Ray task, write its outputs into ``request.workdir``, return its result.

        On cancellation the task is killed (``ray.cancel(force=True)``; a reaper on the worker
        then kills the node's processes) and a cancelled result comes back.
        """
        t0 = time.perf_counter()
        if self._remote is None:
            await asyncio.to_thread(self.connect)
        ray = _import_ray()
        lost = _lost_errors(ray)
        notes: list[str] = []
        spec = self._spec(request)
        attempts = 0
        while True:
            attempts += 1
            ref = self._remote.options(**self._options()).remote(spec)
            self._inflight[request.node_id] = ref
            try:
                raw = await self._wait(ray, ref)
            except (asyncio.CancelledError, ray.exceptions.TaskCancelledError) as exc:
                # Ours (the run stops, kill_all) or someone else's ray.cancel: either way the node
                # was stopped from outside, not lost, so it is not run again.
                if isinstance(exc, asyncio.CancelledError):
                    _cancel(ray, ref)
                stderr = "[discover: cancelled: the run stopped; its Ray task was killed]\n"
                await asyncio.to_thread(_write_failure, request, stderr)
                return ExecResult(exit_code=None, cancelled=True, duration=0.0, stderr=stderr,
                                  overhead=time.perf_counter() - t0)
            except _Infeasible as exc:
                _cancel(ray, ref)
                return await self._failure(request, t0, str(exc), attempts, notes)
            except ray.exceptions.OutOfMemoryError as exc:
                return await self._failure(request, t0, f"Ray killed the task: its machine ran out of memory "
                                           f"({_one_line(exc)})", attempts, notes, oom=True)
            except lost as exc:
                notes.append(f"attempt {attempts} was lost: {type(exc).__name__}: {_one_line(exc)}")
                if attempts <= self.retries and self._remote is not None:
                    continue
                return await self._failure(request, t0, f"the Ray task was lost {attempts} times, "
                                           "recorded as failed", attempts, notes)
            except ray.exceptions.RayTaskError as exc:
                # Our own task code raised on the worker: running it again would raise again.
                return await self._failure(request, t0, f"the Ray task failed on the worker: {_one_line(exc)} "
                                           "(is discover installed there, at this version?)", attempts, notes)
            except ray.exceptions.RayError as exc:
                return await self._failure(request, t0, f"Ray error: {type(exc).__name__}: {_one_line(exc)}",
                                           attempts, notes)
            finally:
                self._inflight.pop(request.node_id, None)
            out = TaskOutput.model_validate(raw)
            result = await asyncio.to_thread(_write_back, request, out, attempts, notes)
            result.overhead = time.perf_counter() - t0 - result.duration
            return result

    async def _wait(self, ray: Any, ref: Any) -> Any:
        """The task's return value; raises _Infeasible when no live node can run it for too long."""
        future = asyncio.wrap_future(ref.future())
        infeasible_since: float | None = None
        try:
            while True:
                done, _ = await asyncio.wait({future}, timeout=self.check_every)
                if done:
                    return future.result()
                if self.infeasible_timeout is None:
                    continue
                if await asyncio.to_thread(self._is_feasible, ray):
                    infeasible_since = None
                    continue
                now = time.monotonic()
                infeasible_since = infeasible_since or now
                if now - infeasible_since >= self.infeasible_timeout:
                    raise _Infeasible(f"no live node of the Ray cluster offers {self._asks()}; "
                                      f"waited {now - infeasible_since:.0f}s, recorded as failed")
        finally:
            future.cancel()

    def _is_feasible(self, ray: Any) -> bool:
        """Whether some live node has, in total, what one task asks for (cached for a moment)."""
        now = time.monotonic()
        if now - self._feasible_at < _FEASIBLE_CACHE:
            return self._feasible
        need = {"CPU": self.num_cpus, "GPU": self.num_gpus, **self.resources}
        need = {k: v for k, v in need.items() if v > 0}
        try:
            nodes = ray.nodes()
        except Exception:  # the GCS is briefly unreachable: do not fail nodes for it
            return True
        self._feasible = any(n.get("Alive") and all(n.get("Resources", {}).get(k, 0) >= v for k, v in need.items())
                             for n in nodes)
        self._feasible_at = now
        return self._feasible

    def _asks(self) -> str:
        parts = [f"num_cpus={self.num_cpus:g}", f"num_gpus={self.num_gpus:g}"]
        parts += [f"{k}={v:g}" for k, v in self.resources.items()]
        return ", ".join(parts)

    async def _failure(self, request: ExecRequest, t0: float, message: str, attempts: int, notes: list[str],
                       oom: bool = False) -> ExecResult:
        stderr = "".join(f"[discover: {note}]\n" for note in notes) + f"[discover: {message}]\n"
        await asyncio.to_thread(_write_failure, request, stderr, attempts, notes)
        return ExecResult(exit_code=None, oom_killed=oom, duration=0.0, stderr=stderr, metrics_error=message,
                          overhead=time.perf_counter() - t0)

    # -- shutting down --------------------------------------------------------------------

    def kill_all(self) -> None:
        """Kill every in-flight task (last resort on a hard exit); the workers' reapers clean up."""
        if not self._inflight:
            return
        ray = _import_ray()
        for ref in list(self._inflight.values()):
            _cancel(ray, ref)

    async def close(self) -> None:
        """Kill what still runs and disconnect; stop the Ray instance when this workspace started it."""
        if self._remote is None:
            return
        self._remote = None  # first, so that a task killed now is not run again
        self.kill_all()
        if self._owns_ray:
            ray = _import_ray()
            await asyncio.to_thread(ray.shutdown)
            self._owns_ray = False

    def cluster(self) -> dict[str, Any]:
        """Free and total CPUs/GPUs of the cluster this workspace is connected to."""
        self.connect()
        return _read_resources(_import_ray(), self.address)


class _Infeasible(Exception):
    pass


def _ray_entry(spec: dict[str, Any]) -> dict[str, Any]:
    """The Ray task: runs on a worker, with the GPUs Ray assigned to it."""
    import ray

    from workspace.ray_task import run_task

    gpu_ids = [str(i) for i in ray.get_gpu_ids()]
    return run_task(spec, gpu_ids=gpu_ids, ray_node_id=ray.get_runtime_context().get_node_id())


def _import_ray() -> Any:
    try:
        import ray
    except ImportError:
        raise RayUnavailable("--workspace ray: Ray is not installed (pip install 'discover[ray]')") from None
    return ray


def _lost_errors(ray: Any) -> tuple[type[BaseException], ...]:
    """Failures of the machinery, not of the node: the task may well succeed when run again."""
    ex = ray.exceptions
    return (ex.NodeDiedError, ex.WorkerCrashedError, ex.ObjectLostError, ex.LocalRayletDiedError,
            ex.RaySystemError, ex.TaskUnschedulableError)


def _cancel(ray: Any, ref: Any) -> None:
    try:
        ray.cancel(ref, force=True)
    except Exception:  # already finished, or its worker is gone: nothing left to kill
        pass


def _one_line(exc: BaseException) -> str:
    lines = [line.strip() for line in str(exc).splitlines() if line.strip()]
    # RayTaskError puts the worker's traceback first; its last line names the error.
    text = lines[-1] if lines else type(exc).__name__
    return text[:300]


def _safe_target(workdir: Path, rel: str) -> Path | None:
    """``workdir / rel`` when ``rel`` is a plain relative path inside it, else None."""
    parts = PurePosixPath(rel).parts
    if not parts or PurePosixPath(rel).is_absolute() or ".." in parts:
        return None
    return workdir.joinpath(*parts)


def _write_back(request: ExecRequest, out: TaskOutput, attempts: int, notes: list[str]) -> ExecResult:
    """Write the node's code, output, metrics and artifacts into its folder here; return its result."""
    result = ExecResult.model_validate(out.result)
    extra = [f"artifact {item} left on the Ray worker" for item in out.left_out] + notes
    if extra:
        result.stderr += "".join(f"[discover: {note}]\n" for note in extra)
    workdir = request.workdir
    workdir.mkdir(parents=True, exist_ok=True)
    write_node_file(workdir / request.script, request.code)
    remove_node_file(workdir / METRICS_FILE)
    write_outputs(workdir, result.stdout, result.stderr)
    for rel, data in out.files.items():
        target = _safe_target(workdir, rel)
        if target is None:
            continue
        target.parent.mkdir(parents=True, exist_ok=True)
        with os.fdopen(open_node_file(target, write=True), "wb") as f:
            f.write(data)
    write_node_file(workdir / RAY_FILE, json.dumps({
        "attempts": attempts, "host": out.host, "ray_node_id": out.ray_node_id, "gpu_ids": out.gpu_ids,
        "worker_seconds": round(out.worker_seconds, 4), "lost": notes,
    }, indent=1))
    return result


def _write_failure(request: ExecRequest, stderr: str, attempts: int = 0, notes: list[str] | None = None) -> None:
    workdir = request.workdir
    workdir.mkdir(parents=True, exist_ok=True)
    write_node_file(workdir / request.script, request.code)
    remove_node_file(workdir / METRICS_FILE)
    write_outputs(workdir, "", stderr)
    if attempts:
        write_node_file(workdir / RAY_FILE, json.dumps({"attempts": attempts, "lost": notes or []}, indent=1))


def check_address(address: str | None) -> None:
    """Raise RayUnavailable when Ray is not installed or nothing answers at ``address``: the
    cheap part of connecting, done before a run is stored."""
    _import_ray()
    _check_reachable(address)


def _check_reachable(address: str | None, timeout: float = 3.0) -> None:
    """Fail fast when nothing listens at the cluster's address: Ray itself keeps retrying for minutes."""
    target = address
    if address in (None, "auto"):
        target = os.environ.get("RAY_ADDRESS")  # the address Ray itself would use
    if not target or target in ("auto", "local"):
        return
    hostport = target.split("://", 1)[-1].rstrip("/")
    host, _, port = hostport.rpartition(":")
    if not host or not port.isdigit():
        raise RayUnavailable(f"--ray-address: {target!r} is not HOST:PORT or ray://HOST:PORT")
    try:
        socket.create_connection((host.strip("[]"), int(port)), timeout=timeout).close()
    except OSError as exc:
        raise RayUnavailable(f"--ray-address: nothing answers at {target} ({exc.strerror or exc})") from None


class _DropSigtermWarning(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        return "SIGTERM handler is not set" not in record.getMessage()


class _quiet_sigterm_warning:
    """Joining from a helper thread leaves Ray's SIGTERM handler unset, which is what we want (the
    CLI handles signals itself); Ray warns about it, and the warning would only confuse users."""

    def __enter__(self) -> None:
        self.logger = logging.getLogger("ray._private.worker")
        self.filter = _DropSigtermWarning()
        self.logger.addFilter(self.filter)

    def __exit__(self, *exc: object) -> None:
        self.logger.removeFilter(self.filter)


def _read_resources(ray: Any, address: str | None) -> dict[str, Any]:
    total = ray.cluster_resources()
    free = ray.available_resources()
    alive = [n for n in ray.nodes() if n.get("Alive")]
    return {
        "address": address or "auto",
        "nodes": len(alive),
        "cpus_total": float(total.get("CPU", 0.0)),
        "cpus_free": float(free.get("CPU", 0.0)),
        "gpus_total": float(total.get("GPU", 0.0)),
        "gpus_free": float(free.get("GPU", 0.0)),
    }


def cluster_resources(address: str | None = None) -> dict[str, Any]:
    """Free and total CPUs and GPUs of a running Ray cluster, and its live node count.

    Uses this process's Ray connection when there is one; otherwise joins ``address``
    (``None``: ``RAY_ADDRESS`` or a cluster running on this machine) for the look and leaves.
    Never starts a cluster. Raises RayUnavailable with one clear line when there is none.
    """
    ray = _import_ray()
    if ray.is_initialized():
        return _read_resources(ray, address)
    if address == "local":
        raise RayUnavailable("--ray-address: 'local' starts a private Ray instance per run; there is no "
                             "cluster to look at (give a cluster's address)")
    _check_reachable(address)
    try:
        ray.init(address=address or "auto", logging_level=logging.WARNING, log_to_driver=False)
    except Exception as exc:
        raise RayUnavailable(f"--ray-address: no Ray cluster at {address or 'auto'}: {_one_line(exc)}") from None
    try:
        return _read_resources(ray, address)
    finally:
        ray.shutdown()
