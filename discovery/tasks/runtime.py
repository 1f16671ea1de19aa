"""Set a task run up for a session: its hidden split, the files nodes get, and the scoring workspace.

Called once per session (new run, resume, fork) before the engine starts.
"""

from __future__ import annotations

import sys
from typing import Any

from discovery.config import ConfigError
from discovery.tasks.scoring import Scorer, TaskWorkspace
from discovery.tasks.split import SplitError, prepare
from discovery.tasks.table import TableError
from runs.models import Run
from runs.store import RunStore


def isolation(workspace_name: str) -> str:
    """How this session's nodes are kept from the answers, in words."""
    from workspace.confine import available

    if workspace_name == "docker":
        return "docker (a node's container mounts only its folder and the served data)"
    where = "on the Ray workers, " if workspace_name == "ray" else ""
    if available():
        return f"landlock ({where}a local node may open only its folder, the served data and system files)"
    return ("none: this kernel has no Landlock, so local nodes run as you and could read the task's private "
            "files; use --workspace docker for untrusted agents")


def attach_task(store: RunStore, run: Run, workspace: Any) -> tuple[Run, TaskWorkspace]:
    """The run with its served files and split fixed in its idea, and the scoring workspace.

    ConfigError when the stored split cannot be used (so the run is left resumable)."""
    task = run.idea.task
    assert task is not None
    seed = task.split_seed if task.split_seed is not None else run.config.seed
    # A fork carries its parent's split (and fingerprint) in its idea: reuse the parent's files.
    parent = store.run_dir(run.parent_run_id).resolve() / "task" if run.parent_run_id and task.split_hash else None
    try:
        served = prepare(task, store.run_dir(run.id).resolve() / "task", seed, copy_from=parent)
    except (SplitError, TableError, OSError) as exc:
        raise ConfigError(f"task {task.root}: {exc}") from None
    how = isolation(workspace.name)
    task = task.model_copy(update={"split_seed": seed, "split_hash": served.split_hash, "isolation": how})
    idea = run.idea.model_copy(update={"task": task, "data": served.public_files})
    if idea != run.idea:
        store.update_run(run.id, idea=idea)
        run = run.model_copy(update={"idea": idea})
    store.add_event(run.id, "task", f"hidden validation split {served.split_hash}: {len(served.val_ids)} of "
                                    f"{served.train_rows} training rows held back; isolation: {how}")
    if how.startswith("none"):
        print(f"discover: warning: isolation {how}", file=sys.stderr)
    scorer = Scorer(task, served, run.idea.metric.name, run.idea.metric.direction)
    return run, TaskWorkspace(workspace, scorer)
