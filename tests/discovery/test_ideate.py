"""`discover ideate`: topic to ideas checked against the literature, to a run that cites them. The model is
the scripted OpenAI-compatible server and the literature the fake service, both over real HTTP."""

from __future__ import annotations

import asyncio
import json
import os
import shutil
import subprocess
import sys
import threading
from pathlib import Path

import pytest

from discovery.idea import IdeaError, load_idea
from discovery.ideate import JUDGE_SYSTEM, PROPOSE_SYSTEM, REFINE_SYSTEM, IdeationResult, Topic, ideate, load_topic
from runs.store import RunStore
from tests.agents.test_llm_e2e import Scientist
from tests.conftest import EXAMPLES, ROOT
from tests.literature_server import LiteratureServer, lit, literature_server  # noqa: F401 - fixtures
from tests.llm_server import Reply, Request, ScriptedLLM, fast_config

TOPIC = """---
ideas: 2
metric: val_accuracy
direction: maximize
baseline: baseline.py
time_limit: 60
---
# Step size and flat minima for a small MLP

Small networks trained with large steps may land in flatter minima that generalise better.

## Constraints

One CPU core, no GPU; each experiment must finish within a minute.

## Compute

A laptop.
"""

IDEAS = [
    {"name": "sharp_minima_batch", "title": "Large steps find flat minima in small MLPs",
     "short_hypothesis": "Larger learning rates lead a small MLP to flatter minima and higher validation accuracy.",
     "abstract": "We test whether step size controls sharpness of minima.",
     "experiments": ["Sweep the learning rate", "Measure validation accuracy"], "risks": "Tiny data.",
     "metric": "wrong_metric", "direction": "minimize",
     "queries": ["sharp minima generalization large batch", "sharpness aware minimization"]},
    {"name": "width_vs_step", "title": "Width and step size trade off on spirals",
     "short_hypothesis": "A wider hidden layer tolerates larger steps.",
     "abstract": "We map accuracy over width and learning rate.",
     "experiments": ["Grid over width and learning rate"], "risks": "One dataset.",
     "metric": "val_accuracy", "direction": "maximize", "queries": ["cyclical learning rates training"]},
]


class Ideator(Scientist):
    """Proposes two ideas, judges the first not novel (a listed paper did it) and the second novel, refines
    each; then drives the run like the scripted scientist; refuses the write-up (templates are used)."""

    def __init__(self) -> None:
        super().__init__()
        self.seen: dict[str, list[str]] = {}
        self.mutex = threading.Lock()

    def __call__(self, req: Request) -> Reply:
        system = req.messages[0]["content"] if req.messages and req.messages[0]["role"] == "system" else ""
        text = req.text()
        for kind, prompt in (("propose", PROPOSE_SYSTEM), ("judge", JUDGE_SYSTEM), ("refine", REFINE_SYSTEM)):
            if system == prompt:
                with self.mutex:
                    self.seen.setdefault(kind, []).append(text)
                return Reply(self.answer(kind, text))
        if "Reply with the word OK." in text:
            return Reply("OK")
        reply = super().__call__(req)
        return Reply(status=400) if reply.status == 500 else reply

    def answer(self, kind: str, text: str) -> str:
        first = "sharp_minima_batch" in text
        if kind == "propose":
            return json.dumps({"ideas": IDEAS})
        if kind == "judge":
            if first:
                return json.dumps({"overlaps": [{"paper": "P1", "overlap": "high", "note": "already tests this"},
                                                {"paper": "P9", "overlap": "high", "note": "a paper not shown"}],
                                   "novel": False, "novelty": 3, "feasibility": 6,
                                   "critique": "Keskar et al. already showed it; study width instead."})
            return json.dumps({"overlaps": [{"paper": "P1", "overlap": "low", "note": "schedules, not width"}],
                               "novel": True, "novelty": 8, "feasibility": 8, "critique": "Add a third width."})
        idea = dict(IDEAS[0] if first else IDEAS[1])
        idea["title"] += " (refined)"
        idea["experiments"] = [*idea["experiments"], "Three widths"]
        return json.dumps(idea)


def discover(*args: str, cwd: Path, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "discovery.cli", *args], cwd=cwd, capture_output=True, text=True,
                          env=env, timeout=400, check=False)


def topic_dir(tmp_path: Path) -> Path:
    folder = tmp_path / "topic"
    folder.mkdir()
    (folder / "TOPIC.md").write_text(TOPIC, encoding="utf-8")
    shutil.copy(EXAMPLES / "mlp_spirals" / "baseline.py", folder / "baseline.py")
    return folder


@pytest.mark.slow
def test_topic_to_ideas_to_a_run_that_cites_them(tmp_path: Path, lit: LiteratureServer) -> None:  # noqa: F811
    folder = topic_dir(tmp_path)
    env = {**os.environ, "PYTHONPATH": str(ROOT), "LITELLM_LOCAL_MODEL_COST_MAP": "True", **lit.env()}
    env.pop("DISCOVER_LITERATURE", None)
    ideator = Ideator()
    with ScriptedLLM(handler=ideator) as server:
        done = discover("ideate", "TOPIC.md", "--model", "openai/gpt-4o-mini", "--api-base", server.api_base,
                        "--run", "--budget", "4", "--workers", "2", "--quiet", cwd=folder, env=env)
    assert done.returncode == 0, done.stderr[-3000:]

    # Two ideas written, the novel one rated first; each checked against papers the fake service returned.
    ideas = folder / "ideas"
    assert sorted(p.name for p in ideas.iterdir()) == ["sharp_minima_batch.json", "sharp_minima_batch.md",
                                                      "topic_ideas.json", "width_vs_step.json", "width_vs_step.md"]
    table = done.stdout.splitlines()
    assert table[1].split()[:4] == ["1", "8", "8", "yes"] and table[1].endswith("ideas/width_vs_step.md")
    assert table[2].split()[:4] == ["2", "3", "6", "no"]
    idea = load_idea(ideas / "width_vs_step.md")
    assert idea.title == "Width and step size trade off on spirals (refined)"  # refined once with the critique
    assert idea.metric.name == "val_accuracy" and idea.metric.direction == "maximize"
    assert idea.baseline == (folder / "baseline.py").read_text() and idea.time_limit == 60
    assert idea.papers and "Three widths" in idea.experiments
    first = (ideas / "sharp_minima_batch.md").read_text()
    assert "metric: val_accuracy" in first and "direction: maximize" in first  # the topic's metric wins
    assert "## Risks\n\nTiny data." in first and "## Related work" in first
    assert "On Large-Batch Training for Deep Learning" in first
    assert "a paper not shown" not in first  # the judge named a paper it was not shown: ignored
    assert "Not novel by the model's judgement" in first and "Keskar et al. already showed it" in first
    legacy = json.loads((ideas / "width_vs_step.json").read_text())
    assert {"Name", "Title", "Short Hypothesis", "Related Work", "Abstract", "Experiments",
            "Risk Factors and Limitations"} <= set(legacy)
    assert legacy["metric"] == {"name": "val_accuracy", "direction": "maximize"}
    assert load_idea(ideas / "width_vs_step.json").title == idea.title  # discover run reads it too

    # The judge read the closest abstracts the literature search returned.
    judged = ideator.seen["judge"][0]
    assert "[P1] " in judged and "sharp minimizers of the training function" in judged  # Keskar et al.'s abstract
    p1_title = judged.split("[P1] ")[1].split("\n")[0].split("). ", 1)[1].rstrip(".")
    assert any(line.startswith("- ") and p1_title in line and line.endswith(": overlap high: already tests this")
               for line in first.splitlines())
    assert {r.backend for r in lit.requests} == {"openalex"}
    assert ideator.seen["refine"] and "Keskar et al. already showed it" in ideator.seen["refine"][0]

    # The best idea ran; its papers are the run's; the report cites them from the store.
    store = RunStore(folder / "runs", readonly=True)
    run_id = store.resolve_run(None)
    run = store.get_run(run_id)
    assert run.idea.title == idea.title and run.status == "finished" and run.agent == "llm:openai/gpt-4o-mini"
    papers = store.run_papers(run_id)
    assert [p.paper.id for p in papers] == idea.papers and all(p.purpose == "idea" for p in papers)
    assert papers[0].note == "overlap low: schedules, not width"  # the novelty check's verdict, kept
    assert store.cached_query("openalex", "cyclical learning rates training", 8) is not None
    store.close()
    report = (folder / "runs" / run_id / "report" / "report.md").read_text()
    assert "## Related work" in report and "checked for novelty against the closest papers" in report
    assert "*: overlap low: schedules, not width" in report
    refs = report.split("## References")[1].split("\n## ")[0]
    assert len([line for line in refs.splitlines() if line.startswith("[")]) == len(idea.papers)
    assert "\\bibitem{" in (folder / "runs" / run_id / "report" / "report.tex").read_text()
    shown = discover("show", cwd=folder, env=env)
    assert f"papers ({len(idea.papers)}):" in shown.stdout and "[idea checked against it]" in shown.stdout

    # Again, offline: the same queries come from the cache, and no request reaches the service.
    asked = len(lit.requests)
    store = RunStore(folder / "runs")
    with ScriptedLLM(handler=Ideator()) as server:
        again = asyncio.run(_ideate_offline(load_topic(folder / "TOPIC.md"), fast_config(server), store,
                                            folder / "ideas2"))
    store.close()
    assert len(lit.requests) == asked and again.requests == 0
    assert load_idea(folder / "ideas2" / "width_vs_step.md").papers == idea.papers


async def _ideate_offline(topic: Topic, config: object, store: RunStore, out: Path) -> IdeationResult:
    from agents.literature.client import LiteratureClient
    from agents.literature.config import LiteratureConfig
    from agents.llm import LLMClient

    async with LiteratureClient(LiteratureConfig(offline=True), store) as papers:
        return await ideate(topic, LLMClient(config), papers, out)


def test_topic_errors_are_one_line(tmp_path: Path) -> None:
    folder = topic_dir(tmp_path)
    topic = load_topic(folder / "TOPIC.md")
    assert topic.ideas == 2 and topic.metric.name == "val_accuracy" and topic.title.startswith("Step size")
    assert topic.copied["baseline"] == str((folder / "baseline.py").resolve())
    bad = {
        "ideas: 0\n": "ideas: expected a whole number from 1 to 20",
        "baseline: nope.py\n": "baseline: nope.py does not exist",
        "colour: blue\n": "unknown front-matter field 'colour'",
        "metric: {name: acc, direction: upward}\n": "metric.direction",
    }
    for line, message in bad.items():
        path = folder / "bad.md"
        path.write_text(f"---\n{line}---\n# T\n\nA topic.\n", encoding="utf-8")
        with pytest.raises(IdeaError, match=message.replace("(", r"\(").replace("{", r"\{")):
            load_topic(path)
    path.write_text("---\ntitle: x\n---\n", encoding="utf-8")
    with pytest.raises(IdeaError, match="the topic is empty"):
        load_topic(path)


def test_ideate_without_a_model_or_with_a_bad_backend_stops_at_once(tmp_path: Path) -> None:
    folder = topic_dir(tmp_path)
    env = {k: v for k, v in os.environ.items() if k not in ("DISCOVER_MODEL", "DISCOVER_LITERATURE")}
    env.update(PYTHONPATH=str(ROOT))
    done = discover("ideate", "TOPIC.md", cwd=folder, env=env)
    assert done.returncode == 2 and done.stderr.strip().splitlines() == [
        "discover: error: ideate needs a model to propose and judge ideas: pass --model (or set DISCOVER_MODEL)"]
    done = discover("ideate", "TOPIC.md", "--literature", "google", cwd=folder, env=env)
    assert done.returncode == 2 and "--literature (or DISCOVER_LITERATURE)" in done.stderr
    done = discover("ideate", "missing.md", cwd=folder, env=env)
    assert done.returncode == 2 and "missing.md: no such topic file" in done.stderr
    assert not (folder / "ideas").exists() and not (folder / "runs").exists()
