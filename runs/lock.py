"""One process at a time per run: an advisory file lock that dies with its holder.

``flock`` is released by the kernel when the process exits, however it exits, so a run
whose orchestrator was SIGKILLed can be resumed at once: no stale lock to clear by hand.
"""

from __future__ import annotations

import fcntl
import os
from pathlib import Path


class RunLocked(Exception):
    """Another live process holds the run."""


class RunLock:
    """Hold ``<run folder>/run.lock`` for as long as this object is open."""

    def __init__(self, run_dir: Path) -> None:
        self.path = Path(run_dir) / "run.lock"
        self._fd: int | None = None

    def acquire(self) -> None:
        """Take the lock or raise RunLocked naming the holder's pid."""
        self.path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o644)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            holder = os.pread(fd, 32, 0).decode(errors="replace").strip() or "?"
            os.close(fd)
            raise RunLocked(f"it is already running in process {holder}") from None
        os.ftruncate(fd, 0)
        os.pwrite(fd, str(os.getpid()).encode(), 0)
        self._fd = fd

    def release(self) -> None:
        if self._fd is not None:
            fcntl.flock(self._fd, fcntl.LOCK_UN)
            os.close(self._fd)
            self._fd = None

    def __enter__(self) -> RunLock:
        self.acquire()
        return self

    def __exit__(self, *exc: object) -> None:
        self.release()


def is_locked(run_dir: Path) -> bool:
    """True when a live process holds the run (used to tell running from crashed)."""
    path = Path(run_dir) / "run.lock"
    if not path.exists():
        return False
    fd = os.open(path, os.O_RDONLY)
    try:
        fcntl.flock(fd, fcntl.LOCK_SH | fcntl.LOCK_NB)
    except BlockingIOError:
        return True
    finally:
        os.close(fd)
    return False
