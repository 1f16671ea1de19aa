"""Choosing, checking and building the workspace a run's nodes execute in, with its GPU shares
and its limits. The one place that knows which workspaces exist, what ``auto`` means and
which environment variable sets the default.

Callers pass plain values (``WorkspaceSettings``), never a run's config or idea: this
package knows nothing of ``runs/`` or ``agents/``. ``choose`` checks everything that can be
checked before a run is stored and says what it picked; ``build`` makes the objects. Every
error is a ``WorkspaceError`` whose one line names the flag or field to change.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal, get_args

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from workspace.data import DataLayoutError, data_layout
from workspace.limits import MiB, default_disk, default_memory, default_shm, parse_size

WorkspaceKind = Literal["auto", "local", "docker", "ray"]
KINDS: tuple[str, ...] = get_args(WorkspaceKind)
ENV_WORKSPACE = "DISCOVER_WORKSPACE"  # what ``auto`` means on this machine (e.g. local in tests)
# Where each setting comes from, for error messages: the flag, and the idea field when there is one.
_SOURCES = {
    "kind": "--workspace", "workers": "--workers", "image": "--image", "gpus": "--gpus",
    "gpus_per_node": "--gpus-per-node (or the idea's gpus_per_node)", "ray_address": "--ray-address",
    "node_disk": "--node-disk (or the idea's node_disk)", "node_memory": "--node-memory (or the idea's node_memory)",
    "node_shm": "--node-shm (or the idea's node_shm)", "data": "data",
}


class WorkspaceError(ValueError):
    """A workspace, GPU or limit setting that cannot be met; one line naming what to change."""


class WorkspaceSettings(BaseModel):
    """What the factory needs to know, as plain values (the flag wins over the idea: the caller
    resolves that). Sizes are strings such as '10g' or numbers of bytes; None: sized from
    the machine."""

    model_config = ConfigDict(extra="forbid")

    kind: WorkspaceKind = "auto"
    workers: int = Field(default=1, ge=1)
    image: str | None = None  # Docker image; None: discover's default
    gpus: str = "all"  # all | none | 0,1
    gpus_per_node: float | None = Field(default=None, ge=0)  # None: GPUs / workers
    ray_address: str | None = None
    node_disk: str | int | None = None
    node_memory: str | int | None = None
    node_shm: str | int | None = None
    data: list[str] = Field(default_factory=list)
    model_code: bool = False  # a model writes the code: ``auto`` never falls back to an unsandboxed process
    nodes_dir: Path | None = None  # where the node folders live (sizes the disk default)


class NodeLimits(BaseModel):
    """Bytes each node may use."""

    disk: int
    memory: int  # Docker; local only when asked for (WorkspaceSettings.node_memory)
    shm: int  # Docker only


class Choice(BaseModel):
    """What ``choose`` decided."""

    kind: Literal["local", "docker", "ray"]
    image: str
    limits: NodeLimits
    gpu_ids: list[str] = Field(default_factory=list)
    gpu_share: float = 0.0  # for ray, decided once the cluster answers


@dataclass
class Built:
    """The workspace, the GPU allocator (None when nodes get no GPUs from us) and each node's share."""

    workspace: Any
    gpus: Any
    gpu_share: float
    isolation: str  # one line: what the workspace keeps a node from


def settings(**values: Any) -> WorkspaceSettings:
    """``WorkspaceSettings(**values)``, with a WorkspaceError naming the flag for a bad value."""
    try:
        return WorkspaceSettings(**values)
    except ValidationError as exc:
        err = exc.errors()[0]
        field = str(err["loc"][0]) if err["loc"] else "workspace"
        if field == "kind":
            raise WorkspaceError(f"--workspace: unknown workspace {values.get('kind')!r} "
                                 f"(choose from {', '.join(KINDS)})") from None
        raise WorkspaceError(f"{_SOURCES.get(field, field)}: {err['msg']}") from None


def resolve_kind(kind: str, environ: Mapping[str, str] | None = None) -> str:
    """``kind``, with ``auto`` replaced by ``DISCOVER_WORKSPACE`` when that is set."""
    env = os.environ if environ is None else environ
    if kind != "auto" or not env.get(ENV_WORKSPACE):
        return kind
    value = env[ENV_WORKSPACE].strip().lower()
    if value not in KINDS:
        raise WorkspaceError(f"{ENV_WORKSPACE}: unknown workspace {env[ENV_WORKSPACE]!r} (choose from {', '.join(KINDS)})")
    return value


def limits(s: WorkspaceSettings) -> NodeLimits:
    """The node limits asked for, or sized from this machine."""
    try:
        disk = (parse_size(s.node_disk, _SOURCES["node_disk"], minimum=MiB) if s.node_disk is not None
                else default_disk(s.nodes_dir or Path.cwd(), s.workers))
        memory = (parse_size(s.node_memory, _SOURCES["node_memory"], minimum=64 * MiB) if s.node_memory is not None
                  else default_memory(s.workers))
        shm = (parse_size(s.node_shm, _SOURCES["node_shm"], minimum=MiB) if s.node_shm is not None
               else default_shm(memory))
    except ValueError as exc:
        raise WorkspaceError(str(exc)) from None
    return NodeLimits(disk=disk, memory=memory, shm=shm)


def choose(s: WorkspaceSettings) -> Choice:
    """Check ``s`` on this machine and say which workspace, limits and GPUs the run gets.

    ``auto``: Docker when an engine answers and has the image; otherwise the local workspace,
    except when a model writes the code, which must not run unsandboxed unless asked for.
    """
    from workspace.docker_spec import DEFAULT_IMAGE

    kind = resolve_kind(s.kind)
    image = s.image or DEFAULT_IMAGE
    node_limits = limits(s)
    try:
        data_layout(s.data)
    except DataLayoutError as exc:
        raise WorkspaceError(str(exc)) from None
    if kind == "ray":
        # Connecting is the check; build() does it before any node is created. GPUs are Ray's.
        return Choice(kind="ray", image=image, limits=node_limits)
    if kind in ("auto", "docker"):
        ok, why = docker_status(image)
        if ok:
            kind = "docker"
        elif kind == "docker":
            raise WorkspaceError(f"--workspace docker: {why}")
        elif s.model_code:
            raise WorkspaceError(
                f"--workspace auto: {why}, and model-written code must not run unsandboxed on this machine: "
                "start Docker (`discover doctor` says how) or pass --workspace local to accept that")
        else:
            kind = "local"
    ids, share = _gpus(s)
    return Choice(kind=kind, image=image, limits=node_limits, gpu_ids=ids, gpu_share=share)


def docker_status(image: str) -> tuple[bool, str]:
    """(True, '') when an engine answers and has ``image``, else (False, why not)."""
    from workspace.docker import engine_status, image_status

    ok, why = engine_status()
    if ok:
        ok, why = image_status(image)
    return ok, why


def build(s: WorkspaceSettings, choice: Choice | None = None) -> Built:
    """The workspace ``choose`` picked (checked again unless ``choice`` is given), ready to run nodes."""
    choice = choice or choose(s)
    disk = choice.limits.disk
    if choice.kind == "ray":
        return _build_ray(s, choice)
    from workspace.gpus import GpuAllocator

    if choice.kind == "docker":
        from workspace.docker import DockerWorkspace
        from workspace.limits import size_text

        workspace: Any = DockerWorkspace(choice.image, pool_size=s.workers, memory=size_text(choice.limits.memory),
                                         shm_size=size_text(choice.limits.shm), disk_limit=disk)
    else:
        from workspace.local import LocalWorkspace

        # Only a limit asked for: a local node has had no memory limit by default (docs/docker.md).
        memory = choice.limits.memory if s.node_memory is not None else None
        workspace = LocalWorkspace(disk_limit=disk, memory_limit=memory)
    return Built(workspace=workspace, gpus=GpuAllocator(choice.gpu_ids), gpu_share=choice.gpu_share,
                 isolation=f"{choice.kind}: {workspace.isolation()}")


def _build_ray(s: WorkspaceSettings, choice: Choice) -> Built:
    """Nodes as Ray tasks; Ray, not our allocator, assigns the GPUs on whichever machine runs them."""
    from workspace.ray_workspace import RayUnavailable, RayWorkspace

    options: dict[str, Any] = {"disk_limit": choice.limits.disk}
    if s.node_memory is not None:  # the inner local workspace's limit, as when it runs here
        options["memory_limit"] = choice.limits.memory
    workspace = RayWorkspace(s.ray_address, inner="local", num_cpus=1, inner_options=options)
    try:
        workspace.connect()  # fail fast, before any node is created
    except RayUnavailable as exc:
        raise WorkspaceError(str(exc)) from None
    workspace.num_gpus = share_rule(s, int(workspace.cluster()["gpus_total"]))
    return Built(workspace=workspace, gpus=None, gpu_share=0.0,
                 isolation=f"ray: {workspace.isolation()}")


def share_rule(s: WorkspaceSettings, gpus: int) -> float:
    """GPUs per node: as asked, else the workers spread evenly over ``gpus`` (workspace/gpus.py)."""
    from workspace.gpus import default_share

    return s.gpus_per_node if s.gpus_per_node is not None else default_share(s.workers, gpus)


def _gpus(s: WorkspaceSettings) -> tuple[list[str], float]:
    from workspace.gpus import GpuAllocator, GpuError, detect_gpus, parse_gpus_flag

    try:
        ids = parse_gpus_flag(s.gpus, [g.index for g in detect_gpus()]) if s.gpus != "none" else []
        share = share_rule(s, len(ids))
        GpuAllocator(ids).check(share)
    except GpuError as exc:
        text = str(exc)  # "--gpus: ..." or "gpus_per_node: ..."
        if not text.startswith("--"):
            text = f"{_SOURCES['gpus_per_node']}: {text.removeprefix('gpus_per_node: ')}"
        raise WorkspaceError(text) from None
    return ids, share
