"""The search engine: the run loop's steps and the work behind each step of a node's pipeline.

One engine drives one run. It keeps K node pipelines (discovery/graph.py: expand -> execute
-> evaluate, each a LangGraph graph checkpointed in the run store) in flight as asyncio
tasks, so a slow node never holds the others back, and it is the only writer of the run's
nodes in the store. Its memory holds ids, statuses and metrics; code and output live in the
store.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import random
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from agents.base import Agent, ExpansionContext, ExpansionError, NothingToTry, Proposal, code_key, params_key
from agents.memory import TreeMemory
from discovery.evaluate import judge
from discovery.progress import Progress, SearchStatus
from runs.models import Idea, Node, NodeStatus, Run
from runs.store import RunStore, StoreError
from search.base import Action, Policy
from search.scope import select_within
from search.tree import SearchTree, TreeNode
from workspace.base import SCRIPT_NAME, ExecRequest, ExecResult, Workspace

StopReason = Literal["budget", "time", "cost", "exhausted", "user", "interrupt", "model"]
_POLL_SECONDS = 0.5  # how often the commands table and heartbeat are looked at
_RESOURCES_SECONDS = 10.0  # how often the machines' free GPUs are written for the TUI
_TAIL = 4000  # characters of stdout/stderr kept in the node row
_STATE_TAIL = 8000  # characters of stdout/stderr a checkpoint keeps (the metric reader reads 6000 and 2000)
_DUPLICATE_ASKS = 2  # asks after a proposal that repeats a node that already ran, before giving up
_LESSONS_TOP = 3  # best nodes named in the lessons from the whole tree


@dataclass
class NodeWork:
    """What one in-flight node has produced so far (its pipeline's state, as this session knows it)."""

    node: Node
    result: ExecResult | None = None
    error: str | None = None
    exhausted: bool = False
    flagged: str | None = None  # why a reviewer judged the result invalid
    metric_source: str | None = None  # "llm" when a model read the metric from the output
    value: float | None = None  # the value agent's latest estimate
    cut: bool = False  # never expanded because the run hit a limit: cancelled, not failed
    resumed: bool = False  # requeued by a resume: its pipeline may go on from a checkpoint
    early: dict[str, Any] | None = None  # its expand step's answer, given before the graph was loaded
    early_run: asyncio.Task[dict[str, Any]] | None = None  # its execution, started before the graph was loaded

    def load(self, state: dict[str, Any]) -> None:
        """Take what a pipeline's state (discovery.graph.NodeState) holds that this copy lacks."""
        if self.result is None and state.get("result") is not None:
            self.result = ExecResult.model_validate(state["result"])
        for key in ("error", "flagged", "metric_source", "value"):
            if state.get(key) is not None:
                setattr(self, key, state[key])
        self.exhausted = self.exhausted or bool(state.get("exhausted"))
        self.cut = self.cut or bool(state.get("cut"))


@dataclass
class Engine:
    """Runtime of one run: store, tree, policy, agent, workspace and the in-flight tasks."""

    store: RunStore
    run: Run
    policy: Policy
    agent: Agent
    workspace: Workspace
    progress: Progress
    tree: SearchTree = field(init=False)
    nodes: dict[int, Node] = field(default_factory=dict)  # light copies: no code or output
    tasks: dict[int, asyncio.Task[Any]] = field(default_factory=dict)
    work: dict[int, NodeWork] = field(default_factory=dict)
    tried: set[str] = field(default_factory=set)
    cancelled: set[int] = field(default_factory=set)  # kept so that spent_nodes() is O(1)
    forced: list[int] = field(default_factory=list)  # nodes the user asked to expand next
    stop_reason: StopReason | None = None
    paused: bool = False
    focus: int | None = None  # the search stays in this node's subtree while it can (a scoped fork)
    expand_focus_first: bool = False  # a fork's first expansion is from its node
    started: float = field(default_factory=time.monotonic)
    prior_elapsed: float = 0.0
    last_poll: float = 0.0
    last_resources: float = float("-inf")
    nothing_to_do: bool = False  # the policy had no action at the last launch
    requeued: list[int] = field(default_factory=list)  # unfinished nodes of a resumed run, run first
    final_task: asyncio.Task[Any] | None = None
    agent_idea: Idea = field(init=False)
    gpus: Any = None  # workspace.gpus.GpuAllocator; None: no GPUs handed out
    gpu_share: float = 0.0  # GPUs each node takes (fractions share one GPU)
    llm: Any = None  # agents.llm.LLMClient when a model is configured: value agent, reviewers, metric reader
    side_workspaces: list[Any] = field(default_factory=list)  # others that ran something (killed on a hard exit)
    final_estimate: tuple[float, float] = (float("-inf"), 0.0)  # (when, seconds) the final selection needs
    rng: random.Random = field(init=False)
    memory: TreeMemory = field(init=False)  # lessons from the whole tree, for the LLM agent's prompts
    code_keys: dict[str, int] = field(default_factory=dict)  # normalised code -> the node that ran it
    remembered: set[int] = field(default_factory=set)  # finished nodes already in ``memory``
    baseline_node: int | None = None  # the node that runs the idea's baseline as written
    graph: Any = None  # the node pipeline (discovery.graph), compiled with the store's checkpointer
    graph_loading: asyncio.Task[Any] | None = None  # LangGraph imported and the graph built, in a thread
    # Starts the model's check in the background (agents.llm.LLMClient.start_check), called once the
    # first nodes are launched: the baseline runs while the model library loads.
    start_model_check: Any = None
    model_check: asyncio.Task[Any] | None = None
    model_error: BaseException | None = None  # why the model cannot be used (the run stops: "model")
    judges: Any = None  # discovery.llm_steps.Judges when a model is configured

    def __post_init__(self) -> None:
        self.tree = SearchTree(self.run.idea.metric.direction, max_debug_depth=self.run.config.max_debug_depth)
        self.tree.budget = self.run.config.budget
        self.rng = random.Random(self.run.config.seed)
        self.memory = TreeMemory(self.run.idea.metric)
        self.prior_elapsed = self.run.elapsed
        baseline_key = code_key(self.run.idea.baseline) if self.run.idea.baseline else None
        for node in self.store.nodes(self.run.id, with_code=False):
            self._remember(node)
            if baseline_key is not None and node.code_key == baseline_key:
                self.baseline_node = node.id
        # Pruned nodes are out of the search: a resume does not run them again.
        self.requeued = [i for i, n in self.nodes.items() if n.status == NodeStatus.pending and not n.pruned]
        self._continue_from_focus()
        # What the agents read: the held-out script is kept from them.
        self.agent_idea = self.run.idea.model_copy(update={"holdout": None})
        # Checkpoints of nodes that will not go on (recorded, dropped or pruned before a crash) are stale.
        keep = {self._thread(i) for i in self.requeued}
        self.store.delete_checkpoints(t for t in self.store.checkpoint_threads(f"{self.run.id}:") if t not in keep)

    # -- bookkeeping ------------------------------------------------------------------------

    @property
    def idea(self):  # noqa: ANN201 - an Idea; property keeps call sites short
        return self.run.idea

    @property
    def config(self):  # noqa: ANN201
        return self.run.config

    def elapsed(self) -> float:
        return self.prior_elapsed + time.monotonic() - self.started

    def status(self) -> SearchStatus:
        """Where the search stands now, for the progress display."""
        best = self.tree.best()
        return SearchStatus(run_id=self.run.id, metric=self.idea.metric.name, spent=self.spent_nodes(),
                            budget=self.config.budget, running=len(self.tasks), best_id=best.id if best else None,
                            best_metric=best.metric if best else None, elapsed=self.elapsed())

    def time_left(self) -> float | None:
        """Seconds left under --time for the whole run (None: no limit)."""
        return None if not self.config.time_limit else self.config.time_limit - self.elapsed()

    def search_time_left(self) -> float:
        """Seconds the search may still take: --time less what the end of the run needs."""
        left = self.time_left()
        if left is None:
            return float("inf")
        from discovery import limits

        limit = self.config.time_limit
        if left > limits.END_SHARE * limit:
            return left - limits.END_SHARE * limit  # the end never takes more: no need to estimate it yet
        return left - limits.end_reserve(limit, self._report_reserve(), self._final_reserve())

    def _report_reserve(self) -> float:
        from discovery import limits

        return limits.report_reserve(self.config.time_limit or 0.0, with_model=self.llm is not None,
                                     nodes=len(self.nodes))

    def _final_reserve(self) -> float:
        if not (self.config.final_seeds or self.idea.has_holdout):
            return 0.0
        now = time.monotonic()
        if now - self.final_estimate[0] < _POLL_SECONDS:  # it sorts the valid nodes: not at every launch
            return self.final_estimate[1]
        from discovery import limits

        top = self.best_nodes(self.config.final_top_k if self.config.final_seeds else 1)
        seconds = limits.final_reserve([n.exec_seconds for n in top], seeds=self.config.final_seeds,
                                       workers=self.config.workers, holdout=self.idea.has_holdout)
        self.final_estimate = (now, seconds)
        return seconds

    def best_nodes(self, k: int) -> list[Node]:
        """The search's ``k`` best valid, unpruned nodes, best first (ties: the older node)."""
        return [self.nodes[t.id] for t, _ in zip(self.tree.ranked(), range(k))]

    def message(self, text: str) -> None:
        """Tell the user, through the progress display."""
        self.progress.message(text)

    def spent_nodes(self) -> int:
        """Nodes that count against the budget: every one created, minus cancelled ones."""
        return len(self.nodes) - len(self.cancelled)

    def _remember(self, node: Node) -> None:
        light = node.model_copy(update={"code": None, "stdout_tail": "", "stderr_tail": ""})
        known = node.id in self.nodes
        self.nodes[node.id] = light
        if node.status == NodeStatus.cancelled:
            self.cancelled.add(node.id)
        else:
            self.cancelled.discard(node.id)
        if node.params:
            self.tried.add(params_key(node.params))
        if node.code_key:
            self.code_keys.setdefault(node.code_key, node.id)
        if node.status.finished and node.id not in self.remembered:
            self.remembered.add(node.id)
            self.memory.add(light, self.nodes.get(node.parent_id) if node.parent_id is not None else None)
        if known:
            self.tree.update(node.id, status=node.status.value, metric=node.metric, pruned=node.pruned,
                             prior=node.value)
        else:
            self.tree.add(TreeNode(
                id=node.id, parent_id=node.parent_id, operator=node.operator, status=node.status.value,
                metric=node.metric, depth=node.depth, debug_depth=node.debug_depth, pruned=node.pruned,
                prior=node.value,
            ))

    def _save(self, node: Node) -> None:
        known = self.nodes.get(node.id)
        if known is not None and known.pruned and not node.pruned:
            # A copy taken before the node was pruned must not undo the prune.
            node = node.model_copy(update={"pruned": True})
        self.store.save_node(node)
        self._remember(node)

    def _continue_from_focus(self) -> None:
        """A fork goes on from its node: it is expanded first (once), and a path or subtree
        fork searches that node's subtree. What the runs it came from tried is not repeated."""
        focus = self.run.focus_node_id
        if focus is None or focus not in self.nodes:
            return
        self.focus = focus if self.run.focus_within else None
        # Only the fork's first session: later ones find a child that the fork made.
        self.expand_focus_first = not any(
            n.parent_id == focus and n.created_at >= self.run.created_at for n in self.nodes.values())
        lineage, run_id = {self.run.id}, self.run.parent_run_id
        while run_id is not None and run_id not in lineage:
            lineage.add(run_id)
            try:
                parent = self.store.get_run(run_id)
            except StoreError:
                break  # the parent run is gone: what the fork copied is all it knows
            self.tried.update(params_key(n.params) for n in self.store.nodes(run_id, with_code=False) if n.params)
            run_id = parent.parent_run_id

    # -- the outer loop's steps -------------------------------------------------------------

    def launch(self) -> int:
        """Fill free worker slots with newly selected nodes; return how many started."""
        self._poll(force=True)
        started = 0
        self.nothing_to_do = False
        # Nodes requeued by a resume were counted against the budget already: they go first.
        while self.requeued and not (self.stop_reason or self.paused) and len(self.tasks) < self.config.workers:
            self._start(self._requeued_work(self.requeued.pop(0)))
            started += 1
        while self._may_launch():
            action = self._next_action()
            if action is None:
                self.nothing_to_do = True
                break
            self._start(NodeWork(node=self._create(action)))
            started += 1
        if self.start_model_check is not None and self.model_check is None:
            self.model_check = self.start_model_check()
            self.model_check.add_done_callback(self._model_checked)
        return started

    def _model_checked(self, task: asyncio.Task[Any]) -> None:
        if task.cancelled() or task.exception() is None:
            return
        self.model_error = task.exception()
        self.request_stop("model")

    def _start(self, work: NodeWork) -> None:
        node_id = work.node.id
        self.work[node_id] = work
        self.tasks[node_id] = asyncio.get_running_loop().create_task(self.pipeline(node_id), name=f"node-{node_id}")

    def _requeued_work(self, node_id: int) -> NodeWork:
        return NodeWork(node=self.store.get_node(self.run.id, node_id), resumed=True)

    def _may_launch(self) -> bool:
        if self.stop_reason or self.paused or len(self.tasks) >= self.config.workers:
            return False
        if self.spent_nodes() >= self.config.budget:
            return False
        if self.search_time_left() <= 0:
            self.request_stop("time")
            return False
        if self.config.max_cost is not None and self.run.cost >= self.config.max_cost:
            self.request_stop("cost")
            return False
        return True

    def _next_action(self) -> Action | None:
        while self.forced:
            node_id = self.forced.pop(0)
            target = self.tree.nodes.get(node_id)
            if (target is None or target.in_flight or target.status in ("failed", "cancelled")
                    or self.tree.is_pruned(node_id)):
                continue
            return Action("debug" if target.status == "buggy" else "improve", node_id)
        if self.expand_focus_first:
            target = self.tree.nodes[self.run.focus_node_id]  # type: ignore[index]
            if target.in_flight:
                return None  # a fork of an unfinished node runs it again first, then goes on from it
            self.expand_focus_first = False
            # As for a node the user pushed: the fork's node is expanded even if the run it
            # came from had expanded it already (a buggy node with a debug child is debugged anew).
            if not self.tree.is_pruned(target.id) and (target.valid or target.status == "buggy"):
                return Action("improve" if target.valid else "debug", target.id)
        return select_within(self.policy, self.tree, self.focus, self.rng)

    def _create(self, action: Action) -> Node:
        parent = self.nodes.get(action.parent_id) if action.parent_id is not None else None
        node = Node(
            run_id=self.run.id,
            id=0,  # the store gives it an id never used before in the run, even by a dropped node
            parent_id=action.parent_id,
            depth=0 if parent is None else parent.depth + 1,
            operator=action.operator,
            partner_id=action.partner_id,
            status=NodeStatus.pending,
            created_at=time.time(),
            debug_depth=(parent.debug_depth + 1) if (parent and action.operator == "debug") else 0,
        )
        node = self.store.create_node(node)
        self._remember(node)
        return node

    async def wait_any(self) -> list[int]:
        """Wait until at least one in-flight node is done (or a poll is due); return done ids."""
        if not self.tasks:
            return []
        timeout = _POLL_SECONDS
        if self.config.time_limit and not self.stop_reason:
            timeout = max(0.0, min(timeout, self.search_time_left()))
        done, _ = await asyncio.wait(set(self.tasks.values()), timeout=timeout,
                                     return_when=asyncio.FIRST_COMPLETED)
        self._poll()
        if self.config.time_limit and not self.stop_reason and self.search_time_left() <= 0:
            self.request_stop("time")
        return sorted(int(t.get_name().split("-")[1]) for t in done)

    def record(self, node_ids: list[int]) -> None:
        """Write each finished node's outcome to the store and the tree."""
        for node_id in node_ids:
            task = self.tasks.pop(node_id)
            work = self.work.pop(node_id)
            if task.cancelled() and work.result is None:
                work.error = work.error or "cancelled before it ran"
            elif not task.cancelled() and task.exception() is not None:
                exc = task.exception()
                work.error = f"internal error: {type(exc).__name__}: {exc}"
            self._finish(work, cancelled=task.cancelled())

    def _finish(self, work: NodeWork, *, cancelled: bool) -> None:
        node = work.node
        if work.exhausted:
            # The selected node never ran: drop it, and say so (its id is never given again).
            self.store.add_event(self.run.id, "exhausted", f"node {node.id} dropped: {work.error}", node.parent_id)
            self.store.delete_node(self.run.id, node.id)
            self.store.delete_checkpoints([self._thread(node.id)])
            self.nodes.pop(node.id, None)
            self.cancelled.discard(node.id)
            self.tree.remove(node.id)
            self.tree.mark_exhausted(node.parent_id, node.operator)  # None: no new draft is left
            return
        now = time.time()
        update: dict[str, Any] = {"finished_at": now}
        if work.value is not None:
            update["value"] = work.value
        if work.result is not None:
            verdict = judge(work.result, self.idea.metric)
            update.update(
                status=verdict.status, metric=verdict.metric, metrics=work.result.metrics or {},
                error=verdict.error, exit_code=work.result.exit_code, timed_out=work.result.timed_out,
                exec_seconds=work.result.duration, stdout_tail=work.result.stdout[-_TAIL:],
                stderr_tail=work.result.stderr[-_TAIL:],
                metric_source=(work.metric_source or "file") if verdict.metric is not None else None,
            )
            if verdict.status == NodeStatus.good and work.flagged:
                # Keep the metric for the record, but a flagged node can never be the best.
                update.update(status=NodeStatus.flagged, error=f"flagged by a reviewer: {work.flagged}")
        elif cancelled or work.cut or self.stop_reason == "interrupt":
            update.update(status=NodeStatus.cancelled, error=work.error or "cancelled")
        else:
            update.update(status=NodeStatus.failed, error=work.error or "the agent produced no code")
        if update.get("status") == NodeStatus.cancelled and self.nodes[node.id].pruned:
            update["error"] = "pruned while it ran"
        node = node.model_copy(update=update)
        self._save(node)
        self.store.delete_checkpoints([self._thread(node.id)])  # recorded: its pipeline will not go on
        # The finished node changed the statistics of every subtree on its path: the TUI shows them.
        self.store.set_subtree_stats(self.run.id, (
            (i, self.tree.nodes[i].visits, self.tree.nodes[i].sub_best) for i in self.tree.path_to(node.id)))
        self.store.add_event(self.run.id, "node_finished", _summary(node), node.id)
        self.progress.node_finished(self.status(), node)

    async def drain(self) -> None:
        """Wait for every in-flight node and record it (used when stopping)."""
        while self.tasks:
            self.record(await self.wait_any())

    # -- the per-node pipeline (discovery/graph.py; each *_step is one of its steps) ------------

    def _thread(self, node_id: int) -> str:
        """The node's checkpoint thread: one per node, continued across sessions until it is recorded."""
        return f"{self.run.id}:{node_id}"

    def _build_graph(self) -> Any:
        from discovery.checkpoint import StoreCheckpointer
        from discovery.graph import build_node_graph

        return build_node_graph(model=self.llm is not None, value_agent=self.config.value_agent,
                                checkpointer=StoreCheckpointer(self.store))

    async def _node_graph(self) -> Any:
        if self.graph is None:
            if self.graph_loading is None:
                # In a thread: the loop meanwhile starts the nodes that need no model (_start_early).
                self.graph_loading = asyncio.ensure_future(asyncio.to_thread(self._build_graph))
            graph = await asyncio.shield(self.graph_loading)
            if self.graph is not None:
                return self.graph
            self.graph = graph
            if self.llm is not None:
                from discovery.llm_steps import Judges

                self.judges = Judges(llm=self.llm, store=self.store, run_id=self.run.id, idea=self.idea,
                                     agent_idea=self.agent_idea)
        return self.graph

    async def pipeline(self, node_id: int) -> None:
        """Run the node's graph, or go on from its last checkpoint when a crash interrupted it."""
        from agents.llm import node_scope

        work = self.work[node_id]
        with node_scope(node_id):  # every model call made for this node is tagged with its id
            # A requeued node that never reached a checkpoint starts from scratch: it may start early too.
            if self.graph is None and not (work.resumed and self.store.checkpoint(self._thread(node_id), "")):
                await self._start_early(node_id)
            try:
                graph = await self._node_graph()
            except asyncio.CancelledError:
                if work.early_run is not None:  # stopped while the graph loaded: stop the execution too
                    work.early_run.cancel()
                    await asyncio.wait([work.early_run])  # its output is recorded as a cancelled attempt
                raise
            config = {"configurable": {"thread_id": self._thread(node_id), "engine": self}}
            start: dict[str, Any] | None = {"node_id": node_id}
            if work.resumed:
                snapshot = await graph.aget_state(config)
                if snapshot.values:
                    work.load(snapshot.values)
                    if work.result is not None:
                        # Its execution had finished: not an interrupted attempt, as the resume took it
                        # for (the store cannot read checkpoints), and its evaluation goes on.
                        self.store.delete_attempt(self.run.id, node_id, max(1, work.node.attempts))
                        self._running(work, again=False)
                    if not snapshot.next:
                        return  # every step had finished: only the recording was left
                    start = None  # go on from the checkpoint
            final = await graph.ainvoke(start, config, durability="sync")
        work.load(final)

    async def _start_early(self, node_id: int) -> None:
        """While the graph loads (about a second), expand a node that needs no model for it (the
        baseline, the offline agent's nodes) and start its execution; its graph steps then take
        these. A crash before the graph's first checkpoint re-runs the node, as any interrupted one."""
        work = self.work[node_id]
        node = work.node
        baseline = node.operator == "draft" and bool(self.idea.baseline) and self.baseline_node is None
        if getattr(self.agent, "needs_model", True) and not baseline:
            return  # its expansion asks a model, which waits for the model check anyway
        work.early = await self.expand_step(node_id)
        if work.early.get("expanded") and not self.stop_reason:
            work.early_run = asyncio.ensure_future(self._execute(node_id))

    async def expand_step(self, node_id: int) -> dict[str, Any]:
        """The node's plan and code: its own when it has code already, the idea's baseline for
        the first draft, else the agent's. Saved in the node's row; the state says whether."""
        work = self.work[node_id]
        if work.early is not None:  # expanded before the graph was loaded
            early, work.early = work.early, None
            return early
        if work.node.code:  # expanded in an earlier session: the agent is not asked again
            if not work.node.code_key:  # a store from before code keys
                work.node = work.node.model_copy(update={"code_key": code_key(work.node.code)})
                self._save(work.node)
            return {"expanded": True}
        proposal = self._baseline(work.node) or await self._propose(work)
        if proposal is None:
            return {"expanded": False, "error": work.error, "exhausted": work.exhausted, "cut": work.cut}
        key = proposal.key
        self.code_keys.setdefault(key, node_id)
        work.node = work.node.model_copy(update={
            "plan": proposal.plan, "code": proposal.code, "params": proposal.params, "code_key": key})
        self._save(work.node)
        return {"expanded": True}

    def _running(self, work: NodeWork, *, again: bool = True) -> None:
        """Mark the node running (``again``: one more execution of it), and say so."""
        update: dict[str, Any] = {"status": NodeStatus.running}
        if again:
            update.update(started_at=time.time(), attempts=work.node.attempts + 1)
        work.node = work.node.model_copy(update=update)
        self._save(work.node)
        self.store.add_event(self.run.id, "node_started", f"{work.node.operator}: {work.node.plan}", work.node.id)
        self.progress.node_started(self.status(), work.node)

    async def execute_step(self, node_id: int) -> dict[str, Any]:
        """Run the node's code in the workspace, holding its GPU share while it runs."""
        work = self.work[node_id]
        if work.early_run is not None:  # started before the graph was loaded
            early, work.early_run = work.early_run, None
            return await early
        return await self._execute(node_id)

    async def _execute(self, node_id: int) -> dict[str, Any]:
        work = self.work[node_id]
        self._running(work)
        async with self.gpu_lease() as ids:
            workdir = self.store.node_dir(self.run.id, node_id).resolve()
            request = self.exec_request(node_id, work.node.code or "", workdir, seed=self.config.seed + node_id,
                                        gpus=ids)
            result = await self.workspace.execute(request)
        work.result = result
        return {"result": _state_result(result)}

    async def value_before_step(self, node_id: int) -> dict[str, Any]:
        """The value agent's estimate from the plan and code, asked while the node runs."""
        return await self._value(node_id, "before")

    async def value_after_step(self, node_id: int) -> dict[str, Any]:
        """The value agent's estimate once the node ran."""
        return await self._value(node_id, "after")

    async def _value(self, node_id: int, stage: str) -> dict[str, Any]:
        from discovery.llm_steps import value

        work = self.work[node_id]
        if stage == "after" and (work.result is None or work.result.cancelled):
            return {}
        best = self.tree.best()
        estimate = await value(self.judges, work.node, stage, best=best.metric if best else None,
                               result=work.result if stage == "after" else None)
        if estimate is None:
            return {}
        work.value = estimate
        return {"value": estimate}

    async def read_metric_step(self, node_id: int) -> dict[str, Any]:
        """A model reads the metric from the output of a script that wrote none."""
        from discovery.llm_steps import read_missing_metric

        work = self.work[node_id]
        if work.result is None:
            return {}
        metrics = await read_missing_metric(self.judges, work.node, work.result)
        if metrics is None:
            return {}
        work.result = work.result.model_copy(update={"metrics": metrics, "metrics_error": None})
        work.metric_source = "llm"
        return {"result": _state_result(work.result), "metric_source": "llm"}

    async def review_step(self, node_id: int) -> dict[str, Any]:
        """The reviewers judge a good node's code and plots; one that finds it invalid flags it."""
        from discovery.llm_steps import review

        work = self.work[node_id]
        if work.result is None:
            return {}
        work.flagged = await review(self.judges, work.node, work.result)
        return {"flagged": work.flagged} if work.flagged else {}

    def on_llm_call(self, call: Any) -> None:
        """Store one model call (agents.llm.LLMCall) and stop the run once --max-cost is spent.

        The client's ledger refuses every later call itself (agents.llm.CostLedger): running
        nodes finish without their reviews and value estimates, and the report uses templates.
        """
        self.run.cost = self.store.add_llm_call(self.run.id, call.model_dump())
        if self.config.max_cost is not None and self.run.cost >= self.config.max_cost and not self.stop_reason:
            self.progress.message(f"cost limit reached (${self.run.cost:.4f}): no more model calls; "
                                  "finishing the running nodes")
            self.request_stop("cost")

    def _baseline(self, node: Node) -> Proposal | None:
        """The idea's baseline, unchanged and without a model call, for the run's first draft."""
        baseline = self.idea.baseline
        if node.operator != "draft" or not baseline or self.baseline_node is not None:
            return None
        from agents.prompts import params_in

        self.baseline_node = node.id
        return Proposal(plan="Run the baseline as written, to anchor the search: every other node is measured "
                             "against it.", code=baseline, params=params_in(baseline, self.idea))

    async def _propose(self, work: NodeWork) -> Proposal | None:
        """Ask the agent; a proposal that repeats a node that already ran is asked again, a few times.

        None when there is nothing to run (``work.error`` says why, ``work.exhausted`` when
        the agent has nothing new from this parent).
        """
        ctx = self._context(work.node)
        for ask in range(_DUPLICATE_ASKS + 1):
            try:
                proposal = await self.agent.propose(ctx)
            except NothingToTry as exc:
                work.exhausted, work.error = True, str(exc)
                return None
            except ExpansionError as exc:
                from agents.llm import CostLimitReached

                if isinstance(exc.__cause__, CostLimitReached):
                    work.cut, work.error = True, f"not expanded: {exc}"
                    self.request_stop("cost")
                else:
                    work.error = f"expansion failed: {exc}"
                return None
            same = self.code_keys.get(proposal.key)
            if same is None or same == work.node.id:
                return proposal
            self.store.add_event(self.run.id, "duplicate", f"node {work.node.id}: proposal {ask + 1} repeats node "
                                                            f"{same}, which already ran; not run", work.node.id)
            ctx.duplicate_of = same
        work.exhausted, work.error = True, f"the agent repeated experiments that already ran ({ctx.duplicate_of})"
        return None

    @contextlib.asynccontextmanager
    async def gpu_lease(self) -> AsyncIterator[list[str]]:
        """A node's share of the GPUs (their ids) for the duration of the block; [] without GPUs."""
        if self.gpus is None or not self.gpu_share:
            yield []
            return
        async with self.gpus.lease(self.gpu_share) as ids:
            yield ids

    def exec_request(self, node_id: int, code: str, workdir: Path, *, seed: int, gpus: list[str],
                     time_limit: float | None = None, script: str = SCRIPT_NAME) -> ExecRequest:
        """An execution with a node's limits and resources (nodes, and final selection's re-runs)."""
        return ExecRequest(
            run_id=self.run.id,
            node_id=node_id,
            workdir=workdir,
            code=code,
            script=script,
            time_limit=time_limit or self.idea.time_limit,
            output_cap=self.config.output_cap,
            data=self.idea.data,
            threads=max(1, (os.cpu_count() or 1) // self.config.workers),
            gpus=gpus,
            seed=seed,
            network=self.idea.network,
            image=self.idea.image,
        )

    def _context(self, node: Node) -> ExpansionContext:
        parent = self.store.get_node(self.run.id, node.parent_id) if node.parent_id is not None else None
        ancestors: list[Node] = []
        related: list[Node] = []
        if parent is not None:
            path = self.tree.path_to(parent.id)
            ancestors = [self.nodes[i] for i in path[:-1]]
            for i in path:
                related.extend(self.nodes[c] for c in self.tree.nodes[i].children if self.nodes[c].status.finished)
        feedback: dict[int, list[str]] = {}
        if self.llm is not None and parent is not None:
            from discovery.llm_steps import review_notes

            feedback = {n.id: review_notes(self.store, self.run.id, n.id) for n in [*ancestors, parent]}
        partner = self.store.get_node(self.run.id, node.partner_id) if node.partner_id is not None else None
        lessons = ""
        if getattr(self.agent, "reads_lessons", False):
            lessons = self.memory.text(self.best_nodes(_LESSONS_TOP))
        return ExpansionContext(
            idea=self.agent_idea, operator=node.operator, parent=parent, ancestors=ancestors, related=related,
            tried=self.tried, seed=self.config.seed, feedback=feedback, partner=partner, lessons=lessons,
        )

    # -- steering -----------------------------------------------------------------------------

    def request_stop(self, reason: StopReason) -> None:
        """Stop launching nodes; on an interrupt also kill the running ones."""
        if self.stop_reason is None or reason == "interrupt":
            first = self.stop_reason is None
            self.stop_reason = reason
            if first:
                self.store.add_event(self.run.id, "stopping", reason)
        if reason in ("interrupt", "time", "model"):
            for task in self.tasks.values():
                task.cancel()
            if reason == "interrupt" and self.final_task is not None:
                self.final_task.cancel()

    def _poll(self, force: bool = False) -> None:
        now = time.monotonic()
        if not force and now - self.last_poll < _POLL_SECONDS:
            return
        self.last_poll = now
        update: dict[str, Any] = {"heartbeat": time.time(), "elapsed": self.elapsed()}
        if now - self.last_resources >= _RESOURCES_SECONDS:
            self.last_resources = now
            resources = self._resources()
            if resources is not None:
                update["resources"] = resources
        self.store.update_run(self.run.id, **update)
        for cmd in self.store.pending_commands(self.run.id):
            self._apply(cmd.kind, cmd.node_id)
            self.store.mark_command_done(cmd.id or 0)

    def _resources(self) -> dict[str, Any] | None:
        """Free and total GPUs (and a Ray cluster's CPUs and nodes), for the TUI header."""
        cluster = getattr(self.workspace, "cluster", None)
        if cluster is not None:
            try:
                return cluster()
            except Exception as exc:  # a cluster that stops answering must not stop the search
                return {"error": f"{type(exc).__name__}: {exc}"[:200]}
        if self.gpus is not None and self.gpus.ids:
            free = sum(self.gpus.free.values()) / 1000  # the allocator counts thousandths of a GPU
            return {"gpus_total": float(len(self.gpus.ids)), "gpus_free": free}
        return None

    def _apply(self, kind: str, node_id: int | None) -> None:
        if kind == "pause":
            self.paused = True
        elif kind == "resume":
            self.paused = False
        elif kind == "stop":
            self.request_stop("user")
        elif kind == "prune" and node_id in self.nodes:
            self._prune(node_id)
        elif kind == "expand" and node_id in self.nodes:
            self.forced.append(node_id)
        self.store.add_event(self.run.id, "command", f"{kind}" + (f" node {node_id}" if node_id else ""), node_id)

    def _prune(self, node_id: int) -> None:
        """Take the node's subtree out of the search; its running nodes are cancelled."""
        stack = [node_id]
        pruned = []
        while stack:
            i = stack.pop()
            stack.extend(self.tree.nodes[i].children)
            if not self.nodes[i].pruned:
                pruned.append(self.store.get_node(self.run.id, i).model_copy(update={"pruned": True}))
            work = self.work.get(i)
            if work is not None:
                # The pipeline saves its own copy of the node later: that copy is pruned too.
                work.node = work.node.model_copy(update={"pruned": True})
                self.tasks[i].cancel()
        self.store.save_nodes(pruned)
        for node in pruned:
            self._remember(node)
        # Requeued nodes of a resume that had not started yet: they will not run now.
        waiting = [self.store.get_node(self.run.id, i).model_copy(
            update={"status": NodeStatus.cancelled, "error": "pruned before it ran again"})
            for i in self.requeued if self.nodes[i].pruned]
        if waiting:
            self.requeued = [i for i in self.requeued if not self.nodes[i].pruned]
            self.store.save_nodes(waiting)
            for node in waiting:
                self._remember(node)

    def _check_time(self) -> None:
        """Stop once --time is spent, whatever the run is doing (paused and idle included)."""
        if self.config.time_limit and not self.stop_reason and self.elapsed() >= self.config.time_limit:
            self.request_stop("time")

    def should_continue(self) -> bool:
        """True while the loop should launch or wait for more nodes."""
        self._check_time()
        if self.tasks or (self.requeued and not self.stop_reason):
            return True
        if self.stop_reason:
            return False
        if self.paused:
            return True
        if self.spent_nodes() >= self.config.budget:
            self.stop_reason = "budget"
            return False
        if self.nothing_to_do and not self.forced:
            self.stop_reason = "exhausted"
            return False
        return True

    async def finish(self) -> None:
        """Run the final selection, mark the run ended, write its report and show the summary.

        Everything here stays within --time: the final selection until the write-up's share,
        the write-up with what is left. An interrupt skips the final selection and the model.
        """
        status = "stopped" if self.stop_reason in ("user", "interrupt", "model") else "finished"
        if self.stop_reason == "model":
            # The model cannot be used: no final selection, no report; the caller says why.
            self.store.update_run(self.run.id, status=status, elapsed=self.elapsed(), pid=None)
            self.store.add_event(self.run.id, "model_check_failed", str(self.model_error))
            return
        best = self.tree.best_id
        if self.stop_reason != "interrupt" and (self.config.final_seeds or self.idea.has_holdout):
            best = await self._final_selection(best)
        if self.idea.task is not None and best is not None:
            from discovery.final import grade_on_test

            await grade_on_test(self, best)
        self.run = self.run.model_copy(update={
            "status": status, "finished_at": time.time(), "best_node_id": best, "elapsed": self.elapsed(),
        })
        self.store.update_run(self.run.id, status=status, finished_at=self.run.finished_at,
                              best_node_id=best, elapsed=self.run.elapsed, pid=None)
        self.store.add_event(self.run.id, "run_finished", f"{status} ({self.stop_reason or 'done'})")
        report = None
        try:
            from discovery.report import write_report

            left = self.time_left()
            deadline = None if left is None else time.time() + left
            if self.config.write_report:
                report = await asyncio.to_thread(write_report, self.store.root, self.run.id, deadline=deadline,
                                                 interrupted=self.stop_reason == "interrupt")
        except Exception as exc:  # a failed report must not lose the finished run
            self.store.add_event(self.run.id, "report_failed", f"{type(exc).__name__}: {exc}")
            self.progress.message(f"report failed: {type(exc).__name__}: {exc}")
        self.progress.finished(self.store, self.run.id, report)

    async def _final_selection(self, best: int | None) -> int | None:
        from discovery.final import final_selection

        deadline = None
        if self.config.time_limit:
            deadline = self.config.time_limit - self._report_reserve()
            if deadline - self.elapsed() < 1.0:
                self.store.add_event(self.run.id, "final_selection", "skipped: no time left under --time")
                self.progress.message("final selection skipped: no time left under --time")
                return best
        self.final_task = asyncio.get_running_loop().create_task(final_selection(self, deadline))
        try:
            return await self.final_task
        except asyncio.CancelledError:
            self.store.add_event(self.run.id, "final_selection", "interrupted: the search's best node stands")
            return best

    async def idle(self) -> None:
        """Sleep briefly while paused with nothing in flight, still polling commands."""
        timeout = _POLL_SECONDS
        if self.config.time_limit:
            timeout = max(0.0, min(timeout, self.config.time_limit - self.elapsed()))
        await asyncio.sleep(timeout)
        self._poll()
        self._check_time()


def _state_result(result: ExecResult) -> dict[str, Any]:
    """An execution's result as a pipeline's state keeps it: its output cut to the tails used later."""
    return {**result.model_dump(mode="json", exclude={"stdout", "stderr"}),
            "stdout": result.stdout[-_STATE_TAIL:], "stderr": result.stderr[-_STATE_TAIL:]}


def _summary(node: Node) -> str:
    if node.status == NodeStatus.good:
        return f"{node.operator} -> {node.metric:.6g}"
    return f"{node.operator} -> {node.status.value}: {(node.error or '').splitlines()[0][:200] if node.error else ''}"
