"""Run nodes in Docker containers: isolated by default, pooled warm between nodes.

Each container idles (PID 1 is a tiny reaper) and a node runs in it through ``exec``. With
``pool_size > 0`` containers are kept warm and reused between nodes that need the same
container (same image, network, GPUs, data and limits): a pooled container mounts its own
host folder at /node, which is emptied before a node's files are staged in, and the node's
outputs are moved back to the node folder afterwards. With ``pool_size=0`` every node gets
a fresh container that mounts its folder directly and is removed after it (cold).

``exec`` has no timeout of its own, so the wall-clock limit (and cancellation) kills the
container; a killed container is never reused. See docs/docker.md.
"""

from __future__ import annotations

import asyncio
import errno
import os
import re
import shutil
import time
import uuid
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path
from typing import Any, TypeVar

from workspace.base import (
    METRICS_FILE,
    CappedBuffer,
    ExecRequest,
    ExecResult,
    copy_tree,
    list_artifacts,
    prepare_workdir,
    read_metrics,
    remove_tree,
    write_outputs,
)
from workspace.docker_spec import (
    DEFAULT_IMAGE,
    LABEL_MODE,
    LABEL_NODE,
    LABEL_RUN,
    LABEL_SLOT,
    NODE_DIR,
    ContainerSpec,
    container_kwargs,
    data_target,
    default_user,
    exec_environment,
    node_command,
    parse_size,
    spec_for,
)
from workspace.limits import size_text
from workspace.quota import DISK_NOTE, folder_usage, trim_to, watch

LABEL_WORKSPACE = "discover.workspace"  # one DockerWorkspace instance, so kill_all finds its own
SLOTS_DIR = ".docker-slots"  # next to the node folders (or in ``scratch``), so moving outputs back is a rename
_OWN_OUTPUTS = ("stdout.txt", "stderr.txt", METRICS_FILE)
T = TypeVar("T")


class DockerUnavailable(RuntimeError):
    """No Docker engine answers; the message says why."""


class DockerWorkspaceError(RuntimeError):
    """The engine answers but cannot run a node as asked (image, GPUs); one line saying why."""


def connect(base_url: str | None = None, timeout: float = 60, max_pool_size: int = 64) -> Any:
    """A docker SDK client for the engine at ``base_url`` (default: DOCKER_HOST or the local
    socket), checked with a ping; DockerUnavailable when none answers."""
    import docker

    try:
        if base_url:
            client = docker.DockerClient(base_url=base_url, timeout=timeout, max_pool_size=max_pool_size)
        else:
            client = docker.from_env(timeout=timeout, max_pool_size=max_pool_size)
        client.ping()
    except Exception as exc:  # the SDK raises DockerException, requests and OS errors alike
        raise DockerUnavailable(f"no Docker engine answers ({_one_line(exc)})") from None
    return client


def engine_status(base_url: str | None = None) -> tuple[bool, str]:
    """(True, 'Docker 20.10.24') when an engine answers, else (False, why not)."""
    try:
        client = connect(base_url, timeout=10)
    except DockerUnavailable as exc:
        return False, str(exc)
    try:
        return True, f"Docker {client.version().get('Version', '?')}"
    except Exception as exc:
        return False, f"the Docker engine answered a ping but not a version request ({_one_line(exc)})"
    finally:
        client.close()


def image_status(image: str = DEFAULT_IMAGE, client: Any = None) -> tuple[bool, str]:
    """(True, what) when ``image`` is on the engine, else (False, why not)."""
    own = client is None
    try:
        client = client or connect(timeout=10)
    except DockerUnavailable as exc:
        return False, str(exc)
    try:
        found = client.images.get(image)
        size = found.attrs.get("Size") or 0
        return True, f"image {image} present ({size / 1e6:.0f} MB)"
    except Exception as exc:
        if type(exc).__name__ == "ImageNotFound":
            return False, f"image {image} missing (scripts/docker-engine.sh builds the test image)"
        return False, f"image {image}: {_one_line(exc)}"
    finally:
        if own:
            client.close()


def clean(run_id: str | None = None, client: Any = None) -> int:
    """Remove the containers (and pooled host folders) that discover left behind: those of
    ``run_id``, or of every run when None. Returns how many containers were removed."""
    own = client is None
    client = client or connect()
    try:
        label = f"{LABEL_RUN}={run_id}" if run_id else LABEL_RUN
        removed = 0
        for container in client.containers.list(all=True, filters={"label": label}):
            slot = container.labels.get(LABEL_SLOT)
            try:
                container.remove(force=True)
                removed += 1
            except Exception as exc:
                if "No such container" not in str(exc):  # removed meanwhile by its own run
                    raise
            if slot:
                _remove_slot_dir(Path(slot))
        return removed
    finally:
        if own:
            client.close()


@dataclass
class _Slot:
    """One container and the host folder mounted at its /node."""

    container: Any
    spec: ContainerSpec
    node_dir: Path
    pooled: bool
    tmp_inode: int = 0
    uses: int = 0


@dataclass
class _Tidied:
    """What putting a slot back found."""

    keep: bool = False  # the container may serve another node
    over_quota: bool = False  # the node folder (its tmp/ included) reached the disk quota
    errors: list[str] = field(default_factory=list)  # 'NAME (why)' of outputs that could not be moved home


@dataclass
class _Exec:
    """What the thread that streams one exec's output saw."""

    started: float = 0.0
    ended: float = 0.0
    error: str | None = None


class DockerWorkspace:
    """Runs nodes in isolated containers, reusing up to ``pool_size`` warm ones.

    Defaults: no network (``ExecRequest.network`` opts in), ``cpus`` CPUs (default: the
    request's ``threads``), ``memory`` without swap, at most ``pids_limit`` processes, a
    non-root user, no new privileges, no capabilities, read-only root, only the node folder
    (rw) and the data paths (ro) of the host, and an environment built from scratch.
    """

    name = "docker"

    def __init__(self, image: str = DEFAULT_IMAGE, *, pool_size: int = 4, cpus: float | None = None,
                 memory: str | None = "4g", pids_limit: int = 1024, shm_size: str = "256m",
                 user: str | None = None, read_only: bool = True, python: str = "python3",
                 scratch: Path | None = None, base_url: str | None = None, client: Any = None,
                 disk_limit: int | None = None) -> None:
        if pool_size < 0:
            raise ValueError(f"pool_size: {pool_size} must be 0 (a cold container per node) or more")
        if pids_limit < 16:
            raise ValueError(f"pids_limit: {pids_limit} is too low for a Python process (use 16 or more)")
        if memory is not None:
            parse_size(memory, "memory")
        parse_size(shm_size, "shm_size")
        self.image = image
        self.pool_size = pool_size
        self.cpus = cpus
        self.memory = memory
        self.pids_limit = pids_limit
        self.shm_size = shm_size
        self.user = user or default_user()
        self.read_only = read_only
        self.python = python
        self.scratch = scratch
        self.disk_limit = disk_limit  # bytes per node folder; None: no quota (ExecRequest.disk_limit wins)
        self.id = uuid.uuid4().hex[:12]
        self._client = client
        self._base_url = base_url
        self._executor = ThreadPoolExecutor(max_workers=64, thread_name_prefix="discover-docker")
        self._idle: list[_Slot] = []
        self._busy: dict[str, _Slot] = {}
        self._images_checked: set[str] = set()
        self._uid, self._gid = _parse_user(self.user)

    # -- public --------------------------------------------------------------------------

    @property
    def client(self) -> Any:
        if self._client is None:
            self._client = connect(self._base_url)
        return self._client

    def isolation(self) -> str:
        """One line: what a node's container keeps it from."""
        memory = f"{self.memory} memory" if self.memory else "no memory limit"
        disk = f"{size_text(self.disk_limit)} disk per node" if self.disk_limit else "no disk quota"
        return (f"container from {self.image}: no network unless the idea asks, {memory} (no swap), "
                f"{self.shm_size} /dev/shm, {disk}, {self.pids_limit} processes, read-only root, "
                f"user {self.user}, no capabilities; only the node folder and the data are mounted")

    async def execute(self, request: ExecRequest) -> ExecResult:
        """Run the node in a container; on timeout, cancellation or a full disk kill that container."""
        t0 = time.perf_counter()
        prepare_workdir(request, data_target)
        spec = spec_for(request, image=self.image, cpus=self.cpus, memory=self.memory,
                        pids_limit=self.pids_limit, shm_size=self.shm_size, read_only=self.read_only,
                        disk=self.disk_limit)
        slot = await self._checkout(spec, request)
        keep = False
        tidy = _Tidied()
        try:
            result = await self._execute_in(slot, request)
            # Only a container whose node ended on its own, with its output intact, is reused.
            keep = slot.pooled and result.exit_code is not None and not (
                result.timed_out or result.cancelled or result.oom_killed or result.disk_exceeded)
        finally:
            # Shielded: a cancellation must not leave a container running or outputs in the slot.
            tidy = await asyncio.shield(self._checkin(slot, request, keep))
        for error in tidy.errors:
            result.stderr += f"\n[discover: could not move {error} out of the container's folder]\n"
        if spec.disk and (tidy.over_quota or result.disk_exceeded):
            if not result.disk_exceeded:
                result.stderr += f"\n[discover: {DISK_NOTE} (the node folder reached its {size_text(spec.disk)} limit)]\n"
            result.disk_exceeded = True
            await self._run(trim_to, request.workdir, spec.disk)
        write_outputs(request.workdir, result.stdout, result.stderr)
        result.metrics, result.metrics_error = read_metrics(request.workdir)
        result.artifacts = list_artifacts(request.workdir)
        # A cancelled node still returns: its partial output is recorded as a cancelled attempt.
        result.overhead = max(0.0, time.perf_counter() - t0 - result.duration)
        return result

    def kill_all(self) -> None:
        """Remove every container of this workspace at once (last resort on a hard exit)."""
        try:
            containers = self.client.containers.list(all=True, filters={"label": f"{LABEL_WORKSPACE}={self.id}"})
        except Exception:
            return
        for container in containers:
            try:
                container.remove(force=True)
            except Exception:
                pass

    async def close(self) -> None:
        """Remove this workspace's containers and their host folders."""
        if self._client is not None:
            slots = list(self._idle) + list(self._busy.values())
            self._idle.clear()
            await self._run(self.kill_all)
            for slot in slots:
                if slot.pooled:
                    _remove_slot_dir(slot.node_dir)
            self._client.close()
            self._client = None
        self._executor.shutdown(wait=False, cancel_futures=True)

    # -- one node ------------------------------------------------------------------------

    async def _execute_in(self, slot: _Slot, request: ExecRequest) -> ExecResult:
        api = self.client.api
        exec_id = (await self._run(
            api.exec_create, slot.container.id, node_command(self.python, request.script, request.time_limit), stdout=True, stderr=True,
            environment=exec_environment(request), workdir=NODE_DIR, user=self.user,
        ))["Id"]
        out, err = CappedBuffer(request.output_cap), CappedBuffer(request.output_cap)
        seen = _Exec()
        pump = asyncio.ensure_future(self._run(self._stream, exec_id, out, err, seen))
        timed_out = cancelled = False
        full = asyncio.Event()

        async def on_full() -> None:
            full.set()
            await self._run(self._kill, slot)

        watcher = asyncio.ensure_future(watch(slot.node_dir, slot.spec.disk, on_full)) if slot.spec.disk else None
        try:
            await asyncio.wait_for(asyncio.shield(pump), timeout=request.time_limit)
        except TimeoutError:
            timed_out = True
        except asyncio.CancelledError:
            cancelled = True
        finally:
            if watcher is not None:
                watcher.cancel()
        if full.is_set():
            timed_out = False  # killed for its disk use, not its time
            await asyncio.shield(pump)
        if timed_out or cancelled:
            await asyncio.shield(self._run(self._kill, slot))
            try:
                await asyncio.wait_for(asyncio.shield(pump), timeout=10)
            except (TimeoutError, asyncio.CancelledError):
                pass
            seen.ended = seen.ended or time.perf_counter()
        oom = False
        exit_code: int | None = None
        if timed_out or cancelled or full.is_set():
            exit_code = -9
        elif seen.error is None:
            info = await self._run(api.exec_inspect, exec_id)
            exit_code = info.get("ExitCode")
            if exit_code == 137:
                oom = await self._run(self._oom_killed, slot)
            if exit_code is not None and 128 < exit_code < 160:
                exit_code = 128 - exit_code  # killed by a signal: report it as -N, like a local process
        stderr = err.text()
        if seen.error and not full.is_set():
            stderr += f"\n[discover: lost the container's output: {seen.error}]\n"
        if full.is_set():
            stderr += f"\n[discover: killed: {DISK_NOTE} (the node folder reached its {size_text(slot.spec.disk or 0)} limit)]\n"
        if timed_out:
            stderr += f"\n[discover: killed after the {request.time_limit:g}s time limit]\n"
        if oom:
            limit = slot.spec.memory or "the engine's"
            stderr += f"\n[discover: killed for exceeding the {limit} memory limit]\n"
        return ExecResult(
            exit_code=exit_code,
            timed_out=timed_out,
            oom_killed=oom,
            cancelled=cancelled,
            disk_exceeded=full.is_set(),
            duration=max(0.0, (seen.ended or seen.started) - seen.started) if seen.started else 0.0,
            stdout=out.text(),
            stderr=stderr,
            stdout_bytes=out.total,
            stderr_bytes=err.total,
        )

    def _stream(self, exec_id: str, out: CappedBuffer, err: CappedBuffer, seen: _Exec) -> None:
        """Blocking: start the exec and feed its output into the buffers until it ends."""
        seen.started = time.perf_counter()
        try:
            for chunk_out, chunk_err in self.client.api.exec_start(exec_id, stream=True, demux=True):
                if chunk_out:
                    out.feed(chunk_out)
                if chunk_err:
                    err.feed(chunk_err)
        except Exception as exc:  # the stream breaks when the container is killed under it
            seen.error = _one_line(exc)
        seen.ended = time.perf_counter()

    def _oom_killed(self, slot: _Slot) -> bool:
        """True when the kernel OOM-killed a process of the container. Engines before 23.0 flag
        ``State.OOMKilled`` only when PID 1 dies, not an exec'd node, so the memory cgroup's
        own ``oom_kill`` counter (v2: memory.events, v1: memory.oom_control) is read as well;
        a container that saw an OOM is never reused, so any count belongs to this node."""
        try:
            if self.client.api.inspect_container(slot.container.id)["State"].get("OOMKilled"):
                return True
            _code, output = slot.container.exec_run(
                ["/bin/sh", "-c", ("cat /sys/fs/cgroup/memory.events /sys/fs/cgroup/memory/memory.oom_control"
                                  " 2>/dev/null")], user=self.user)
        except Exception:
            return False
        return oom_kills(output.decode(errors="replace")) > 0

    # -- containers ----------------------------------------------------------------------

    async def _checkout(self, spec: ContainerSpec, request: ExecRequest) -> _Slot:
        """A warm container for ``spec`` with the node staged in, or a new one."""
        # Picked on the event loop's thread, so two nodes never take the same container.
        slot = next((idle for idle in self._idle if idle.spec == spec), None)
        if slot is not None:
            self._idle.remove(slot)
            work = self._run(_stage_in, request.workdir, slot.node_dir)
        else:
            work = self._run(self._create_staged, spec, request)
        task = asyncio.ensure_future(work)
        try:
            created = await asyncio.shield(task)
        except asyncio.CancelledError:
            # The thread goes on creating or staging: let it finish, then drop the container.
            try:
                created = await asyncio.wait_for(task, timeout=120)
            except Exception:
                created = None
            if slot is None and isinstance(created, _Slot):
                slot = created
            if slot is not None:
                await self._run(self._discard, slot)
            raise
        except Exception:
            if slot is not None:
                await self._run(self._discard, slot)
            raise
        if slot is None:
            slot = created
        self._busy[slot.container.id] = slot
        return slot

    def _create_staged(self, spec: ContainerSpec, request: ExecRequest) -> _Slot:
        slot = self._create(spec, request)
        if slot.pooled:
            try:
                _stage_in(request.workdir, slot.node_dir)
            except OSError:
                self._discard(slot)
                raise
        return slot

    def _create(self, spec: ContainerSpec, request: ExecRequest) -> _Slot:
        self._ensure_image(spec.image)
        pooled = self.pool_size > 0
        if pooled:
            root = ((self.scratch or request.workdir.parent) / SLOTS_DIR).resolve()
            root.mkdir(parents=True, exist_ok=True)
            node_dir = root / f"slot-{uuid.uuid4().hex[:10]}"
            node_dir.mkdir()
        else:
            node_dir = request.workdir.resolve()
        tmp = node_dir / "tmp"
        tmp.mkdir(exist_ok=True)
        self._hand_over(node_dir, tmp)
        labels = {LABEL_RUN: request.run_id, LABEL_NODE: str(request.node_id),
                  LABEL_MODE: "pool" if pooled else "cold", LABEL_WORKSPACE: self.id}
        if pooled:
            labels[LABEL_SLOT] = str(node_dir)
        name = re.sub(r"[^a-zA-Z0-9_.-]", "-", f"discover-{request.run_id}-{request.node_id}-{uuid.uuid4().hex[:6]}")
        kwargs = container_kwargs(spec, node_dir=node_dir, user=self.user, labels=labels, name=name)
        container = None
        try:
            container = self.client.containers.create(**kwargs)
            container.start()
        except Exception as exc:
            if container is not None:
                try:
                    container.remove(force=True)
                except Exception:
                    pass
            if pooled:
                _remove_slot_dir(node_dir)
            text = _one_line(exc)
            if spec.gpus and ("device driver" in text or "capabilities" in text or "nvidia" in text.lower()):
                raise DockerWorkspaceError(
                    f"docker: the engine cannot hand GPU {','.join(spec.gpus)} to a container ({text}); "
                    "install the NVIDIA Container Toolkit or run with --gpus none") from None
            raise DockerWorkspaceError(f"docker: cannot start a container from {spec.image!r} ({text})") from None
        return _Slot(container=container, spec=spec, node_dir=node_dir, pooled=pooled,
                     tmp_inode=tmp.stat().st_ino)

    async def _checkin(self, slot: _Slot, request: ExecRequest, keep: bool) -> _Tidied:
        """Move the node's outputs home, then reset the slot for reuse or remove it."""
        self._busy.pop(slot.container.id, None)
        tidied = await self._run(self._tidy, slot, request, keep)
        keep = tidied.keep
        evict = None
        if keep:
            if len(self._idle) >= self.pool_size:
                evict = self._idle.pop(0)  # full: the oldest idle container makes room
            slot.uses += 1
            self._idle.append(slot)
        else:
            evict = slot
        if evict is not None:
            await self._run(self._discard, evict)
        return tidied

    def _tidy(self, slot: _Slot, request: ExecRequest, keep: bool) -> _Tidied:
        """Blocking: outputs home, slot emptied; whether the container may serve another node.
        An output that cannot be moved is named in ``errors`` (and the container is not reused);
        the others are moved all the same."""
        tidied = _Tidied(keep=keep)
        # Measured before the slot's tmp/ (the node's /tmp, which is not kept) is emptied.
        tidied.over_quota = bool(slot.spec.disk) and folder_usage(slot.node_dir) >= (slot.spec.disk or 0)
        if slot.pooled:
            tidied.errors = _stage_out(slot.node_dir, request.workdir)
            try:
                tidied.keep = keep and not tidied.errors and not tidied.over_quota and _reset(slot)
            except OSError:
                tidied.keep = False
        _finish_outputs(request)
        return tidied

    def _kill(self, slot: _Slot) -> None:
        try:
            slot.container.kill()
        except Exception:
            pass  # already dead; removal follows anyway

    def _discard(self, slot: _Slot) -> None:
        try:
            slot.container.remove(force=True)
        except Exception:
            pass
        if slot.pooled:
            _remove_slot_dir(slot.node_dir)

    def _ensure_image(self, image: str) -> None:
        if image in self._images_checked:
            return
        import docker.errors

        try:
            self.client.images.get(image)
        except docker.errors.ImageNotFound:
            try:
                self.client.images.pull(image)
            except Exception as exc:
                raise DockerWorkspaceError(
                    f"docker: image {image!r} is not on this engine and could not be pulled ({_one_line(exc)}); "
                    "build the test image with scripts/docker-engine.sh or pull one (docs/docker.md)") from None
        self._images_checked.add(image)

    def _hand_over(self, *paths: Path) -> None:
        """Let the container user write the folder when we run as root and it does not."""
        if os.getuid() != 0 or self._uid is None or self._uid == 0:
            return
        for path in paths:
            os.chown(path, self._uid, self._gid if self._gid is not None else -1)

    async def _run(self, fn: Callable[..., T], *args: Any, **kwargs: Any) -> T:
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(self._executor, partial(fn, *args, **kwargs))


# -- the pooled container's host folder ---------------------------------------------------

def _stage_in(workdir: Path, slot_dir: Path) -> None:
    """Copy the node's inputs (script, data links, anything put there for it) into the slot,
    hard-linking where possible so that large inputs cost nothing."""
    for entry in workdir.iterdir():
        if entry.name == "tmp" or entry.name in _OWN_OUTPUTS:
            continue
        target = slot_dir / entry.name
        if entry.is_symlink() or not entry.is_dir():
            _link_or_copy(entry, target)
        else:
            # Not copytree: a node's folders can nest deeper than its recursion goes.
            copy_tree(entry, target, copy=_link_or_copy)


def _link_or_copy(source: str | Path, target: str | Path) -> None:
    if os.path.islink(source):
        os.symlink(os.readlink(source), target)
        return
    try:
        os.link(source, target)
    except OSError:
        shutil.copy2(source, target)


def _stage_out(slot_dir: Path, workdir: Path) -> list[str]:
    """Move what the node left in the slot into its own folder; 'NAME (why)' of each entry that
    could not be moved. metrics.json goes first, and one failure does not stop the others.
    Symlinks stay behind: a node must not plant a link that the framework later follows to a
    host file."""
    errors: list[str] = []
    entries = sorted(slot_dir.iterdir(), key=lambda e: (e.name != METRICS_FILE, e.name))
    for entry in entries:
        if entry.name in ("tmp", "data") or entry.is_symlink():
            continue
        target = workdir / entry.name
        try:
            if target.is_symlink() or target.exists():
                _remove(target)
            try:
                os.replace(entry, target)
            except OSError as exc:
                if exc.errno != errno.EXDEV:
                    raise
                # The slots live on another filesystem (``scratch``): copy, links as links.
                if entry.is_dir():
                    copy_tree(entry, target)
                else:
                    shutil.copy2(entry, target, follow_symlinks=False)
                _remove(entry)
        except OSError as exc:
            errors.append(f"{entry.name} ({exc.strerror or exc})")
    return errors


def _reset(slot: _Slot) -> bool:
    """Empty the slot for the next node; False when it cannot be reused (its /tmp was
    replaced, so the container's mount no longer points at it)."""
    tmp = slot.node_dir / "tmp"
    for entry in list(slot.node_dir.iterdir()):
        if entry.name != "tmp":
            _remove(entry)
    if tmp.is_symlink() or not tmp.is_dir() or tmp.stat().st_ino != slot.tmp_inode:
        return False
    for entry in list(tmp.iterdir()):
        _remove(entry)
    return True


def _finish_outputs(request: ExecRequest) -> None:
    """Drop links the node may have planted where the framework writes or reads its own files."""
    for name in _OWN_OUTPUTS:
        path = request.workdir / name
        if path.is_symlink() or path.is_dir():
            _remove(path)


def _remove(path: Path) -> None:
    try:
        remove_tree(path)  # however deep a node nested it
    except OSError:
        shutil.rmtree(path, onerror=_force_remove)  # folders the node left without write permission


def _force_remove(func: Callable[..., Any], path: str, _exc: Any) -> None:
    # A node may leave folders without write permission; make them writable and retry.
    try:
        os.chmod(os.path.dirname(path), 0o700)
        if os.path.isdir(path) and not os.path.islink(path):
            os.chmod(path, 0o700)
        func(path)
    except OSError as exc:
        if exc.errno != errno.ENOENT:
            raise


def _remove_slot_dir(path: Path) -> None:
    # Only ever a folder this module made: a label could have been edited to point elsewhere.
    if path.parent.name == SLOTS_DIR and path.name.startswith("slot-") and path.is_dir():
        _remove(path)
        try:
            path.parent.rmdir()
        except OSError:
            pass  # other slots still there


def oom_kills(text: str) -> int:
    """The ``oom_kill`` count in a memory cgroup's memory.events or memory.oom_control."""
    for line in text.splitlines():
        key, _, value = line.partition(" ")
        if key == "oom_kill" and value.strip().isdigit():
            return int(value)
    return 0


def _parse_user(user: str) -> tuple[int | None, int | None]:
    uid, _, gid = user.partition(":")
    return (int(uid) if uid.isdigit() else None, int(gid) if gid.isdigit() else None)


def _one_line(exc: BaseException) -> str:
    # The engine's own explanation reads better than the SDK's "500 Server Error for URL".
    text = " ".join(str(getattr(exc, "explanation", None) or exc).split()) or type(exc).__name__
    return text[:300]
