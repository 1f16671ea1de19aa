"""Fork a new run from any node of an old one: the new tree starts as a copy, the old run is untouched."""

from __future__ import annotations

import os
import shutil
import time
from typing import Any, Literal

from runs.models import Idea, Run
from runs.store import RunStore, StoreError

Scope = Literal["path", "subtree", "all"]


def fork_run(store: RunStore, run_id: str, node_id: int, scope: Scope = "path", *,
             config: dict[str, Any] | None = None, idea: Idea | None = None, budget: int | None = None) -> str:
    """Create a run whose tree is a copy of ``run_id``'s nodes and return its id.

    ``scope``: ``path`` copies the root-to-node path, ``subtree`` that path plus the node's
    descendants, ``all`` the whole tree. ``budget`` is how many new nodes the fork may add
    (default: the parent run's budget). ``config`` overrides RunConfig fields (policy, model,
    workers...). The new run is created stopped; resuming it starts the search.
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
    if config and "model" in config:
        agent = f"llm:{config['model']}" if config["model"] else "offline"
    fork = Run(
        id=store.new_run_id(new_idea.title), idea=new_idea, config=new_config, status="stopped",
        created_at=time.time(), parent_run_id=run_id, parent_node_id=node_id, agent=agent,
        workspace=new_config.workspace,
    )
    copies = [nodes[i].model_copy(update={"run_id": fork.id}) for i in sorted(keep)]
    for node in copies:
        _copy_folder(store, run_id, fork.id, node.id, share=node.status.finished)
    store.create_run(fork)
    store.save_nodes(copies)
    store.add_event(fork.id, "forked", f"from run {run_id} node {node_id} ({scope}, {len(copies)} nodes copied)")
    return fork.id


def _select(nodes: dict, node_id: int, scope: Scope) -> set[int]:  # noqa: ANN001 - {id: Node}
    if scope == "all":
        return set(nodes)
    keep = set()
    current: int | None = node_id
    while current is not None:
        keep.add(current)
        current = nodes[current].parent_id
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


def _copy_folder(store: RunStore, old_run: str, new_run: str, node_id: int, *, share: bool) -> None:
    """Copy a node folder; a finished node's files are hard-linked (they are never written
    again), an unfinished one's copied, since the fork will run it again in place."""
    source = store.node_dir(old_run, node_id)
    if not source.is_dir():
        return
    target = store.node_dir(new_run, node_id)
    target.parent.mkdir(parents=True, exist_ok=True)

    def link_or_copy(src: str, dst: str) -> None:
        try:
            os.link(src, dst)
        except OSError:
            shutil.copy2(src, dst)

    shutil.copytree(source, target, symlinks=True, copy_function=link_or_copy if share else shutil.copy2,
                    dirs_exist_ok=True)
