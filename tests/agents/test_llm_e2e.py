"""End to end: the real engine searches the MLP example with the LLM agent and a scripted model."""

from __future__ import annotations

import threading

import pytest

from agents.llm import LLMCall, LLMClient, node_scope, with_llm
from agents.llm_agent import LLMAgent
from agents.value import estimate_value
from discovery.api import create_run
from discovery.engine import Engine
from discovery.graph import run_loop
from discovery.idea import load_idea
from discovery.progress import SilentProgress
from reviewers.node_review import review_node
from runs.models import NodeStatus, RunConfig
from runs.store import RunStore
from search.policy import make_policy
from tests.conftest import EXAMPLES
from tests.llm_server import Reply, Request, ScriptedLLM, fast_config
from workspace.local import LocalWorkspace

BASELINE = (EXAMPLES / "mlp_spirals" / "baseline.py").read_text()


def variant(lr: float, hidden: int, epochs: int = 300, crash: bool = False) -> str:
    code = (BASELINE.replace("LR = 0.01", f"LR = {lr}").replace("HIDDEN = 8", f"HIDDEN = {hidden}")
            .replace("EPOCHS = 300", f"EPOCHS = {epochs}"))
    if crash:
        code = code.replace("def main():\n", "def main():\n    raise RuntimeError('scripted crash')\n")
    return code


class Scientist:
    """Answers like a model would, by operator: a crashing draft, a draft without code, good drafts,
    a fix for the crash, and improvements that widen the network (the second one repeats the
    first, as models do, and is asked again)."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.drafts = 0
        self.improves = 0

    def __call__(self, req: Request) -> Reply:
        text = req.text()
        last = req.messages[-1]["content"]
        with self.lock:
            if "Task: write a first complete" in text:
                if "cannot be used" in last:  # the re-ask after a reply without code
                    return Reply("Still thinking about it.")
                self.drafts += 1
                if self.drafts == 1:
                    return Reply(f"Start from the baseline.\n```python\n{variant(0.3, 32, crash=True)}```")
                if self.drafts == 2:
                    return Reply("I need more information before writing code.")
                return Reply(f"PLAN: Larger step, wider layer.\n```python\n{variant(0.3, 64, 600)}```")
            if "failed:\n" in text:
                return Reply(f"Remove the stray raise.\n```python\n{variant(0.3, 64, 600)}```")
            if "Task: propose ONE focused change" in text:
                self.improves += 1
                if self.improves <= 2:
                    return Reply(f"Raise LR to 1.0.\n```python\n{variant(1.0, 64, 600)}```")
                return Reply(f"Raise LR to 1.0 and widen.\n```python\n{variant(1.0, 128, 600)}```")
            if '"verdict"' in text:
                return Reply('{"score": 7, "verdict": "valid", "issues": [], "summary": "Held-out split."}')
            if '"value"' in text:
                return Reply('{"value": 0.7, "explanation": "accurate and simple"}')
        return Reply(status=500)


@pytest.mark.slow
async def test_llm_agent_drives_the_engine(tmp_path) -> None:  # noqa: ANN001
    calls: list[LLMCall] = []
    with ScriptedLLM(handler=Scientist()) as server:
        config = fast_config(server, model="openai/gpt-4o-mini")  # a priced model: cost is counted
        client = LLMClient(config, calls.append)
        store = RunStore(tmp_path / "runs")
        run_config = with_llm(RunConfig(budget=6, workers=2, debug_prob=1.0), config)
        run = create_run(store, load_idea(EXAMPLES / "mlp_spirals" / "idea.md"), run_config)
        workspace = LocalWorkspace()
        engine = Engine(store=store, run=run, policy=make_policy("greedy", num_drafts=3, debug_prob=1.0),
                        agent=LLMAgent(config, client=client), workspace=workspace, progress=SilentProgress())
        try:
            await run_loop(engine)
        finally:
            await workspace.close()

        nodes = {n.id: n for n in store.nodes(run.id)}
        assert store.get_run(run.id).status == "finished" and len(nodes) == 6
        assert store.get_run(run.id).agent == "llm:openai/gpt-4o-mini"
        # Node 1 is the idea's baseline as written, run without asking the model.
        assert nodes[1].operator == "draft" and nodes[1].code == BASELINE and nodes[1].status == NodeStatus.good
        assert not [c for c in calls if c.node_id == 1 and c.role == "draft"]
        # The repeated improvement was not run: it was asked again and the new proposal ran.
        codes = [n.code for n in nodes.values() if n.code]
        assert len(codes) == len(set(codes)) and variant(1.0, 128, 600) in codes
        events = [e for _, e in store.events(run.id)]
        assert any(e.kind == "duplicate" and "repeats node" in e.message for e in events)
        failed = [n for n in nodes.values() if n.status == NodeStatus.failed]
        crashed = [n for n in nodes.values() if n.status == NodeStatus.buggy]
        assert len(failed) == 1 and "expansion failed: 2 replies without usable code" in failed[0].error
        assert len(crashed) == 1 and "scripted crash" in crashed[0].error
        fix = [n for n in nodes.values() if n.parent_id == crashed[0].id]
        assert [(n.operator, n.status) for n in fix] == [("debug", NodeStatus.good)]
        assert fix[0].plan == "Remove the stray raise." and fix[0].params["HIDDEN"] == 64
        best = nodes[store.get_run(run.id).best_node_id]
        assert best.operator == "improve" and best.metric > 0.9 and best.params["LR"] == 1.0
        assert (store.node_dir(run.id, best.id) / "experiment.py").read_text() == best.code

        # Every call was handed over, tagged with its node, with tokens and a price.
        assert all(c.error is None and c.tokens_in > 0 and c.tokens_out > 0 and c.cost > 0 for c in calls)
        by_node: dict[int | None, list[str]] = {}
        for c in calls:
            by_node.setdefault(c.node_id, []).append(c.role)
        assert by_node[failed[0].id] == ["draft", "draft"]  # the reply without code, then the re-ask
        assert by_node[crashed[0].id] == ["draft"] and by_node[fix[0].id] == ["debug"]
        assert set(by_node) == set(nodes) - {1}
        assert client.total_cost == pytest.approx(sum(c.cost for c in calls))
        # The rest went to the write-up at the end, which stores its own calls.
        report_calls = store.llm_calls(run.id)
        assert report_calls and all(c.node_id is None for c in report_calls)
        assert len(server.requests) == len(calls) + len(report_calls)

        # The reviewer and the value agent judge the best node from the store.
        with node_scope(best.id):
            review = await review_node(client, engine.idea, best)
            value = await estimate_value(client, engine.idea, best, stage="after", best=best.metric)
        assert review.verdict == "valid" and value.value == 0.7
        assert [c.role for c in calls if c.node_id == best.id][-2:] == ["review", "value_after"]
        store.close()
