"""Find the machine's GPUs and share them among running nodes.

A node asks for a number of GPUs: 0 (none), a fraction up to 1 (a share of one GPU; 0.25
lets four nodes use the same GPU at once) or a whole number (that many GPUs to itself).
The allocator hands out GPU ids and makes a node wait only while its share does not fit,
so K workers can run on fewer GPUs than K.

Default share (for nodes whose idea does not say): ``1 / ceil(workers / gpus)``, i.e. the
workers are spread evenly over the GPUs and all of them run at once. Serialising small
nodes on one GPU wastes it: on an H100, 4 small training processes sharing the GPU
finished 2.6-3.6 times sooner than the same 4 one after another, 8 finished 3.4-5.2 times
sooner. A node that needs a whole GPU (large model, most of its memory) says so with
``gpus_per_node: 1`` in its idea.

The local workspace passes the ids through ``CUDA_VISIBLE_DEVICES`` (``ExecRequest.gpus``);
the Docker workspace passes them as a device request.
"""

from __future__ import annotations

import asyncio
import math
import shutil
import subprocess
from collections import deque
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass

# Shares are counted in thousandths of a GPU so that 1/3 + 1/3 + 1/3 fits in one GPU
# without float rounding deciding it.
_UNITS = 1000


class GpuError(ValueError):
    """A GPU request or ``--gpus`` value that cannot be met; the message says why."""


@dataclass(frozen=True)
class Gpu:
    """One GPU as the driver numbers it."""

    index: str
    memory_mb: int | None = None
    name: str | None = None


def detect_gpus(timeout: float = 10.0) -> list[Gpu]:
    """The machine's NVIDIA GPUs via NVML (pynvml), else ``nvidia-smi``; [] when there are none."""
    gpus = _detect_nvml()
    if gpus is not None:
        return gpus
    return _detect_nvidia_smi(timeout)


def _detect_nvml() -> list[Gpu] | None:
    """None when NVML is not usable here (no pynvml, no driver), so nvidia-smi gets a try."""
    try:
        import pynvml  # type: ignore[import-not-found]
    except ImportError:
        return None
    try:
        pynvml.nvmlInit()
    except Exception:  # pynvml raises its own NVMLError types; any of them means no NVML here
        return None
    try:
        gpus = []
        for i in range(pynvml.nvmlDeviceGetCount()):
            handle = pynvml.nvmlDeviceGetHandleByIndex(i)
            name = pynvml.nvmlDeviceGetName(handle)
            memory = pynvml.nvmlDeviceGetMemoryInfo(handle).total // (1024 * 1024)
            gpus.append(Gpu(str(i), int(memory), name.decode() if isinstance(name, bytes) else str(name)))
        return gpus
    except Exception:
        return None
    finally:
        try:
            pynvml.nvmlShutdown()
        except Exception:
            pass


def _detect_nvidia_smi(timeout: float) -> list[Gpu]:
    exe = shutil.which("nvidia-smi")
    if exe is None:
        return []
    try:
        out = subprocess.run(
            [exe, "--query-gpu=index,memory.total,name", "--format=csv,noheader,nounits"],
            capture_output=True, text=True, timeout=timeout, check=False,
        )
    except (OSError, subprocess.TimeoutExpired):
        return []
    if out.returncode != 0:
        return []
    return parse_nvidia_smi(out.stdout)


def parse_nvidia_smi(text: str) -> list[Gpu]:
    """GPUs from ``nvidia-smi --query-gpu=index,memory.total[,name] --format=csv,noheader[,nounits]``."""
    gpus = []
    for line in text.splitlines():
        parts = [p.strip() for p in line.split(",")]
        if not parts or not parts[0].isdigit():
            continue
        memory = None
        if len(parts) > 1:
            digits = parts[1].split()[0] if parts[1] else ""
            memory = int(digits) if digits.isdigit() else None
        name = ", ".join(parts[2:]) or None
        gpus.append(Gpu(parts[0], memory, name))
    return gpus


def parse_gpus_flag(value: str, available: list[str]) -> list[str]:
    """The GPU ids a run may use from ``--gpus all|none|0,1``, checked against ``available``."""
    text = value.strip().lower()
    if text in ("all", ""):
        return list(available)
    if text == "none":
        return []
    ids = [part.strip() for part in text.split(",") if part.strip()]
    for gpu in ids:
        if not gpu.isdigit():
            raise GpuError(f"--gpus: {gpu!r} is not a GPU index (use all, none or indices like 0,1)")
        if gpu not in available:
            have = ", ".join(available) if available else "no GPUs"
            raise GpuError(f"--gpus: GPU {gpu} is not on this machine (it has {have})")
    if len(set(ids)) != len(ids):
        raise GpuError(f"--gpus: {value!r} names a GPU twice")
    return ids


def default_share(workers: int, num_gpus: int) -> float:
    """GPUs per node when the idea does not say: spread the workers evenly so none waits."""
    if num_gpus <= 0:
        return 0.0
    per_gpu = math.ceil(max(1, workers) / num_gpus)
    return 1.0 / per_gpu


def _units(amount: float) -> int:
    if amount < 0 or not math.isfinite(amount):
        raise GpuError(f"gpus_per_node: {amount!r} must be 0, a fraction up to 1, or a whole number")
    if amount > 1 and amount != int(amount):
        raise GpuError(f"gpus_per_node: {amount:g} is above 1 and not a whole number (use e.g. 0.5, 1 or 2)")
    if amount >= 1:
        return int(amount) * _UNITS
    # Rounded down, so that n shares of 1/n always fit in one GPU.
    return max(1, math.floor(amount * _UNITS + 1e-9)) if amount > 0 else 0


@dataclass
class GpuLease:
    """What one node holds: the GPU ids and the share of each it took."""

    ids: list[str]
    units: int  # thousandths of each listed GPU


class GpuAllocator:
    """Hands out GPU shares to nodes, first come first served, waiting while a share does not fit."""

    def __init__(self, gpu_ids: list[str]) -> None:
        self.ids = list(gpu_ids)
        self.free = {gpu: _UNITS for gpu in self.ids}
        self._waiters: deque[tuple[int, asyncio.Future[GpuLease]]] = deque()

    def check(self, amount: float) -> None:
        """Raise GpuError when ``amount`` can never be granted on these GPUs."""
        units = _units(amount)
        if units == 0:
            return
        if not self.ids:
            raise GpuError(f"gpus_per_node: {amount:g} GPUs asked for but no GPU is available (--gpus none, "
                           "or none detected)")
        if units > _UNITS and units // _UNITS > len(self.ids):
            raise GpuError(f"gpus_per_node: {amount:g} GPUs asked for but only {len(self.ids)} available")

    def try_acquire(self, amount: float) -> GpuLease | None:
        """A lease at once, or None when the share does not fit now (or others wait before it)."""
        self.check(amount)
        units = _units(amount)
        if self._waiters:
            return None  # keep first come first served: a big request is not starved by small ones
        return self._grant(units)

    async def acquire(self, amount: float) -> GpuLease:
        """Wait until ``amount`` GPUs fit, then take them."""
        lease = self.try_acquire(amount)
        if lease is not None:
            return lease
        future: asyncio.Future[GpuLease] = asyncio.get_running_loop().create_future()
        entry = (_units(amount), future)
        self._waiters.append(entry)
        try:
            return await future
        except asyncio.CancelledError:
            if entry in self._waiters:
                self._waiters.remove(entry)
            elif future.done() and not future.cancelled():
                self.release(future.result())  # granted just as we were cancelled: hand it back
            self._serve()
            raise

    def release(self, lease: GpuLease) -> None:
        """Give a lease's shares back and wake the waiters they now fit."""
        for gpu in lease.ids:
            self.free[gpu] = min(_UNITS, self.free[gpu] + lease.units)
        lease.ids = []  # a second release is harmless
        self._serve()

    @asynccontextmanager
    async def lease(self, amount: float) -> AsyncIterator[list[str]]:
        """``async with allocator.lease(0.25) as ids:`` holds the GPUs for the block."""
        held = await self.acquire(amount)
        try:
            yield list(held.ids)
        finally:
            self.release(held)

    def _serve(self) -> None:
        while self._waiters:
            units, future = self._waiters[0]
            if future.done():
                self._waiters.popleft()
                continue
            lease = self._grant(units)
            if lease is None:
                return
            self._waiters.popleft()
            future.set_result(lease)

    def _grant(self, units: int) -> GpuLease | None:
        if units == 0:
            return GpuLease([], 0)
        if units <= _UNITS:
            # The least loaded GPU: nodes of one run ask for the same share, and spreading
            # them means less contention than packing them onto the first GPU.
            fits = [g for g in self.ids if self.free[g] >= units]
            if not fits:
                return None
            gpu = max(fits, key=lambda g: (self.free[g], -self.ids.index(g)))
            self.free[gpu] -= units
            return GpuLease([gpu], units)
        count = units // _UNITS
        whole = [g for g in self.ids if self.free[g] == _UNITS]
        if len(whole) < count:
            return None
        for gpu in whole[:count]:
            self.free[gpu] = 0
        return GpuLease(whole[:count], _UNITS)
