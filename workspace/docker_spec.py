"""What a node's container looks like: pure functions from a request to Docker arguments.

Kept apart from the code that talks to the engine so that the isolation settings and the
GPU device requests can be read and tested without a Docker engine or a GPU.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict

from workspace.base import SCRIPT_NAME, ExecRequest
from workspace.limits import parse_size

DEFAULT_IMAGE = "discover-test:bookworm"
NODE_DIR = "/node"  # the node folder inside the container
# Each data path i is mounted read-only under /discover-data/i: outside /node and /tmp, whose host
# folders are emptied between the nodes of a pooled container (a mount point inside them would
# be removed with them, and the data with it), and outside the image's own folders.
DATA_MOUNT = "/discover-data"
CACHE_DIR = "/cache"  # tmpfs for library caches (matplotlib fonts...), kept while a container lives
LABEL_RUN = "discover.run"
LABEL_NODE = "discover.node"
LABEL_MODE = "discover.mode"  # "pool" or "cold"
LABEL_SLOT = "discover.slot"  # host folder of a pooled container, removed with it
_NOBODY = "65534:65534"

# PID 1 of every container: reaps the orphans a node leaves behind (so they do not pile up
# against the process limit) and sleeps. As the namespace's init it cannot be killed from
# inside, which lets the node wrapper below kill every other process of the node's user.
INIT_CODE = (
    "import os, signal\n"
    "def reap(*_):\n"
    "    while True:\n"
    "        try:\n"
    "            pid, _ = os.waitpid(-1, os.WNOHANG)\n"
    "        except ChildProcessError:\n"
    "            return\n"
    "        if pid == 0:\n"
    "            return\n"
    "signal.signal(signal.SIGCHLD, reap)\n"
    "signal.signal(signal.SIGTERM, lambda *_: os._exit(0))\n"
    "while True:\n"
    "    signal.pause()\n"
)


class ContainerSpec(BaseModel):
    """Everything fixed when a container is created; a pooled container serves only requests
    with an equal spec."""

    model_config = ConfigDict(frozen=True)

    image: str
    network: bool = False
    gpus: tuple[str, ...] = ()
    data: tuple[str, ...] = ()
    cpus: float | None = None
    memory: str | None = None
    pids_limit: int = 1024
    shm_size: str = "256m"
    cache_size: str = "256m"
    read_only: bool = True
    disk: int | None = None  # bytes: RLIMIT_FSIZE of every process (the folder's total is watched)


def default_user(uid: int | None = None, gid: int | None = None) -> str:
    """The container user: the caller's own uid:gid, or nobody when the caller is root."""
    uid = os.getuid() if uid is None else uid
    gid = os.getgid() if gid is None else gid
    return _NOBODY if uid == 0 else f"{uid}:{gid}"


def spec_for(request: ExecRequest, *, image: str, cpus: float | None, memory: str | None, pids_limit: int,
             shm_size: str = "256m", read_only: bool = True, disk: int | None = None) -> ContainerSpec:
    """The container a request needs; the request's own image, memory and disk win over the defaults."""
    return ContainerSpec(
        image=request.image or image,
        network=request.network,
        gpus=tuple(request.gpus),
        data=tuple(os.path.abspath(p) for p in request.data),
        cpus=cpus if cpus is not None else float(max(1, request.threads)),
        memory=request.memory_limit or memory,
        pids_limit=pids_limit,
        shm_size=shm_size,
        read_only=read_only,
        disk=request.disk_limit or disk,
    )


def data_target(index: int, path: str) -> str:
    """Where data path ``index`` is inside the container: a folder at /discover-data/i, a file
    at /discover-data/i/NAME (so that it keeps its name)."""
    if os.path.isdir(path):
        return f"{DATA_MOUNT}/{index}"
    return f"{DATA_MOUNT}/{index}/{os.path.basename(path.rstrip('/'))}"


def container_kwargs(spec: ContainerSpec, *, node_dir: Path, user: str, labels: dict[str, str],
                     name: str | None = None) -> dict[str, Any]:
    """Keyword arguments for ``client.containers.create`` (then ``start``): an isolated, idle container whose
    /node is ``node_dir`` (read-write), whose data paths are mounted read-only under
    /discover-data (where the node folder's data/ links point), and nothing else of the host."""
    from docker.types import DeviceRequest, Mount, Ulimit

    mounts = [
        Mount(target=NODE_DIR, source=str(node_dir), type="bind", read_only=False),
        # /tmp is the node's own tmp/ folder: reset with it, never shared between nodes.
        Mount(target="/tmp", source=str(node_dir / "tmp"), type="bind", read_only=False),
    ]
    # Where the node folder's data/ links point, from wherever the data really is.
    mounts += [Mount(target=data_target(i, path), source=os.path.realpath(path), type="bind", read_only=True)
               for i, path in enumerate(spec.data)]
    kwargs: dict[str, Any] = {
        "image": spec.image,
        "command": ["python3", "-c", INIT_CODE],
        "user": user,
        "working_dir": NODE_DIR,
        "network_mode": "bridge" if spec.network else "none",
        "read_only": spec.read_only,
        "mounts": mounts,
        "tmpfs": {CACHE_DIR: f"rw,nosuid,nodev,size={spec.cache_size},mode=1777"},
        "cap_drop": ["ALL"],
        "security_opt": ["no-new-privileges"],
        "pids_limit": spec.pids_limit,
        "shm_size": spec.shm_size,
        # The image's own ENV (PATH, CUDA paths) stays; nothing of the host's is passed.
        "environment": {"HOME": NODE_DIR},
        "labels": dict(labels),
        "stdin_open": False,
        "tty": False,
    }
    if name:
        kwargs["name"] = name
    if spec.memory:
        limit = parse_size(spec.memory)
        kwargs["mem_limit"] = limit
        kwargs["memswap_limit"] = limit  # no swap: a node over its limit is OOM-killed, not slowed
    if spec.cpus:
        kwargs["nano_cpus"] = int(spec.cpus * 1e9)
    if spec.disk:
        kwargs["ulimits"] = [Ulimit(name="fsize", soft=spec.disk, hard=spec.disk), Ulimit(name="core", soft=0, hard=0)]
    if spec.gpus:
        kwargs["device_requests"] = [DeviceRequest(device_ids=list(spec.gpus), capabilities=[["gpu"]])]
    return kwargs


def exec_environment(request: ExecRequest) -> dict[str, str]:
    """The node's whole environment inside the container, built from scratch (no host variables)."""
    threads = str(max(1, request.threads))
    env = {
        "HOME": NODE_DIR,
        "TMPDIR": "/tmp",
        "XDG_CACHE_HOME": CACHE_DIR,
        "MPLCONFIGDIR": f"{CACHE_DIR}/matplotlib",
        "LANG": "C.UTF-8",  # UTF-8 output whatever the host's locale
        "PYTHONUNBUFFERED": "1",
        "PYTHONDONTWRITEBYTECODE": "1",
        "MPLBACKEND": "Agg",
        "OMP_NUM_THREADS": threads,
        "OPENBLAS_NUM_THREADS": threads,
        "MKL_NUM_THREADS": threads,
        "DISCOVER_NODE_ID": str(request.node_id),
        "DISCOVER_SEED": str(request.seed),
        # Host ids, for the node's information: inside, the container sees only its own GPUs,
        # numbered from 0, so CUDA_VISIBLE_DEVICES must not carry host ids.
        "DISCOVER_GPUS": ",".join(request.gpus),
    }
    if not request.gpus:
        env["CUDA_VISIBLE_DEVICES"] = ""
    env.update(request.extra_env)
    return env


DEADLINE_GRACE = 10  # seconds past its time limit before a node stops itself (the orchestrator acts first)


def node_command(python: str = "python3", script: str = SCRIPT_NAME, time_limit: float | None = None) -> list[str]:
    """Run the script, then kill whatever it left running and empty /dev/shm, so that a pooled
    container is clean for the next node. ``kill -1`` spares PID 1 and the shell itself.

    With ``time_limit`` the script runs under coreutils ``timeout`` (where the image has it),
    which kills it a little after its limit even when no orchestrator is left to do so (one
    killed outright): a node never runs on in a container nobody watches.
    """
    limit = ""
    if time_limit:
        seconds = int(time_limit + DEADLINE_GRACE + 0.999)
        limit = f'T=""; command -v timeout >/dev/null 2>&1 && T="timeout -s KILL {seconds}"; $T '
    line = (
        f'{limit}{python} {script}; rc=$?; '
        'kill -9 -1 2>/dev/null; '
        'rm -rf /dev/shm/* /dev/shm/.[!.]* 2>/dev/null; '
        'exit $rc'
    )
    return ["/bin/sh", "-c", line]
