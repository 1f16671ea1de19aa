"""The local workspace's memory limit: the resident memory of a node's whole process tree,
looked at a few times a second, and a kill when it passes the limit.

Docker gives a node a cgroup; a local node has none, and an rlimit is per process (a node of
eight workers would get eight times the limit) and counts virtual memory, which CUDA and
JAX reserve by the terabyte without using it. Resident memory summed over the tree is what
the machine actually gives the node. Between two looks a fast allocator can pass the limit
by what it allocates in that time; the kernel's own OOM killer stays the last guard.
"""

from __future__ import annotations

import os
from collections.abc import Awaitable, Callable

from workspace.quota import poll_until

_PAGE = os.sysconf("SC_PAGE_SIZE")
_MAX_INTERVAL = 0.25  # seconds between two looks, at most


def tree_rss(root: int) -> int:
    """Bytes resident in memory for ``root`` and every process under it (0 when it is gone)."""
    parents: dict[int, int] = {}
    rss: dict[int, int] = {}
    for name in os.listdir("/proc"):
        if not name.isdigit():
            continue
        try:
            with open(f"/proc/{name}/stat", "rb") as f:
                # The command name may hold spaces and parentheses: the fields follow the last ')'.
                fields = f.read().rsplit(b")", 1)[1].split()
        except (OSError, IndexError):
            continue  # ended meanwhile
        pid = int(name)
        parents[pid] = int(fields[1])  # field 4, ppid
        rss[pid] = int(fields[21]) * _PAGE  # field 24, rss in pages
    total, stack = 0, [root]
    children: dict[int, list[int]] = {}
    for pid, ppid in parents.items():
        children.setdefault(ppid, []).append(pid)
    while stack:
        pid = stack.pop()
        total += rss.get(pid, 0)
        stack.extend(children.get(pid, ()))
    return total


def own_shm_used(root: int) -> int:
    """Bytes in the /dev/shm that ``root`` sees, when it is a mount namespace's own (the local
    launcher's tmpfs: memory no process's resident size shows); 0 while it shares ours."""
    try:
        if os.stat(f"/proc/{root}/ns/mnt").st_ino == os.stat("/proc/self/ns/mnt").st_ino:
            return 0  # not (yet) in its own namespace: the host's /dev/shm is not the node's
        seen = f"/proc/{root}/root/dev/shm"
        if os.path.exists("/dev/shm") and os.stat(seen).st_dev == os.stat("/dev/shm").st_dev:
            return 0  # a namespace of its own, but the kernel refused the tmpfs: still the host's
        st = os.statvfs(seen)
    except OSError:
        return 0
    return (st.f_blocks - st.f_bfree) * st.f_frsize


async def watch_memory(root: int, limit: int, on_full: Callable[[int], Awaitable[None]]) -> None:
    """Look at ``root``'s tree and its own /dev/shm until cancelled; call ``on_full(bytes)`` once
    when together they pass ``limit`` (4 looks a second at least)."""
    used = await poll_until(lambda: tree_rss(root) + own_shm_used(root), lambda used: used > limit,
                            max_interval=_MAX_INTERVAL)
    await on_full(used)
