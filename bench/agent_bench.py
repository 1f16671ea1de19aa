"""One benchmark run: discover's whole agent path on one landscape, or AIDE on the same one.

``run_discover`` starts a scripted scientist (bench/scientist.py) behind the real
OpenAI-compatible test server, points discover's LLM agent at it through litellm, and lets
the real engine search with the given policy and K workers: prompts, reply parsing, the
value agent, the node reviewer, the workspace (real subprocesses) and the store are all in
the loop. ``run_aide`` does the same for AIDE (bench/aide_runner.py, in its own virtual
environment). Both return the curve of the true value of the node a user would get
(the best measured one) after each finished node.
"""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
for p in (str(HERE), str(ROOT)):
    if p not in sys.path:
        sys.path.insert(0, p)

os.environ.setdefault("LITELLM_LOCAL_MODEL_COST_MAP", "True")

from landscapes import Landscape, make  # noqa: E402
from scientist import Scientist, parse_program, program  # noqa: E402


@dataclass
class Outcome:
    """What one run produced: the best-so-far true value after each node, and diagnostics."""

    curve: list[float]
    seconds: float
    operators: dict[str, int] = field(default_factory=dict)
    crashes: int = 0
    duplicates: int = 0
    value_pairs: list[tuple[float, float]] = field(default_factory=list)  # (estimate before, true outcome)
    calls: int = 0

    def at(self, budget: int) -> float:
        if not self.curve:
            return 0.0
        return self.curve[min(budget, len(self.curve)) - 1]


def idea_for(land: Landscape, *, baseline: bool) -> Any:
    """The idea a researcher would write for this task."""
    from runs.models import Idea

    space = land.search_space()
    base = program(land, land.config(land.conventional)) if baseline else None
    return Idea(
        title=f"Tune a model on the {land.family} task {land.seed}",
        hypothesis="Careful choice of the training hyperparameters should raise the validation score well "
                   "above what a standard configuration reaches.",
        experiments="Train and validate with different settings; report the validation score.",
        metric={"name": "score", "direction": "maximize"},
        baseline=base, search_space=space, time_limit=30.0,
    )


def true_curve(land: Landscape, nodes: list[Any]) -> list[float]:
    """Replay the finished nodes in the order they finished: the true value of the best measured one."""
    finished = sorted((n for n in nodes if n.finished_at is not None and n.status.value != "cancelled"),
                      key=lambda n: (n.finished_at, n.id))
    best: tuple[float, int] | None = None
    best_true = 0.0
    curve = []
    for n in finished:
        if n.status.value == "good" and n.metric is not None:
            key = (n.metric, -n.id)
            if best is None or key > best:
                parsed = parse_program(n.code or "", land)
                if parsed is not None:
                    best = key
                    best_true = land.value(parsed[0])
        curve.append(best_true)
    return curve


def run_discover(family: str, seed: int, policy: str, workers: int, budget: int, *,
                 params: dict[str, Any] | None = None, value: bool = False, baseline: bool | None = None,
                 keep: Path | None = None, workspace: str = "fork", seeded_order: bool = True) -> Outcome:
    """Search one landscape with discover's engine and LLM agent; the outcome.

    ``workspace``: ``fork`` runs the scripts in forks of a warm interpreter
    (bench/fork_workspace.py), ``local`` in discover's local workspace, sandbox and all.
    ``seeded_order`` (fork only): with several workers, nodes finish in an order drawn from
    the seed (bench/finish_order.py), so that runs repeat and two policies pair; else in
    the machine's order.
    """
    land = make(family, seed)
    with tempfile.TemporaryDirectory(prefix="discover-bench-") as tmp:
        root = keep or Path(tmp)
        return asyncio.run(_discover(land, seed, policy, workers, budget, params or {}, value,
                                     (seed % 2 == 0) if baseline is None else baseline, root, workspace,
                                     seeded_order))


async def _discover(land: Landscape, seed: int, policy_name: str, workers: int, budget: int,
                    params: dict[str, Any], value: bool, baseline: bool, root: Path, where: str,
                    seeded_order: bool) -> Outcome:
    from agents.llm import LLMClient, with_llm
    from agents.llm_agent import LLMAgent
    from discovery.api import create_run
    from discovery.engine import Engine
    from discovery.graph import run_loop
    from discovery.progress import SilentProgress
    from runs.models import RunConfig
    from runs.store import RunStore
    from search.policy import make_policy
    from tests.llm_server import ScriptedLLM, fast_config
    from workspace.local import LocalWorkspace

    order: Any = None

    class BenchEngine(Engine):
        async def finish(self) -> None:  # the bench needs no write-up
            self.store.update_run(self.run.id, status="finished", finished_at=time.time(), pid=None)

        # With a seeded finish order: proposals in id order, and the order told of every
        # change to the nodes in flight.
        async def _propose(self, work: Any) -> Any:
            if order is None:
                return await super()._propose(work)
            await order.turn(work.node.id)
            try:
                return await super()._propose(work)
            finally:
                order.proposed(work.node.id)

        def record(self, node_ids: list[int]) -> None:
            super().record(node_ids)
            if order is not None:
                order.poke()

        def launch(self) -> int:
            started = super().launch()
            if order is not None:
                order.poke()
            return started

    scientist = Scientist(land, seed)
    t0 = time.perf_counter()
    with ScriptedLLM(handler=scientist) as server:
        config = fast_config(server, model="openai/scientist", timeout=30.0)
        store = RunStore(root / "runs")
        run_config = with_llm(RunConfig(budget=budget, workers=workers, seed=seed, policy=policy_name,
                                          value_agent=value), config)
        run = create_run(store, idea_for(land, baseline=baseline), run_config)
        if where == "fork":
            from fork_workspace import ForkWorkspace

            if seeded_order:
                from finish_order import SeededOrder

                order = SeededOrder(in_flight=lambda: set(engine.tasks))  # the engine is made below
            workspace: Any = ForkWorkspace(order=order)
        else:
            workspace = LocalWorkspace()
        client = LLMClient(config)
        engine = BenchEngine(store=store, run=run, policy=make_policy(policy_name, **params),
                             agent=LLMAgent(config, client=client), workspace=workspace, progress=SilentProgress())
        client.on_call = engine.on_llm_call
        engine.llm = client
        try:
            await run_loop(engine)
        finally:
            await workspace.close()
        nodes = store.nodes(run.id)
        values = {v.node_id: v.value for v in store.value_estimates(run.id) if v.stage == "before"}
        events = [e for _, e in store.events(run.id, limit=100000)]
        calls = len(store.llm_calls(run.id))
        store.close()
    outcome = Outcome(curve=true_curve(land, nodes), seconds=time.perf_counter() - t0, calls=calls)
    for n in nodes:
        outcome.operators[n.operator] = outcome.operators.get(n.operator, 0) + 1
        outcome.crashes += n.status.value == "buggy"
        parsed = parse_program(n.code or "", land)
        if n.id in values and parsed is not None:
            crashed = n.status.value != "good"
            outcome.value_pairs.append((values[n.id], -1.0 if crashed else land.value(parsed[0])))
    outcome.duplicates = sum(1 for e in events if e.kind == "duplicate")
    return outcome


# -- AIDE ---------------------------------------------------------------------------------------

AIDE_PYTHON = Path(os.environ.get("AIDE_PYTHON", ROOT / ".aide-venv" / "bin" / "python"))


def aide_available() -> str | None:
    """None when AIDE can run here, else why not."""
    if not AIDE_PYTHON.exists():
        return f"no AIDE environment at {AIDE_PYTHON} (bash bench/aide_setup.sh makes one)"
    return None


def run_aide(family: str, seed: int, budget: int, *, baseline: bool | None = None) -> Outcome:
    """Run AIDE (its own greedy policy and prompts) against the same scientist and landscape."""
    from tests.llm_server import ScriptedLLM

    land = make(family, seed)
    scientist = Scientist(land, seed)
    t0 = time.perf_counter()
    with tempfile.TemporaryDirectory(prefix="aide-bench-") as tmp, ScriptedLLM(handler=scientist) as server:
        out = Path(tmp) / "journal.json"
        env = {k: v for k, v in os.environ.items() if not k.startswith("OPENAI")}
        env.update(OPENAI_BASE_URL=server.api_base, OPENAI_API_KEY="x", PYTHONHASHSEED=str(seed))
        base = (seed % 2 == 0) if baseline is None else baseline
        goal = ("Tune a model's training hyperparameters to maximise its validation score. Hyperparameters: "
                + ", ".join(f"{k} {json.dumps(v)}" for k, v in land.search_space().items()))
        if base:
            goal += "\nA baseline script exists:\n```python\n" + program(land, land.config(land.conventional)) + "```"
        done = subprocess.run(
            [str(AIDE_PYTHON), str(HERE / "aide_runner.py"), "--goal", goal, "--eval", "validation score (higher is better)",
             "--steps", str(budget), "--seed", str(seed), "--workdir", tmp, "--out", str(out)],
            env=env, capture_output=True, text=True, timeout=3600)
        if done.returncode != 0 or not out.exists():
            raise RuntimeError(f"AIDE failed: {done.stderr[-2000:]}")
        journal = json.loads(out.read_text())
    curve: list[float] = []
    best: float | None = None
    best_true = 0.0
    crashes = 0
    for step in journal:
        parsed = parse_program(step["code"] or "", land)
        if step["metric"] is not None and not step["buggy"] and (best is None or step["metric"] > best):
            best = step["metric"]
            best_true = land.value(parsed[0]) if parsed else best_true
        crashes += bool(step["buggy"])
        curve.append(best_true)
    return Outcome(curve=curve, seconds=time.perf_counter() - t0, crashes=crashes,
                   operators={"aide": len(journal)}, calls=len(scientist.seen))


if __name__ == "__main__":  # a quick look at one run
    import argparse

    parser = argparse.ArgumentParser()
    parser.add_argument("family")
    parser.add_argument("--seed", type=int, default=1000)
    parser.add_argument("--policy", default="greedy")
    parser.add_argument("--workers", type=int, default=1)
    parser.add_argument("--budget", type=int, default=30)
    parser.add_argument("--aide", action="store_true")
    parser.add_argument("--workspace", choices=("fork", "local"), default="fork")
    a = parser.parse_args()
    o = run_aide(a.family, a.seed, a.budget) if a.aide else run_discover(a.family, a.seed, a.policy, a.workers,
                                                                          a.budget, workspace=a.workspace)
    print(json.dumps({"final": o.at(a.budget), "seconds": round(o.seconds, 1), "operators": o.operators,
                      "crashes": o.crashes, "calls": o.calls, "curve": [round(c, 3) for c in o.curve]}))
