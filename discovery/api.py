"""The Python API: start a run from an idea and get its id and best node back.

    from discovery import run
    result = run("examples/ridge_degree/idea.md", budget=12)
    print(result.run_id, result.best_node_id, result.best_metric)

The keywords of ``run`` are listed in docs/api.md.
"""

from __future__ import annotations

import asyncio
import os
import signal
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from discovery.config import ConfigError
from discovery.progress import Progress, SilentProgress
from runs.lock import RunLock, RunLocked
from runs.models import Idea, Run, RunConfig
from runs.resume import requeue_unfinished
from runs.store import RunStore


@dataclass(frozen=True)
class RunResult:
    """How a run ended."""

    run_id: str
    status: str
    best_node_id: int | None
    best_metric: float | None
    report: Path | None
    stop_reason: str | None = None
    error: BaseException | None = None  # why the run stopped early, when it could not go on ("model")


def create_run(store: RunStore, idea: Idea, config: RunConfig, **extra: Any) -> Run:
    """Insert a new run for ``idea`` and return it."""
    run = Run(id=store.new_run_id(idea.title), idea=idea, config=config, created_at=time.time(),
              agent=agent_name(config), workspace=config.workspace, pid=os.getpid(), **extra)
    run = store.create_run(run)  # its id may differ from the one asked for: another process took it
    store.add_event(run.id, "run_started", f"{config.policy} policy, {run.agent} agent, {config.workers} workers")
    return run


def agent_name(config: RunConfig) -> str:
    return "offline" if not config.llm else f"llm:{config.llm['model']}"


def make_agent(config: RunConfig, llm: Any = None) -> Any:
    """The LLM agent on ``llm`` (an agents.llm.LLMClient, the run's one client) when a model is
    configured, else the built-in offline agent."""
    if config.llm:
        from agents.llm import LLMClient, run_llm
        from agents.llm_agent import LLMAgent

        settings = run_llm(config)
        return LLMAgent(settings, client=llm or LLMClient(settings))
    from agents.offline import OfflineAgent

    return OfflineAgent()


def workspace_settings(config: RunConfig, idea: Idea, nodes_dir: Path | None = None) -> Any:
    """The workspace factory's settings for this run (a flag wins over the idea's field)."""
    from workspace.factory import WorkspaceError, settings

    def first(flag: Any, field: Any) -> Any:
        return flag if flag is not None else field

    try:
        return settings(
            kind=config.workspace, workers=config.workers, image=config.image or idea.image, gpus=config.gpus,
            gpus_per_node=first(config.gpus_per_node, idea.gpus_per_node), ray_address=config.ray_address,
            node_disk=first(config.node_disk, idea.node_disk), node_memory=first(config.node_memory, idea.node_memory),
            node_shm=first(config.node_shm, idea.node_shm), data=idea.data, model_code=bool(config.llm),
            nodes_dir=nodes_dir)
    except WorkspaceError as exc:
        raise ConfigError(str(exc)) from None


def check_prices(config: RunConfig) -> None:
    """Raise ConfigError when --max-cost could never be reached: a model without a known price."""
    if not config.llm or config.max_cost is None:
        return
    from agents.llm import LLMConfig, unpriced_models

    unpriced = unpriced_models(LLMConfig.model_validate(config.llm))
    if unpriced:
        raise ConfigError(f"--max-cost: {', '.join(unpriced)} has no known price, so its calls would count as $0 "
                          "and the cap could never be reached; give --price-in and --price-out "
                          "(USD per million tokens)")


def preflight(config: RunConfig, idea: Idea) -> None:
    """Raise a one-line error for a run that cannot work (an offline agent with nothing to search,
    a workspace, GPU or limit request that cannot be met) before the run is stored."""
    from workspace.factory import WorkspaceError, choose

    if not config.llm:
        from discovery.idea import check_offline

        check_offline(idea)
    check_prices(config)
    if config.workspace == "ray":
        from workspace.ray_workspace import RayUnavailable, check_address

        try:
            check_address(config.ray_address)  # Ray installed, something answers; joining comes later
        except RayUnavailable as exc:
            raise ConfigError(str(exc)) from None

    try:
        choose(workspace_settings(config, idea))
    except WorkspaceError as exc:
        raise ConfigError(str(exc)) from None


def acquire_lock(store: RunStore, run_id: str) -> RunLock:
    """Hold the run for this process, or raise ConfigError saying who holds it."""
    lock = RunLock(store.run_dir(run_id))
    try:
        lock.acquire()
    except RunLocked as exc:
        raise ConfigError(f"run {run_id}: {exc}; stop it first or fork it") from None
    return lock


def prepare_resume(store: RunStore, run_id: str, **updates: Any) -> tuple[Run, RunLock]:
    """Lock a stopped or crashed run, requeue its unfinished nodes, apply config updates."""
    from pydantic import ValidationError

    lock = acquire_lock(store, run_id)
    try:
        run = store.get_run(run_id)
        try:
            config = RunConfig.model_validate({**run.config.model_dump(), **updates})
        except ValidationError as exc:
            err = exc.errors()[0]
            raise ConfigError(f"--{str(err['loc'][0]).replace('_', '-')}: {err['msg']}") from None
        if run.heartbeat is not None:
            # An earlier session ran: commands it never read (a stop, a pause) were meant for it.
            # A run that never ran yet keeps them: the TUI may steer it before its process starts.
            stale = store.discard_pending_commands(run_id)
            if stale:
                store.add_event(run_id, "commands_discarded", "left unapplied by the previous session: "
                                + ", ".join(c.kind + (f" node {c.node_id}" if c.node_id else "") for c in stale))
        requeued = requeue_unfinished(store, run_id)
        store.update_run(run_id, status="running", config=config, pid=os.getpid(), finished_at=None)
        store.add_event(run_id, "run_resumed", f"{len(requeued)} unfinished nodes requeued")
        return store.get_run(run_id), lock
    except BaseException:
        lock.release()
        raise


async def run_async(store: RunStore, run: Run, progress: Progress | None = None, *,
                    handle_signals: bool = False, lock: RunLock | None = None, check_model: bool = False,
                    ) -> RunResult:
    """Search ``run`` until its budget, time or search space is spent, then write the report.

    Holds the run's lock while it searches (``lock``, when the caller took it already).
    ``check_model``: check the model (agents.llm.acheck_model) in the background while the
    first nodes start; when it cannot be used the run stops, a run that had never run before
    is removed from the store, and the ModelCheckError is raised.
    """
    first_session = run.heartbeat is None
    lock = lock or acquire_lock(store, run.id)
    try:
        result = await _search(store, run, progress, handle_signals, check_model)
    finally:
        lock.release()
    if result.stop_reason == "model":
        if first_session:
            store.delete_run(run.id)  # as if it had been refused before it was stored
        raise result.error  # type: ignore[misc]
    return result


def price_notice(llm: Any) -> str | None:
    """A line for a run whose model has no known price (with --max-cost that is an error instead)."""
    from agents.llm import unpriced_models

    unpriced = unpriced_models(llm)
    if not unpriced:
        return None
    return (f"{', '.join(unpriced)} has no known price: its calls count as $0 in the run's cost "
            "(give --price-in and --price-out, USD per million tokens)")


async def _search(store: RunStore, run: Run, progress: Progress | None, handle_signals: bool,
                  check_model: bool) -> RunResult:
    from discovery.engine import Engine
    from discovery.graph import run_loop
    from search.policy import make_policy

    began = time.monotonic()  # --time counts from here, setting up the workspace included

    config = run.config
    policy = make_policy(config.policy, num_drafts=config.num_drafts, debug_prob=config.debug_prob,
                         max_debug_depth=config.max_debug_depth, c_puct=config.c_puct)
    from workspace.factory import WorkspaceError, build

    try:
        built = build(workspace_settings(config, run.idea, store.root))
        workspace = built.workspace
        if run.idea.task is not None:  # a dataset task: the hidden split, served files, framework scoring
            from discovery.tasks.runtime import attach_task

            run, workspace = attach_task(store, run, workspace)
    except (ConfigError, WorkspaceError) as exc:
        # Nothing ran: leave the run resumable, and say why it did not start.
        store.update_run(run.id, status="stopped", pid=None)
        store.add_event(run.id, "start_failed", str(exc))
        raise ConfigError(str(exc)) from None
    gpus, share = built.gpus, built.gpu_share
    store.update_run(run.id, workspace=workspace.name, isolation=built.isolation)
    run = run.model_copy(update={"workspace": workspace.name, "isolation": built.isolation})
    if workspace.name == "docker":
        from workspace.docker import clean

        clean(run.id)  # containers a crashed earlier session of this run left behind
    from agents.llm import CostLedger, LLMClient, run_llm

    settings = run_llm(config)
    # One client for operators, value agent and reviewers: one concurrency limit, one ledger,
    # which refuses every call once the run (all its sessions) has spent --max-cost.
    client = LLMClient(settings, ledger=CostLedger(limit=config.max_cost, spent=run.cost)) if settings else None
    engine = Engine(store=store, run=run, policy=policy, agent=make_agent(config, client), workspace=workspace,
                    progress=progress or SilentProgress(), gpus=gpus, gpu_share=share, started=began, llm=client)
    engine.progress.message(f"discover: {workspace.name} workspace" + (
        f", {share:g} GPU per node on {', '.join(gpus.ids)}" if gpus is not None and gpus.ids and share else ""))
    if client is not None:
        client.on_call = engine.on_llm_call
        if check_model:
            def notice() -> None:
                text = price_notice(settings) if config.max_cost is None else None
                if text:
                    engine.progress.message(f"discover: {text}")

            engine.start_model_check = lambda: client.start_check(also=notice)
    loop = asyncio.get_running_loop()
    installed: list[int] = []
    if handle_signals and threading.current_thread() is threading.main_thread():
        def on_signal(sig: int) -> None:
            if sig == signal.SIGTERM or engine.stop_reason == "interrupt":
                hard_exit(engine, sig)
            engine.progress.message("stopping: killing running nodes and writing the report (again to quit now)")
            engine.request_stop("interrupt")

        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(sig, on_signal, sig)
            installed.append(sig)
    try:
        await run_loop(engine)
    except BaseException:
        kill = getattr(workspace, "kill_all", None)
        if kill:
            kill()
        store.update_run(run.id, status="crashed", elapsed=engine.elapsed(), pid=None)
        store.add_event(run.id, "run_crashed", "the orchestrator stopped on an error")
        raise
    finally:
        for sig in installed:
            loop.remove_signal_handler(sig)
        await workspace.close()
    final = store.get_run(run.id)
    best = engine.tree.best()
    report = store.run_dir(run.id) / "report" / "report.md"
    return RunResult(run_id=run.id, status=final.status, best_node_id=final.best_node_id,
                     best_metric=best.metric if best else None, report=report if report.exists() else None,
                     stop_reason=engine.stop_reason, error=engine.model_error)


_KILL_WAIT = 1.0  # seconds a hard exit waits for the workspaces to kill their nodes


def hard_exit(engine: Any, sig: int) -> None:
    """Quit now (SIGTERM, a second Ctrl-C): kill the nodes, leave the store consistent, exit.

    Within about a second: the nodes' processes (or containers) are killed, the nodes that
    were in flight are marked cancelled and the run stopped, so ``discover resume`` continues
    it. No report is written (``discover report`` writes it).
    """
    import sys

    killers = [w.kill_all for w in (engine.workspace, *engine.side_workspaces) if hasattr(w, "kill_all")]
    threads = [threading.Thread(target=kill, daemon=True) for kill in killers]
    for t in threads:
        t.start()
    deadline = time.monotonic() + _KILL_WAIT
    for t in threads:
        t.join(max(0.0, deadline - time.monotonic()))
    name = signal.Signals(sig).name
    try:
        engine.store.mark_killed(engine.run.id, list(engine.tasks), elapsed=engine.elapsed(),
                                 reason=f"killed by {name}")
    except Exception as exc:  # noqa: BLE001 - a resume repairs what could not be written now
        sys.stderr.write(f"discover: could not mark the run stopped ({type(exc).__name__}: {exc})\n")
    sys.stderr.write(f"discover: {name}: nodes killed, run {engine.run.id} stopped; "
                     f"`discover resume {engine.run.id}` continues it\n")
    sys.stderr.flush()
    os._exit(128 + sig)


# Keywords of run() besides RunConfig's fields; docs/api.md lists them all.
_RUN_KEYWORDS = ("runs_dir", "progress", "metric", "model", "api_base")


def run(idea: str | Path | Idea, *, runs_dir: str | Path | None = None, progress: Progress | None = None,
        metric: str | None = None, **config: Any) -> RunResult:
    """Run a search from an idea file (or an ``Idea``) with RunConfig fields as keywords.

    ``runs_dir`` defaults to DISCOVER_RUNS_DIR, else ``runs``; ``metric`` is ``--metric``;
    ``time_limit`` takes seconds or a duration such as ``"2h"``; ``model`` and ``api_base``
    choose a language model (else the offline agent). An unknown keyword or a bad value is a
    one-line ConfigError naming it, raised before anything is stored. Blocks until the run
    ends; works inside a notebook's running event loop too.
    """
    from discovery.idea import load_idea

    cfg, model, api_base = _config_from_keywords(config)
    runs_dir = runs_dir if runs_dir is not None else os.environ.get("DISCOVER_RUNS_DIR", "runs")
    if metric is not None and isinstance(idea, Idea):
        raise ConfigError("run(): metric: give it in the Idea itself (metric=MetricSpec(...))")
    parsed = idea if isinstance(idea, Idea) else load_idea(idea, metric=metric)
    from agents.llm import LLMConfig, quick_check, run_llm, with_llm

    llm = run_llm(cfg)
    if llm is not None:  # an llm= of RunConfig's fields, with the model= and api_base= keywords on top
        llm = llm.model_copy(update={k: v for k, v in (("model", model), ("api_base", api_base)) if v})
    else:  # as the CLI: the keywords, else DISCOVER_MODEL and DISCOVER_API_BASE, else the offline agent
        llm = LLMConfig.resolve({"model": model, "api_base": api_base})
    if llm is not None:
        quick_check(llm)  # the rest while the search starts (run_async's check_model)
        cfg = with_llm(cfg, llm)
    preflight(cfg, parsed)
    store = RunStore(runs_dir)
    try:
        new = create_run(store, parsed, cfg)

        async def main() -> RunResult:
            return await run_async(store, new, progress, check_model=True)

        try:
            asyncio.get_running_loop()
        except RuntimeError:
            return asyncio.run(main())
        # A loop is already running (Jupyter): run ours in a thread with its own store.
        box: dict[str, Any] = {}

        def in_thread() -> None:
            thread_store = RunStore(runs_dir)
            try:
                box["result"] = asyncio.run(run_async(thread_store, new, progress, check_model=True))
            except BaseException as exc:  # handed to the caller below
                box["error"] = exc
            finally:
                thread_store.close()

        worker = threading.Thread(target=in_thread)
        worker.start()
        worker.join()
        if "error" in box:
            raise box["error"]
        return box["result"]
    finally:
        store.close()


def _config_from_keywords(keywords: dict[str, Any]) -> tuple[RunConfig, str | None, str | None]:
    """(RunConfig, model, api_base) from run()'s keywords; ConfigError names a wrong one."""
    import difflib

    from pydantic import ValidationError

    from discovery.durations import DurationError, parse_duration

    known = [*RunConfig.model_fields, *_RUN_KEYWORDS]
    for key in keywords:
        if key not in known:
            close = difflib.get_close_matches(key, known, n=3, cutoff=0.6)
            hint = f" (did you mean {' or '.join(close)}?)" if close else ""
            raise ConfigError(f"run(): unknown keyword {key!r}{hint}; docs/api.md lists them")
    fields = dict(keywords)
    model = fields.pop("model", None)
    api_base = fields.pop("api_base", None)
    if isinstance(fields.get("time_limit"), str):
        try:
            fields["time_limit"] = parse_duration(fields["time_limit"])
        except DurationError as exc:
            raise ConfigError(f"run(): time_limit: {exc}") from None
    from search.policy import POLICIES

    if fields.get("policy", "mcts") not in POLICIES:
        raise ConfigError(f"run(): policy: unknown policy {fields['policy']!r} (choose from {', '.join(POLICIES)})")
    try:
        return RunConfig(**fields), model, api_base
    except ValidationError as exc:
        err = exc.errors()[0]
        where = ".".join(str(p) for p in err["loc"]) or "config"
        raise ConfigError(f"run(): {where}: {err['msg']}") from None
