"""Sizes of a node's limits: parsing '4g', printing bytes, and the defaults sized from the machine.

Defaults, for a run with W workers:
- disk per node folder: a quarter of the free space where the node folders live, shared by
  the W nodes running at once, at most 20 GiB (``free / (4 W)``);
- memory of a Docker node: 80% of the machine's memory shared by the W nodes, at least
  512 MiB (``0.8 RAM / W``);
- /dev/shm of a Docker node: a quarter of its memory, at most 8 GiB, at least 64 MiB
  (PyTorch data loaders pass batches through it; Docker's own default of 64 MiB is too small).
"""

from __future__ import annotations

import os
import re
import shutil
from pathlib import Path

GiB = 1 << 30
MiB = 1 << 20


def parse_size(text: str | int, field: str = "memory", minimum: int = 6 * MiB) -> int:
    """Bytes from '512m', '4g', '1.5G' or a plain number of bytes; ValueError naming ``field``."""
    match = re.fullmatch(r"\s*(\d+(?:\.\d+)?)\s*([kmgt]?)i?b?\s*", str(text).lower())
    if not match:
        raise ValueError(f"{field}: {text!r} is not a size (use e.g. 512m or 4g)")
    scale = {"": 1, "k": 1 << 10, "m": MiB, "g": GiB, "t": 1 << 40}[match.group(2)]
    value = int(float(match.group(1)) * scale)
    if value < minimum:
        raise ValueError(f"{field}: {text!r} is below the minimum of {size_text(minimum)}")
    return value


def size_text(size: int) -> str:
    """A size as the flags take it: '4g', '9.6g' (rounded down to a tenth), '300m'."""
    if size >= GiB:
        tenths = size * 10 // GiB
        return f"{tenths // 10}g" if tenths % 10 == 0 else f"{tenths / 10:.1f}g"
    if size >= MiB:
        return f"{size // MiB}m"
    return f"{size}b" if size < 1024 else f"{size // 1024}k"


def free_space(folder: Path) -> int:
    """Free bytes on the filesystem that holds (or will hold) ``folder``."""
    path = Path(folder).resolve()
    while not path.exists() and path != path.parent:
        path = path.parent
    return shutil.disk_usage(path).free


def machine_memory() -> int:
    """Bytes of memory this machine has."""
    try:
        return os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
    except (ValueError, OSError):
        return 8 * GiB


def default_disk(folder: Path, workers: int) -> int:
    return max(16 * MiB, min(20 * GiB, free_space(folder) // (4 * max(1, workers))) // MiB * MiB)


def default_memory(workers: int, total: int | None = None) -> int:
    total = machine_memory() if total is None else total
    return max(512 * MiB, int(total * 0.8) // max(1, workers) // MiB * MiB)


def default_shm(memory: int) -> int:
    return max(64 * MiB, min(8 * GiB, memory // 4) // MiB * MiB)
