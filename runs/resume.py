"""Put a stopped or crashed run back into a state the orchestrator can continue from."""

from __future__ import annotations

import os
import signal
import time
from pathlib import Path

from runs.models import Attempt, NodeStatus
from runs.store import RunStore

# Nodes that had not completed when the run stopped: they run again on resume.
UNFINISHED = (NodeStatus.pending, NodeStatus.running, NodeStatus.cancelled)
_TAIL = 4000


def requeue_unfinished(store: RunStore, run_id: str) -> list[int]:
    """Turn every unfinished node back into a pending one, keeping its code and plan.

    What an interrupted execution left behind (its partial output) is kept as a failed
    attempt in the ``attempts`` table. Leftover processes of a crashed orchestrator are
    killed first, so two copies of a node never run at once. Pruned nodes are out of the
    search: they are not run again, and one left pending or running becomes cancelled.
    Returns the requeued ids.
    """
    unfinished = store.nodes(run_id, statuses=UNFINISHED)
    now = time.time()
    attempts = []
    requeued = []
    dropped = []
    for node in unfinished:
        folder = store.node_dir(run_id, node.id)
        _kill_leftover(folder)
        if node.pruned and node.status == NodeStatus.cancelled:
            continue
        if node.status != NodeStatus.pending or node.attempts:
            attempts.append(Attempt(
                run_id=run_id, node_id=node.id, attempt=max(1, node.attempts),
                status="cancelled" if node.status == NodeStatus.cancelled else "interrupted",
                error=node.error or "the orchestrator stopped while this node ran",
                stdout_tail=node.stdout_tail or _tail(folder / "stdout.txt"),
                stderr_tail=node.stderr_tail or _tail(folder / "stderr.txt"),
                exec_seconds=node.exec_seconds, started_at=node.started_at, finished_at=now,
            ))
        if node.pruned:
            dropped.append(node.model_copy(update={
                "status": NodeStatus.cancelled, "error": node.error or "pruned: not run again", "finished_at": now}))
            continue
        requeued.append(node.model_copy(update={
            "status": NodeStatus.pending, "metric": None, "metrics": {}, "error": None, "exit_code": None,
            "timed_out": False, "exec_seconds": None, "stdout_tail": "", "stderr_tail": "",
            "finished_at": None,
        }))
    # Attempts first: a crash between the two writes leaves the nodes unfinished, and the
    # next resume writes the same attempt rows again (same keys), so nothing is lost or doubled.
    store.save_attempts(attempts)
    store.save_nodes(requeued + dropped)
    return [n.id for n in requeued]


def _tail(path: Path) -> str:
    # O_NOFOLLOW: the node may have replaced its output by a link to a file of the user's,
    # and this tail goes into the store and the next prompts.
    try:
        with os.fdopen(os.open(path, os.O_RDONLY | os.O_NOFOLLOW), "rb") as f:
            f.seek(max(0, os.fstat(f.fileno()).st_size - _TAIL))
            data = f.read(_TAIL)
    except OSError:
        return ""
    return data.decode(errors="replace")


def _kill_leftover(folder: Path) -> None:
    """Kill the process group recorded in the node folder if it still runs this node's script."""
    try:
        with os.fdopen(os.open(folder / "pid", os.O_RDONLY | os.O_NOFOLLOW), "rb") as f:
            pid = int(f.read(32))
        cmdline = Path(f"/proc/{pid}/cmdline").read_bytes()
        environ = Path(f"/proc/{pid}/environ").read_bytes().split(b"\0")
    except (OSError, ValueError):
        return
    # The node can write its pid file: only a process started as this node (its HOME is the
    # node folder, run id/nodes/id, however the runs folder was named) is killed.
    home = next((Path(os.fsdecode(e[5:])) for e in environ if e.startswith(b"HOME=")), None)
    if b"experiment.py" in cmdline and pid > 0 and home is not None and home.parts[-3:] == folder.parts[-3:]:
        try:
            os.killpg(pid, signal.SIGKILL)
        except (ProcessLookupError, PermissionError):
            pass
