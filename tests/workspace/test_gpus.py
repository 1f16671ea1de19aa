"""The GPU allocator and detection, without a GPU."""

from __future__ import annotations

import asyncio
import os
import stat
from pathlib import Path

import pytest

from workspace.gpus import (
    GpuAllocator,
    GpuError,
    default_share,
    detect_gpus,
    parse_gpus_flag,
    parse_nvidia_smi,
)


def test_parse_nvidia_smi_output() -> None:
    text = "0, 81559, NVIDIA H100 80GB HBM3\n1, 81559 MiB, NVIDIA H100 80GB HBM3\n\nNo devices were found\n"
    gpus = parse_nvidia_smi(text)
    assert [(g.index, g.memory_mb) for g in gpus] == [("0", 81559), ("1", 81559)]
    assert gpus[0].name == "NVIDIA H100 80GB HBM3"
    assert parse_nvidia_smi("") == []


def test_detect_uses_nvidia_smi_on_path(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    try:
        import pynvml  # noqa: F401
        pytest.skip("pynvml is installed: NVML answers before nvidia-smi")
    except ImportError:
        pass
    tool = tmp_path / "nvidia-smi"
    # Answers only the exact query detect_gpus makes, so a changed query fails the test.
    tool.write_text('#!/bin/sh\n[ "$1" = "--query-gpu=index,memory.total,name" ] || exit 9\n'
                    'printf "0, 40960, NVIDIA A100\\n1, 40960, NVIDIA A100\\n"\n')
    tool.chmod(tool.stat().st_mode | stat.S_IEXEC)
    monkeypatch.setenv("PATH", f"{tmp_path}{os.pathsep}{os.environ['PATH']}")
    assert [g.index for g in detect_gpus()] == ["0", "1"]
    tool.write_text("#!/bin/sh\necho 'NVIDIA-SMI has failed' >&2\nexit 9\n")
    assert detect_gpus() == []
    monkeypatch.setenv("PATH", str(tmp_path / "empty"))
    assert detect_gpus() == []


def test_gpus_flag() -> None:
    have = ["0", "1", "2"]
    assert parse_gpus_flag("all", have) == have
    assert parse_gpus_flag("none", have) == []
    assert parse_gpus_flag("2, 0", have) == ["2", "0"]
    with pytest.raises(GpuError, match=r"--gpus: GPU 7 is not on this machine \(it has 0, 1, 2\)"):
        parse_gpus_flag("7", have)
    with pytest.raises(GpuError, match="--gpus: 'x' is not a GPU index"):
        parse_gpus_flag("0,x", have)
    with pytest.raises(GpuError, match="no GPUs"):
        parse_gpus_flag("0", [])
    assert parse_gpus_flag("all", []) == []


def test_default_share_lets_every_worker_run() -> None:
    assert default_share(4, 1) == 0.25
    assert default_share(3, 2) == 0.5
    assert default_share(2, 4) == 1.0
    assert default_share(8, 0) == 0.0
    # The capacity the default gives always covers the workers.
    for workers in range(1, 17):
        for gpus in range(1, 5):
            share = default_share(workers, gpus)
            allocator = GpuAllocator([str(i) for i in range(gpus)])
            leases = [allocator.try_acquire(share) for _ in range(workers)]
            assert all(lease is not None for lease in leases), (workers, gpus)


async def test_quarter_shares_put_four_nodes_on_one_gpu() -> None:
    allocator = GpuAllocator(["0"])
    held = [await allocator.acquire(0.25) for _ in range(4)]
    assert [lease.ids for lease in held] == [["0"]] * 4
    fifth = asyncio.ensure_future(allocator.acquire(0.25))
    await asyncio.sleep(0.01)
    assert not fifth.done()  # the GPU is fully shared out
    allocator.release(held[0])
    lease = await asyncio.wait_for(fifth, 1)
    assert lease.ids == ["0"]


async def test_thirds_fit_and_spread_over_gpus() -> None:
    allocator = GpuAllocator(["0", "1"])
    leases = [allocator.try_acquire(1 / 3) for _ in range(6)]
    assert sorted(lease.ids[0] for lease in leases if lease) == ["0", "0", "0", "1", "1", "1"]
    # Spread, not packed: the first two nodes land on different GPUs.
    assert leases[0].ids != leases[1].ids
    assert allocator.try_acquire(1 / 3) is None


async def test_whole_gpus_wait_first_come_first_served() -> None:
    allocator = GpuAllocator(["0", "1"])
    small = await allocator.acquire(0.5)
    big = asyncio.ensure_future(allocator.acquire(2))
    await asyncio.sleep(0.01)
    assert not big.done()
    # A later small request does not overtake the waiting big one, so it cannot be starved.
    later = asyncio.ensure_future(allocator.acquire(0.5))
    await asyncio.sleep(0.01)
    assert not later.done()
    allocator.release(small)
    assert sorted((await asyncio.wait_for(big, 1)).ids) == ["0", "1"]
    assert not later.done()
    allocator.release(big.result())
    assert len((await asyncio.wait_for(later, 1)).ids) == 1


async def test_context_manager_and_cancelled_waiter() -> None:
    allocator = GpuAllocator(["3"])
    async with allocator.lease(1) as ids:
        assert ids == ["3"]
        waiter = asyncio.ensure_future(allocator.acquire(1))
        await asyncio.sleep(0.01)
        waiter.cancel()
        with pytest.raises(asyncio.CancelledError):
            await waiter
    assert allocator.free == {"3": 1000}  # the cancelled waiter took nothing
    async with allocator.lease(0) as ids:
        assert ids == []


def test_impossible_requests_say_why() -> None:
    with pytest.raises(GpuError, match="no GPU is available"):
        GpuAllocator([]).check(0.5)
    with pytest.raises(GpuError, match="only 2 available"):
        GpuAllocator(["0", "1"]).check(3)
    with pytest.raises(GpuError, match="not a whole number"):
        GpuAllocator(["0", "1"]).check(1.5)
    with pytest.raises(GpuError, match="gpus_per_node"):
        GpuAllocator(["0"]).check(-1)
    GpuAllocator([]).check(0)
