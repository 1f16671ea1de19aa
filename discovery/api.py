"""The Python API: start a run from an idea and get its id and best node back.

    from discovery import run
    result = run("examples/mlp_moons/idea.md", budget=12)
    print(result.run_id, result.best_node_id, result.best_metric)
"""

from __future__ import annotations

import asyncio
import os
import re
import signal
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from discovery.config import ConfigError
from discovery.progress import Progress, SilentProgress
from runs.models import Idea, Run, RunConfig
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


def new_run_id(store: RunStore, idea: Idea) -> str:
    """``YYYYMMDD-HHMMSS-slug``: sorts by time, says what it was about."""
    words = re.findall(r"[a-z0-9]+", idea.title.lower())
    slug = "-".join(words[:4])[:40] or "run"
    base = f"{time.strftime('%Y%m%d-%H%M%S')}-{slug}"
    taken = {r["id"] for r in store.db.query("select id from runs where id like ?", [base + "%"])}
    run_id, n = base, 2
    while run_id in taken:
        run_id, n = f"{base}-{n}", n + 1
    return run_id


def create_run(store: RunStore, idea: Idea, config: RunConfig, **extra: Any) -> Run:
    """Insert a new run for ``idea`` and return it."""
    run = Run(id=new_run_id(store, idea), idea=idea, config=config, created_at=time.time(),
              agent=agent_name(config), workspace=config.workspace, pid=os.getpid(), **extra)
    store.create_run(run)
    store.add_event(run.id, "run_started", f"{config.policy} policy, {run.agent} agent, {config.workers} workers")
    return run


def agent_name(config: RunConfig) -> str:
    return "offline" if not config.model else f"llm:{config.model}"


def make_agent(config: RunConfig) -> Any:
    if config.model:
        raise ConfigError("--model: LLM agents are not wired in yet; run without --model for the offline agent")
    from agents.offline import OfflineAgent

    return OfflineAgent()


def make_workspace(config: RunConfig) -> Any:
    if config.workspace == "local":
        from workspace.local import LocalWorkspace

        return LocalWorkspace()
    raise ConfigError(f"--workspace: unknown workspace {config.workspace!r} (choose from local)")


async def run_async(store: RunStore, run: Run, progress: Progress | None = None, *,
                    handle_signals: bool = False) -> RunResult:
    """Search ``run`` until its budget, time or search space is spent, then write the report."""
    from discovery.engine import Engine
    from discovery.graph import run_loop
    from search.policy import make_policy

    config = run.config
    policy = make_policy(config.policy, num_drafts=config.num_drafts, debug_prob=config.debug_prob,
                         max_debug_depth=config.max_debug_depth)
    workspace = make_workspace(config)
    engine = Engine(store=store, run=run, policy=policy, agent=make_agent(config), workspace=workspace,
                    progress=progress or SilentProgress())
    loop = asyncio.get_running_loop()
    installed: list[int] = []
    if handle_signals and threading.current_thread() is threading.main_thread():
        def on_signal() -> None:
            if engine.stop_reason == "interrupt":
                kill = getattr(workspace, "kill_all", None)
                if kill:
                    kill()
                os._exit(130)
            engine.progress.message("stopping: killing running nodes and writing the report (again to quit now)")
            engine.request_stop("interrupt")

        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(sig, on_signal)
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
                     stop_reason=engine.stop_reason)


def run(idea: str | Path | Idea, *, runs_dir: str | Path = "runs", progress: Progress | None = None,
        **config: Any) -> RunResult:
    """Run a search from an idea file (or an ``Idea``) with RunConfig fields as keywords.

    Blocks until the run ends. Works inside a notebook's running event loop too.
    """
    from discovery.idea import load_idea

    parsed = idea if isinstance(idea, Idea) else load_idea(idea)
    cfg = RunConfig(**config)
    store = RunStore(runs_dir)
    try:
        new = create_run(store, parsed, cfg)

        async def main() -> RunResult:
            return await run_async(store, new, progress)

        try:
            asyncio.get_running_loop()
        except RuntimeError:
            return asyncio.run(main())
        # A loop is already running (Jupyter): run ours in a thread with its own store.
        box: dict[str, Any] = {}

        def in_thread() -> None:
            thread_store = RunStore(runs_dir)
            try:
                box["result"] = asyncio.run(run_async(thread_store, new, progress))
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
