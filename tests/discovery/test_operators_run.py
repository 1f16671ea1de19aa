"""Every operator of the default policy reached in real runs: the baseline node, improve, tune,
crossover, ablate, with the offline agent and with a model over HTTP, in real processes and a
real store; lessons from the whole tree reach the model's prompts."""

from __future__ import annotations

import itertools
import threading

import pytest

from agents.llm import LLMClient, with_llm
from agents.llm_agent import LLMAgent
from agents.offline import OfflineAgent
from discovery.api import create_run
from discovery.engine import Engine
from discovery.graph import run_loop
from discovery.idea import load_idea
from discovery.progress import SilentProgress
from runs.models import NodeStatus, RunConfig
from runs.store import RunStore
from search.adaptive import AdaptivePolicy
from tests.agents.test_llm_e2e import BASELINE, variant
from tests.conftest import EXAMPLES
from tests.llm_server import Reply, Request, ScriptedLLM, fast_config
from workspace.local import LocalWorkspace


async def search(store: RunStore, run, agent, policy) -> list:  # noqa: ANN001
    workspace = LocalWorkspace()
    engine = Engine(store=store, run=run, policy=policy, agent=agent, workspace=workspace, progress=SilentProgress())
    client = getattr(agent, "client", None)
    if client is not None:
        client.on_call = engine.on_llm_call
        engine.llm = client
    try:
        await run_loop(engine)
    finally:
        await workspace.close()
    return store.nodes(run.id)


@pytest.mark.slow
async def test_the_offline_agent_reaches_every_operator(tmp_path) -> None:  # noqa: ANN001
    idea = load_idea(EXAMPLES / "ridge_degree" / "idea.md")
    store = RunStore(tmp_path / "runs")
    run = create_run(store, idea, RunConfig(budget=24, workers=1, seed=3))
    # Widen at the first stall, every time: every side operator comes up within a short run.
    policy = AdaptivePolicy(num_drafts=2, debug_prob=0.0, stall=1, explore=1.0)
    nodes = await search(store, run, OfflineAgent(), policy)
    by_op: dict[str, list] = {}
    for n in nodes:
        by_op.setdefault(n.operator, []).append(n)
    first = nodes[0]
    assert first.operator == "draft" and first.code == idea.baseline and first.status == NodeStatus.good
    assert {"draft", "improve", "tune", "crossover", "ablate"} <= set(by_op), sorted(by_op)
    cross = by_op["crossover"][0]
    assert cross.partner_id is not None and cross.partner_id != cross.parent_id
    assert f"node {cross.partner_id}" in cross.plan
    parents = {n.id: n for n in nodes}
    ablation = by_op["ablate"][0]
    changed = [k for k in ablation.params if ablation.params[k] != parents[ablation.parent_id].params[k]]
    assert len(changed) == 1 and ablation.params[changed[0]] == first.params[changed[0]], \
        "an offline ablation puts one change back to the baseline's value"
    # No experiment ran twice.
    keys = [n.code_key for n in nodes if n.code_key]
    assert len(keys) == len(set(keys)) == len(nodes)
    store.close()


class Operators:
    """Answers every operator's prompt with a distinct variant of the MLP script, as a model would."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.lrs = itertools.cycle([0.03, 0.1, 0.3, 1.0, 3.0])
        self.widths = itertools.count(9)
        self.prompts: dict[str, list[str]] = {}

    def __call__(self, req: Request) -> Reply:
        text = req.text()
        with self.lock:
            op = ("crossover" if "Task: combine" in text else "tune" if "Task: tune ONE" in text
                  else "ablate" if "Task: an ablation study" in text else "debug" if "failed:\n" in text
                  else "improve" if "Task: propose ONE" in text else "draft" if "Task: write a first" in text
                  else "other")
            self.prompts.setdefault(op, []).append(text)
            width = next(self.widths)
            code = variant(next(self.lrs), width, epochs=60)
            if op == "tune":
                return Reply(f"CHANGE: HIDDEN = {width}\nWiden the layer only.\n```python\n{code}```")
            if op == "ablate":
                return Reply(f"ABLATION: momentum\nDrop momentum to see what it adds.\n```python\n{code}```")
            if op in ("crossover", "improve", "draft", "debug"):
                return Reply(f"A {op} of the script.\n```python\n{code}```")
        if '"verdict"' in text:
            return Reply('{"score": 7, "verdict": "valid", "issues": [], "summary": "fine"}')
        return Reply(status=400)


@pytest.mark.slow
async def test_a_model_reaches_every_operator_and_reads_lessons_from_the_whole_tree(tmp_path) -> None:  # noqa: ANN001
    handler = Operators()
    with ScriptedLLM(handler=handler) as server:
        config = fast_config(server)
        idea = load_idea(EXAMPLES / "mlp_spirals" / "idea.md")
        store = RunStore(tmp_path / "runs")
        run = create_run(store, idea, with_llm(RunConfig(budget=16, workers=2, seed=1), config))
        policy = AdaptivePolicy(num_drafts=2, debug_prob=0.0, stall=1, explore=1.0)
        nodes = await search(store, run, LLMAgent(config, client=LLMClient(config)), policy)
    ops = {n.operator for n in nodes}
    assert {"draft", "improve", "tune", "crossover", "ablate"} <= ops, sorted(ops)
    assert nodes[0].code == BASELINE and "draft" in handler.prompts, "node 1 ran the baseline without a model call"
    assert len(handler.prompts["draft"]) == len([n for n in nodes if n.operator == "draft"]) - 1
    cross = next(n for n in nodes if n.operator == "crossover")
    assert cross.partner_id is not None
    assert any(f"Script A (node {cross.parent_id}" in p and f"Script B (node {cross.partner_id}" in p
               for p in handler.prompts["crossover"])
    tune = next(n for n in nodes if n.operator == "tune")
    assert tune.plan.startswith("Tune HIDDEN = ") and list(tune.params) == ["HIDDEN"]
    ablation = next(n for n in nodes if n.operator == "ablate")
    assert ablation.params == {"ablation": "momentum"}
    # Once something finished, every later prompt carries the lessons of the whole tree, bounded.
    later = [p for op in ("improve", "tune", "crossover") for p in handler.prompts.get(op, [])]
    assert later and all("Lessons from the whole search so far" in p for p in later)
    store.close()
