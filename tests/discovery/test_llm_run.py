"""`discover run --model ...` end to end: the CLI, the engine, the store and a scripted model over HTTP."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from runs.models import NodeStatus
from runs.store import RunStore
from tests.agents.test_llm_e2e import Scientist, variant
from tests.conftest import EXAMPLES, ROOT
from tests.llm_server import Reply, Request, ScriptedLLM

ENV = {**os.environ, "PYTHONPATH": str(ROOT), "LITELLM_LOCAL_MODEL_COST_MAP": "True"}


class Reviewing(Scientist):
    """The scripted scientist, plus the model check, and a reviewer that flags one variant as leaky."""

    def __call__(self, req: Request) -> Reply:
        text = req.text()
        if "Reply with the word OK." in text:
            return Reply("OK")
        if '"verdict"' in text and "LR = 1.0" in text:
            return Reply('{"score": 2, "verdict": "invalid", "issues": ["validation rows reused for training"],'
                         ' "summary": "Leakage between train and validation."}')
        reply = super().__call__(req)
        # The write-up's prompts are not scripted here (tests/discovery/test_report.py covers them):
        # refuse them at once with a 400, which is not retried, rather than a 500 that backs off.
        return Reply(status=400) if reply.status == 500 else reply


def discover(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "discovery.cli", *args], cwd=cwd, capture_output=True, text=True,
                          env=ENV, timeout=300)


@pytest.mark.slow
def test_run_with_a_model_records_calls_reviews_values_and_flags(tmp_path: Path) -> None:
    with ScriptedLLM(handler=Reviewing()) as server:
        done = discover("run", str(EXAMPLES / "mlp_spirals" / "idea.md"), "--model", "openai/gpt-4o-mini",
                        "--api-base", server.api_base, "--budget", "6", "--workers", "2", "--value-agent", "--quiet",
                        "--num-drafts", "3",  # room for improvements and debugs in six nodes
                        cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    assert "agent llm:openai/gpt-4o-mini" in done.stderr
    store = RunStore(tmp_path / "runs", readonly=True)
    run_id = store.resolve_run(None)
    run = store.get_run(run_id)
    nodes = {n.id: n for n in store.nodes(run_id)}
    assert run.status == "finished" and run.agent == "llm:openai/gpt-4o-mini" and len(nodes) == 6
    calls = store.llm_calls(run_id)
    roles = {c.role for c in calls}
    assert {"draft", "debug", "improve", "review", "value_before", "value_after"} <= roles
    node_calls = [c for c in calls if c.node_id is not None]
    report_calls = [c for c in calls if c.node_id is None]  # the write-up and its review panel
    # A node dropped because the model only repeated experiments that already ran keeps its calls.
    dropped = {int(m.group(1)) for _, e in store.events(run_id)
               if e.kind == "exhausted" and (m := re.match(r"node (\d+) dropped", e.message))}
    assert all(c.node_id in nodes or c.node_id in dropped for c in node_calls) and report_calls
    assert run.cost == pytest.approx(sum(c.cost for c in calls)) and run.cost > 0
    flagged = [n for n in nodes.values() if n.status == NodeStatus.flagged]
    assert flagged and all(n.params.get("LR") == 1.0 for n in flagged)
    assert all("Leakage" in (n.error or "") for n in flagged)
    best = nodes[run.best_node_id]
    assert best.status == NodeStatus.good and best.params.get("LR") != 1.0  # a flagged node is never best
    good = [n for n in nodes.values() if n.status == NodeStatus.good]
    for n in good:
        reviews = store.reviews(run_id, n.id)
        assert reviews and reviews[0].verdict == "valid"
        stages = [v.stage for v in store.value_estimates(run_id, n.id)]
        assert stages == ["before", "after"] and n.value == 0.7
        assert n.metric_source == "file"
    shown = discover("show", "--node", str(flagged[0].id), cwd=tmp_path)
    assert "invalid" in shown.stdout and "validation rows reused" in shown.stdout and "llm calls" in shown.stdout


def test_a_model_that_refuses_stops_the_run_and_leaves_nothing(tmp_path: Path) -> None:
    with ScriptedLLM(api_key="right-key", handler=lambda req: Reply("OK")) as server:
        done = discover("run", str(EXAMPLES / "mlp_spirals" / "idea.md"), "--model", "openai/scripted",
                        "--api-base", server.api_base, cwd=tmp_path)
    assert done.returncode == 2
    assert f"discover: error: --model openai/scripted at {server.api_base}: authentication failed" in done.stderr
    assert done.stderr.count("discover: error:") == 1 and "Traceback" not in done.stderr
    # The model was checked while the baseline started: the run is gone, as if refused before it was stored.
    runs = tmp_path / "runs"
    assert RunStore(runs, readonly=True).list_runs() == []
    assert sorted(p.name for p in runs.iterdir() if not p.name.startswith("discover.db")) == []


def test_a_missing_key_is_refused_before_anything_is_stored(tmp_path: Path) -> None:
    env = {k: v for k, v in ENV.items() if k != "ANTHROPIC_API_KEY"}
    done = subprocess.run([sys.executable, "-m", "discovery.cli", "run", str(EXAMPLES / "mlp_spirals" / "idea.md"),
                           "--model", "anthropic/claude-sonnet-4-5"], cwd=tmp_path, capture_output=True, text=True,
                          env=env, timeout=120)
    assert done.returncode == 2 and done.stderr.endswith(
        "discover: error: --model anthropic/claude-sonnet-4-5: missing key, set ANTHROPIC_API_KEY\n")
    assert not (tmp_path / "runs").exists()


@pytest.mark.slow
def test_max_cost_stops_the_run_cleanly(tmp_path: Path) -> None:
    with ScriptedLLM(handler=Reviewing()) as server:
        done = discover("run", str(EXAMPLES / "mlp_spirals" / "idea.md"), "--model", "openai/gpt-4o-mini",
                        "--api-base", server.api_base, "--budget", "30", "--workers", "1", "--max-cost", "0.0005",
                        "--quiet", cwd=tmp_path)
    store = RunStore(tmp_path / "runs", readonly=True)
    run_id = store.resolve_run(None)
    run = store.get_run(run_id)
    # A clean stop: exit 0 with a best node, 3 when the cap came before any valid metric.
    assert done.returncode == (0 if run.best_node_id is not None else 3), done.stderr
    assert run.status == "finished" and run.cost >= 0.0005
    assert len(store.nodes(run_id)) < 30
    assert any(e.kind == "stopping" and e.message == "cost" for _, e in store.events(run_id))
    assert (store.run_dir(run_id) / "report" / "report.md").exists()


class Reasoning(Reviewing):
    """A reasoning model served without a reasoning parser: each reply starts with its thoughts
    (the opening tag was in the chat template), which hold a longer complete script and JSON
    verdicts that are not the answer."""

    DECOY = variant(0.05, 16) + "print('DECOY: a draft the model thought about and dropped')\n" * 40

    def __call__(self, req: Request) -> Reply:
        reply = super().__call__(req)
        if reply.status != 200 or reply.content == "OK":
            return reply
        thoughts = (f"Let me think. A first try:\n```python\n{self.DECOY}```\nOr as JSON: "
                    '{"value": 0.1, "explanation": "poor"} {"score": 1, "verdict": "invalid", "issues": ["x"], '
                    '"summary": "Dropped."}\nNo, better not.\n</think>\n\n')
        return Reply(thoughts + reply.content)


@pytest.mark.slow
def test_a_reasoning_models_thoughts_are_not_taken_for_its_answer(tmp_path: Path) -> None:
    with ScriptedLLM(handler=Reasoning()) as server:
        done = discover("run", str(EXAMPLES / "mlp_spirals" / "idea.md"), "--model", "openai/qwen3",
                        "--api-base", server.api_base, "--budget", "8", "--workers", "1", "--value-agent", "--quiet",
                        "--num-drafts", "3", cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    store = RunStore(tmp_path / "runs", readonly=True)
    run_id = store.resolve_run(None)
    nodes = store.nodes(run_id)
    written = [n for n in nodes if n.code and n.id != 1]  # node 1 is the baseline, no model call
    assert len(written) >= 3 and not [n.id for n in written if "DECOY" in n.code]
    assert not [n.id for n in nodes if "think" in n.plan.lower()]
    assert all(n.value == 0.7 for n in written)  # the answer's estimate, not the 0.1 in the thoughts
    # The reviewer's answer, not the "invalid" in its thoughts: only the leaky variant is flagged.
    flagged = [n for n in nodes if n.status == NodeStatus.flagged]
    good = [n for n in written if n.status == NodeStatus.good]
    assert good and all(store.reviews(run_id, n.id)[0].verdict == "valid" for n in good)
    assert flagged and all(n.params.get("LR") == 1.0 for n in flagged)
