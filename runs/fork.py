"""Fork a new run from any node of an old one: the new tree starts as a copy, the old run is untouched."""

from __future__ import annotations

import fcntl
import os
import shutil
import time
from pathlib import Path
from typing import Any, Literal

from runs.models import Idea, Run
from runs.store import RunStore, StoreError

Scope = Literal["path", "subtree", "all"]
_FICLONE = 0x40049409  # linux/fs.h: share the blocks copy-on-write (btrfs, xfs); a write never reaches the other


def fork_run(store: RunStore, run_id: str, node_id: int, scope: Scope = "path", *,
             config: dict[str, Any] | None = None, idea: Idea | None = None, budget: int | None = None) -> str:
    """Create a run whose tree is a copy of ``run_id``'s nodes and return its id.

    ``scope``: ``path`` copies the root-to-node path, ``subtree`` that path plus the node's
    descendants, ``all`` the whole tree. ``budget`` is how many new nodes the fork may add
    (default: the parent run's budget). ``config`` overrides RunConfig fields (policy, model,
    workers...). The new run is created stopped; resuming it starts the search, which goes on
    from the node: it is expanded first, and a ``path`` or ``subtree`` fork searches within its
    subtree (drafting anew only when nothing is left there). Node folders are copied, never
    linked, so neither run can change the other's files.
    """
    parent = store.get_run(run_id)
    nodes = {n.id: n for n in store.nodes(run_id)}
    if node_id not in nodes:
        raise StoreError(f"run {run_id}: no node {node_id}")
    keep = _select(nodes, node_id, scope)
    new_config = parent.config.model_copy(update=config or {})
    new_config.budget = len(keep) + (budget if budget is not None else parent.config.budget)
    new_config = type(new_config).model_validate(new_config.model_dump())  # re-validate the overrides
    new_idea = idea or parent.idea
    agent = parent.agent
    if config and "llm" in config:
        agent = f"llm:{config['llm']['model']}" if config["llm"] else "offline"
    fork = Run(
        id=store.new_run_id(new_idea.title), idea=new_idea, config=new_config, status="stopped",
        created_at=time.time(), parent_run_id=run_id, parent_node_id=node_id, agent=agent,
        workspace=new_config.workspace, focus_node_id=node_id, focus_within=scope != "all",
    )
    fork = store.create_run(fork)  # first: its id is final only once it is stored
    path = _path(nodes, node_id)
    # The fork goes on from the node: a prune in the old run does not close the way to it.
    copies = [nodes[i].model_copy(update={"run_id": fork.id, **({"pruned": False} if i in path else {})})
              for i in sorted(keep)]
    for node in copies:
        _copy_folder(store, run_id, fork.id, node.id)
    store.save_nodes(copies)
    store.add_event(fork.id, "forked", f"from run {run_id} node {node_id} ({scope}, {len(copies)} nodes copied)")
    return fork.id


def _path(nodes: dict, node_id: int) -> set[int]:  # noqa: ANN001 - {id: Node}
    """The node and its ancestors."""
    keep = set()
    current: int | None = node_id
    while current is not None:
        keep.add(current)
        current = nodes[current].parent_id
    return keep


def _select(nodes: dict, node_id: int, scope: Scope) -> set[int]:  # noqa: ANN001 - {id: Node}
    if scope == "all":
        return set(nodes)
    keep = _path(nodes, node_id)
    if scope == "subtree":
        children: dict[int, list[int]] = {}
        for n in nodes.values():
            if n.parent_id is not None:
                children.setdefault(n.parent_id, []).append(n.id)
        stack = [node_id]
        while stack:
            i = stack.pop()
            keep.add(i)
            stack.extend(children.get(i, []))
    elif scope != "path":
        raise StoreError(f"fork scope {scope!r}: choose path, subtree or all")
    return keep


def _copy_folder(store: RunStore, old_run: str, new_run: str, node_id: int) -> None:
    """Copy a node folder into the fork, sharing no writable file with the old run.

    Hard links would share files: resuming either run re-runs its unfinished nodes in place
    and rewrites them, in both runs at once. Each file is cloned (copy-on-write) where the
    filesystem can, else copied. Symbolic links stay links (the idea's data), except those
    that lead into the old run's folder, which become copies of what they point at.
    """
    source = store.node_dir(old_run, node_id)
    if not source.is_dir():
        return
    target = store.node_dir(new_run, node_id)
    target.parent.mkdir(parents=True, exist_ok=True)
    shutil.copytree(source, target, symlinks=True, copy_function=_clone, dirs_exist_ok=True)
    old_root = store.run_dir(old_run).resolve()
    for folder, dirs, files in os.walk(target):
        for name in dirs + files:
            link = Path(folder) / name
            if not link.is_symlink():
                continue
            real = link.resolve()
            if real.is_relative_to(old_root):
                link.unlink()
                if real.is_dir():
                    shutil.copytree(real, link, symlinks=False, copy_function=_clone)
                elif real.is_file():
                    _clone(str(real), str(link))


def _clone(src: str, dst: str) -> str:
    """Copy one file: a copy-on-write clone where the filesystem offers one, else the bytes."""
    try:
        with open(src, "rb") as s, open(dst, "wb") as d:
            fcntl.ioctl(d.fileno(), _FICLONE, s.fileno())
        shutil.copystat(src, dst)
        return dst
    except OSError:
        return shutil.copy2(src, dst)
