"""The local workspace's launcher: the parent of a node's process, so that nothing it starts
outlives it. Run as a script (``python -I -S launcher.py [options] -- python experiment.py``);
it uses only the standard library.

- It makes itself a child subreaper (``PR_SET_CHILD_SUBREAPER``): a process the node starts
  and abandons (a double fork, a ``setsid`` daemon) is re-parented to the launcher, not to
  init, so it can still be found.
- When the node's main process ends, or on SIGTERM after a grace period, or at once on
  SIGUSR1, it kills every descendant it has with SIGKILL, reaping as it goes until none is
  left, then exits with the node's own status (a node killed by signal N: the launcher
  kills itself with N, so the caller sees -N). It takes those signals synchronously
  (blocked, then ``sigwaitinfo``), so no signal can cut its clean-up short.
- If the orchestrator dies (even by SIGKILL), the launcher gets SIGUSR1 (``PR_SET_PDEATHSIG``)
  and kills the node at once: a node never runs on unwatched.
- ``--fsize BYTES``: RLIMIT_FSIZE for the node (no file grows past the disk quota), and no
  core files.
- ``--no-network``: a network namespace of its own with only loopback, when the kernel lets
  this user create one (directly as root, else inside a user namespace that maps the
  caller's own uid and gid). Best effort: without it the node keeps the host's network.
- ``--shm BYTES``: a /dev/shm of the node's own, a tmpfs of at most BYTES (0: the kernel's
  default, half the memory) in a mount namespace of its own. What the node leaves there goes
  with its last process, and it sees no other process's shared memory. Without it (a kernel
  that refuses the namespace) a file a node writes to the host's /dev/shm outlives it.
- ``--probe``: print what this machine allows as JSON and exit.
"""

from __future__ import annotations

import ctypes
import os
import resource
import signal
import sys
import time

PR_SET_PDEATHSIG = 1
PR_SET_CHILD_SUBREAPER = 36
CLONE_NEWNS = 0x00020000
CLONE_NEWUSER = 0x10000000
CLONE_NEWNET = 0x40000000
MS_NOSUID, MS_NODEV, MS_REC, MS_PRIVATE = 0x2, 0x4, 0x4000, 0x40000
GRACE = 1.5  # seconds a SIGTERMed node has to exit before everything of it is killed
_SIGNALS = {signal.SIGCHLD, signal.SIGTERM, signal.SIGUSR1}


def _libc() -> ctypes.CDLL:
    return ctypes.CDLL(None, use_errno=True)


def make_subreaper(libc: ctypes.CDLL) -> bool:
    return libc.prctl(PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0) == 0


def enter_namespaces(libc: ctypes.CDLL, flags: int) -> str | None:
    """Enter new namespaces (``CLONE_NEW*`` flags): directly where allowed (root), else inside a
    new user namespace that maps the caller's own ids. "direct", "userns", or None."""
    if libc.unshare(flags) == 0:
        return "direct"
    uid, gid = os.getuid(), os.getgid()
    if libc.unshare(CLONE_NEWUSER | flags) != 0:
        return None
    # Map our own ids, so the node keeps its uid and the files it writes stay ours.
    try:
        _write("/proc/self/setgroups", "deny")
    except OSError:
        pass  # kernels before 3.19 have no setgroups file
    _write("/proc/self/uid_map", f"{uid} {uid} 1")
    _write("/proc/self/gid_map", f"{gid} {gid} 1")
    return "userns"


def isolate(libc: ctypes.CDLL, network: bool, shm: int | None) -> tuple[str | None, bool]:
    """Enter the namespaces asked for, in one step (one user namespace at most): a network
    namespace with loopback up, and a mount namespace with a fresh tmpfs of ``shm`` bytes (0:
    the kernel's default) on /dev/shm. (How the network was isolated or None, whether /dev/shm
    is the node's own.) What the kernel refuses is left as it was."""
    flags = CLONE_NEWNET if network else 0
    if shm is not None and os.path.isdir("/dev/shm"):
        flags |= CLONE_NEWNS
    how = enter_namespaces(libc, flags) if flags else None
    if how is None and flags & CLONE_NEWNET and flags != CLONE_NEWNET:
        flags = CLONE_NEWNET  # a kernel that would isolate the network but not the mounts
        how = enter_namespaces(libc, flags)
    if how is None:
        return None, False
    isolated = None
    if flags & CLONE_NEWNET:
        _loopback_up(libc)
        isolated = "netns" if how == "direct" else "userns+netns"
    return isolated, bool(flags & CLONE_NEWNS) and _mount_shm(libc, shm or 0)


def _mount_shm(libc: ctypes.CDLL, size: int) -> bool:
    # Private first: on a host whose mounts are shared (systemd's default) the tmpfs would
    # otherwise appear on the host's /dev/shm too.
    if libc.mount(b"none", b"/", None, MS_REC | MS_PRIVATE, None) != 0:
        return False
    options = b"mode=1777" + (b",size=%d" % size if size else b"")
    return libc.mount(b"tmpfs", b"/dev/shm", b"tmpfs", MS_NOSUID | MS_NODEV, options) == 0


def _write(path: str, text: str) -> None:
    with open(path, "w") as f:
        f.write(text)


def _loopback_up(libc: ctypes.CDLL) -> None:
    """A new namespace's loopback is down: bring it up, as Docker's network 'none' does.
    Through libc, not the socket module, whose import costs more than the rest of the launcher."""
    af_inet, sock_dgram, siocgifflags, siocsifflags, iff_up = 2, 2, 0x8913, 0x8914, 0x1
    fd = libc.socket(af_inet, sock_dgram, 0)
    if fd < 0:
        raise OSError(ctypes.get_errno(), "socket")
    try:
        ifreq = ctypes.create_string_buffer(b"lo", 40)  # struct ifreq: the name, then the flags (a short)
        if libc.ioctl(fd, siocgifflags, ifreq) != 0:
            raise OSError(ctypes.get_errno(), "SIOCGIFFLAGS")
        flags = int.from_bytes(ifreq.raw[16:18], "little") | iff_up
        ctypes.memmove(ctypes.addressof(ifreq) + 16, flags.to_bytes(2, "little"), 2)
        if libc.ioctl(fd, siocsifflags, ifreq) != 0:
            raise OSError(ctypes.get_errno(), "SIOCSIFFLAGS")
    finally:
        libc.close(fd)


def children(pid: int) -> list[int]:
    """The direct children of ``pid``."""
    try:
        with open(f"/proc/{pid}/task/{pid}/children") as f:
            return [int(p) for p in f.read().split()]
    except OSError:
        pass
    found = []
    for name in os.listdir("/proc"):
        if not name.isdigit():
            continue
        try:
            with open(f"/proc/{name}/stat") as f:
                ppid = int(f.read().rsplit(")", 1)[1].split()[1])
        except (OSError, ValueError, IndexError):
            continue
        if ppid == pid:
            found.append(int(name))
    return found


def sweep() -> None:
    """SIGKILL every descendant and reap them. Orphans of a killed process come to us (we are
    their subreaper), so each round kills what the last one orphaned, until none is left."""
    me = os.getpid()
    while True:
        for pid in children(me):
            try:
                os.kill(pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
        try:
            os.waitpid(-1, 0)
        except ChildProcessError:
            return
        while True:
            try:
                pid, _ = os.waitpid(-1, os.WNOHANG)
            except ChildProcessError:
                return
            if pid == 0:
                break


def wait_node(child: int) -> int | None:
    """The node's wait status once it exits; None when it is to be killed first: at once on
    SIGUSR1, or GRACE seconds after a SIGTERM it outlived. The signals are blocked and taken
    here one at a time, so none can interrupt the launcher half-way (and skip the sweep)."""
    deadline: float | None = None
    while True:
        # Reap every child that has ended: the node itself, or orphans handed to us while it
        # runs (left as zombies they would count against the process limit).
        while True:
            try:
                pid, status = os.waitpid(-1, os.WNOHANG)
            except ChildProcessError:
                return None
            if pid == child:
                return status
            if pid == 0:
                break
        if deadline is None:
            info = signal.sigwaitinfo(_SIGNALS)
        else:
            left = deadline - time.monotonic()
            if left <= 0:
                return None
            info = signal.sigtimedwait(_SIGNALS, left)
        if info is None:
            continue
        if info.si_signo == signal.SIGUSR1:
            return None
        if info.si_signo == signal.SIGTERM and deadline is None:
            deadline = time.monotonic() + GRACE


def _exit_like(status: int) -> None:
    """Exit as the node did: with its code, or killed by its signal."""
    if os.WIFEXITED(status):
        os._exit(os.WEXITSTATUS(status))
    sig = os.WTERMSIG(status)
    for pending in (signal.SIGTERM, signal.SIGUSR1):
        signal.signal(pending, signal.SIG_IGN)  # drop a stop request still pending
    signal.pthread_sigmask(signal.SIG_UNBLOCK, _SIGNALS)
    try:
        signal.signal(sig, signal.SIG_DFL)
        os.kill(os.getpid(), sig)
    except (OSError, ValueError):
        pass
    os._exit(128 + sig)


def main(argv: list[str]) -> None:
    fsize: int | None = None
    shm: int | None = None
    no_network = probe = False
    while argv and argv[0] != "--":
        flag = argv.pop(0)
        if flag == "--fsize":
            fsize = int(argv.pop(0))
        elif flag == "--no-network":
            no_network = True
        elif flag == "--shm":
            shm = int(argv.pop(0))
        elif flag == "--probe":
            probe = True
        else:
            sys.stderr.write(f"launcher: unknown option {flag}\n")
            os._exit(125)
    command = argv[1:]
    parent = os.getppid()
    libc = _libc()
    subreaper = make_subreaper(libc)
    try:
        network, own_shm = isolate(libc, no_network, shm)
    except OSError as exc:
        # Half-made (a user namespace without its id map): running on would fail oddly.
        sys.stderr.write(f"[discover: could not isolate the node: {exc}]\n")
        os._exit(125)
    if probe:
        import json  # here only: importing it costs more than the rest of the launcher

        print(json.dumps({"subreaper": subreaper, "network": network, "shm": own_shm}))
        return
    resource.setrlimit(resource.RLIMIT_CORE, (0, 0))
    if fsize is not None:
        resource.setrlimit(resource.RLIMIT_FSIZE, (fsize, fsize))
    signal.pthread_sigmask(signal.SIG_BLOCK, _SIGNALS)
    # The orchestrator killed outright (SIGKILL, OOM) cannot stop its nodes: its death stops them
    # here instead, at once. Set after the namespaces, whose credential change would clear it.
    libc.prctl(PR_SET_PDEATHSIG, signal.SIGUSR1, 0, 0, 0)
    if os.getppid() != parent:
        os._exit(125)  # it died before the signal was armed
    child = os.fork()
    if child == 0:
        try:
            signal.pthread_sigmask(signal.SIG_UNBLOCK, _SIGNALS)
            os.execvp(command[0], command)
        finally:
            os._exit(127)
    status = wait_node(child)
    sweep()
    if status is None:
        status = signal.SIGKILL  # killed by us: the wait status of "terminated by SIGKILL"
    _exit_like(status)


if __name__ == "__main__":
    main(sys.argv[1:])
