"""Confine a local node's file access with Landlock: its own folder, its data, the system's files.

A local node runs as the user running discover, so without this it could open the run
database, other nodes' folders or a task's private answers by path. Linux's Landlock
(kernel 5.13+, no privileges needed) lets a process give up file access for itself and its
children. The node's command becomes a tiny launcher that restricts itself and then execs
``python experiment.py``; everything else about the node (environment, process group,
limits) is unchanged.

Allowed: read-write the node folder; read its data paths; read (and execute) the Python
installation and the system folders (/usr, /lib, /etc, /bin...), /sys, and of /proc its own
process and machine-wide files (cpuinfo, meminfo...); read-write /dev (null, urandom, shm,
GPUs). Denied: everything else, the runs folder, the task folder and other processes' /proc
entries (the orchestrator's command line and environment) included.
"""

from __future__ import annotations

import ctypes
import json
import os
import site
import sys
from functools import lru_cache
from pathlib import Path

_SYS_CREATE_RULESET = 444
_SYS_ADD_RULE = 445
_SYS_RESTRICT_SELF = 446
_SYSTEM = ("/usr", "/lib", "/lib32", "/lib64", "/libx32", "/bin", "/sbin", "/etc", "/sys")
# Of /proc only the node's own process folder and machine-wide facts: not other processes'
# (the orchestrator's command line and environment).
_PROC = ("/proc/self", "/proc/thread-self", "/proc/cpuinfo", "/proc/meminfo", "/proc/stat", "/proc/loadavg",
         "/proc/uptime", "/proc/version", "/proc/sys", "/proc/driver", "/proc/filesystems", "/proc/mounts")

# The launcher: restricts itself with Landlock, then becomes `python experiment.py`. It runs
# with -I -S (no site, no user paths) and refuses to start the node when the restriction fails:
# a node must never run less confined than the framework was told.
LAUNCHER = r"""
import ctypes, json, os, sys
spec = json.loads(sys.argv[1])
libc = ctypes.CDLL(None, use_errno=True)
def fail(what):
    err = ctypes.get_errno()
    sys.stderr.write("discover: cannot confine the node (%s: %s)\n" % (what, os.strerror(err)))
    sys.exit(126)
abi = libc.syscall(444, None, ctypes.c_size_t(0), ctypes.c_uint32(1))
if abi < 1:
    fail("landlock")
fs_all = (1 << 13) - 1
if abi >= 2: fs_all |= 1 << 13
if abi >= 3: fs_all |= 1 << 14
if abi >= 5: fs_all |= 1 << 15
EXEC, WRITE, READ, RDIR, TRUNC, IOCTL = 1, 2, 4, 8, 1 << 14, 1 << 15
FILE_RIGHTS = EXEC | WRITE | READ | TRUNC | IOCTL
attr = (ctypes.c_uint64 * 3)(fs_all, 0, 2 if abi >= 6 else 0)  # scoped: signals (ABI 6)
size = 24 if abi >= 6 else (16 if abi >= 4 else 8)
fd = libc.syscall(444, ctypes.byref(attr), ctypes.c_size_t(size), ctypes.c_uint32(0))
if fd < 0:
    fail("create_ruleset")
class Beneath(ctypes.Structure):
    _pack_ = 1
    _fields_ = [("allowed", ctypes.c_uint64), ("parent_fd", ctypes.c_int32)]
def allow(path, rights):
    try:
        pfd = os.open(path, os.O_PATH | os.O_CLOEXEC)
    except OSError:
        return
    if not os.path.isdir(path):
        rights &= FILE_RIGHTS
    rule = Beneath(rights & fs_all, pfd)
    if libc.syscall(445, fd, 1, ctypes.byref(rule), ctypes.c_uint32(0)) != 0:
        fail("add_rule " + path)
    os.close(pfd)
for path in spec["read"]:
    allow(path, READ | RDIR | EXEC)
for path in spec["data"]:
    allow(path, READ | RDIR)
for path in spec["dev"]:
    allow(path, READ | RDIR | WRITE | TRUNC | IOCTL)
for path in spec["write"]:
    allow(path, fs_all)
if libc.prctl(38, 1, 0, 0, 0) != 0:
    fail("no_new_privs")
if libc.syscall(446, fd, ctypes.c_uint32(0)) != 0:
    fail("restrict_self")
os.close(fd)
os.execv(spec["argv"][0], spec["argv"])
"""


@lru_cache(maxsize=1)
def landlock_abi() -> int:
    """The kernel's Landlock ABI version; 0 when Landlock is missing or disabled (or not Linux)."""
    if not sys.platform.startswith("linux"):
        return 0
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        abi = libc.syscall(_SYS_CREATE_RULESET, None, ctypes.c_size_t(0), ctypes.c_uint32(1))
    except (OSError, AttributeError):
        return 0
    return max(0, int(abi))


def available() -> bool:
    """True when local nodes can be confined on this machine."""
    return landlock_abi() >= 1


def system_paths() -> list[str]:
    """What a Python experiment must be able to read: the interpreter's installation and the system's."""
    paths = {p for p in _SYSTEM + _PROC if os.path.exists(p)}
    python = Path(sys.executable)
    for p in (sys.prefix, sys.base_prefix, sys.exec_prefix, str(python.parent), str(python.resolve().parent.parent)):
        paths.add(p)
    for p in [*site.getsitepackages(), site.getusersitepackages()]:
        if os.path.isdir(p):
            paths.add(p)
    return sorted(paths)


def confined_command(python: str, script: str, workdir: Path, data: list[str]) -> list[str]:
    """The argv that runs ``python script`` in ``workdir`` confined as this module describes."""
    spec = {
        "argv": [python, script],
        "read": system_paths() + [str(Path(python).resolve().parent)],
        "data": [os.path.realpath(p) for p in data] + [str(p) for p in data],
        "dev": ["/dev"],
        "write": [str(workdir), "/dev/shm"],
    }
    return [python, "-I", "-S", "-c", LAUNCHER, json.dumps(spec)]
