"""The per-node disk quota: how much a node's folder holds, a watcher that acts when it is
full, and the trim that keeps a killed node's output up to the quota.

Two guards work together. The node's processes run with RLIMIT_FSIZE at the quota, so no
single file can grow past it (a write beyond it fails with EFBIG; Python ignores SIGXFSZ).
The watcher adds up the whole folder (its ``tmp/`` included: that is the node's TMPDIR and,
in Docker, its ``/tmp``) a few times a second and kills the node once the total reaches the
quota. Between two looks a fast writer can pass the quota by what it writes in that time;
the trim then cuts the largest files back so that the folder holds at most the quota.
"""

from __future__ import annotations

import asyncio
import os
import stat
from collections.abc import Awaitable, Callable
from pathlib import Path

from workspace.base import walk_node_folder

DISK_NOTE = "disk quota exceeded"
_FIRST_LOOK = 0.05  # seconds: a node that fills the disk does so from its first second
_MAX_INTERVAL = 0.5


def folder_usage(root: Path) -> int:
    """Bytes of disk the files under ``root`` take (allocated blocks, each inode once; links
    are not followed, so data/ links and planted links cost nothing)."""
    total = 0
    seen: set[tuple[int, int]] = set()
    stack = [str(root)]
    while stack:
        try:
            with os.scandir(stack.pop()) as entries:
                for entry in entries:
                    try:
                        info = entry.stat(follow_symlinks=False)
                    except OSError:
                        continue  # removed meanwhile
                    if stat.S_ISDIR(info.st_mode):
                        stack.append(entry.path)
                    key = (info.st_dev, info.st_ino)
                    if key in seen:
                        continue
                    seen.add(key)
                    total += info.st_blocks * 512
        except OSError:
            continue
    return total


def trim_to(root: Path, limit: int) -> int:
    """Cut the largest files under ``root`` until it holds at most ``limit`` bytes; bytes cut."""
    files: list[tuple[int, str]] = []
    for _, entry in walk_node_folder(root):  # not os.walk: a node can nest folders past its recursion
        try:
            info = entry.stat(follow_symlinks=False)
        except OSError:
            continue
        if stat.S_ISREG(info.st_mode):
            files.append((info.st_blocks * 512, entry.path))
    excess = folder_usage(root) - limit
    cut = 0
    for used, path in sorted(files, reverse=True):
        if excess <= 0:
            break
        keep = max(0, used - excess)
        try:
            size = os.path.getsize(path)
            os.truncate(path, min(size, keep))
        except OSError:
            continue
        freed = used - os.lstat(path).st_blocks * 512
        excess -= freed
        cut += freed
    return cut


async def watch(root: Path, limit: int, on_full: Callable[[], Awaitable[None]]) -> None:
    """Look at ``root``'s size until cancelled; call ``on_full`` once when it reaches ``limit``."""
    await poll_until(lambda: folder_usage(root), lambda used: used >= limit)
    await on_full()


async def poll_until(measure: Callable[[], int], full: Callable[[int], bool], *,
                     max_interval: float = _MAX_INTERVAL) -> int:
    """Call ``measure`` (in a thread) every so often until ``full`` says yes; return that value.

    The interval grows with the time a look takes, so a big folder or a busy machine does
    not keep a core busy, and never exceeds ``max_interval``.
    """
    interval = _FIRST_LOOK
    loop = asyncio.get_running_loop()
    while True:
        await asyncio.sleep(interval)
        t0 = loop.time()
        used = await asyncio.to_thread(measure)
        if full(used):
            return used
        interval = min(max_interval, max(interval * 2, 20 * (loop.time() - t0)))
