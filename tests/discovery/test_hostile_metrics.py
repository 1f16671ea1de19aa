"""Experiment code is untrusted: a metrics.json built to break the reader makes its node buggy,
with a short reason, and the run goes on."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from discovery.evaluate import judge
from runs.models import MetricSpec, NodeStatus
from runs.store import RunStore
from tests.conftest import ROOT
from workspace.base import ExecRequest
from workspace.local import LocalWorkspace

WRITERS = {
    # json.loads recurses once per bracket: RecursionError, not a JSONDecodeError.
    "deep": "'{\"score\": ' + '[' * 200000 + ']' * 200000 + '}'",
    # No float holds it: float() raises OverflowError.
    "huge": "'{\"score\": ' + '9' * 500 + ', \"steps\": ' + '7' * 400 + '}'",
    # Python refuses to parse integers of over 4300 digits (a ValueError).
    "digits": "'{\"score\": ' + '9' * 5000 + '}'",
    "nested": "'{\"score\": {\"value\": 0.5}}'",
    "long": "'{\"score\": \"' + 'x' * 100000 + '\"}'",
}
REASONS = {
    "deep": "metrics.json nests too deeply",
    "huge": "metric 'score' is '99999999999999999999... (500 digits)', not a number",
    "digits": "metrics.json is not valid JSON (Exceeds the limit (4300 digits)",
    "nested": "metric 'score' is {'value': 0.5}, not a number",
    "long": "metric 'score' is 'xxxxxxxx",
}


@pytest.mark.parametrize("kind", WRITERS)
async def test_a_hostile_metrics_file_makes_a_buggy_node_with_a_short_reason(tmp_path: Path, kind: str) -> None:
    code = f"open('metrics.json', 'w').write({WRITERS[kind]})\n"
    result = await LocalWorkspace().execute(ExecRequest(run_id="r", node_id=1, workdir=tmp_path / "node", code=code,
                                                        time_limit=30))
    assert result.exit_code == 0
    verdict = judge(result, MetricSpec(name="score", direction="maximize"))
    assert verdict.status == NodeStatus.buggy and verdict.error.startswith(REASONS[kind])
    assert len(verdict.error) < 300
    if kind == "huge":  # the other values are kept, as strings when no float holds them
        assert result.metrics["steps"] == "77777777777777777777... (400 digits)"


@pytest.mark.slow
def test_a_run_whose_nodes_write_hostile_metrics_finishes(tmp_path: Path) -> None:
    (tmp_path / "idea.md").write_text(textwrap.dedent("""\
        ---
        title: Hostile metrics
        metric: score
        direction: maximize
        baseline: baseline.py
        search_space:
          KIND: [0, 1, 2, 3, 4]
        time_limit: 30
        ---

        # Hostile metrics

        ## Hypothesis

        KIND matters.
        """))
    cases = list(WRITERS.values())
    (tmp_path / "baseline.py").write_text(
        "KIND = 0\nWRITERS = [" + ", ".join(f"lambda: {w}" for w in cases[1:]) + "]\n"
        f"text = {cases[0]} if KIND == 0 else WRITERS[KIND - 1]()\n"
        "open('metrics.json', 'w').write(text)\n")
    env = {**os.environ, "PYTHONPATH": str(ROOT), "LITELLM_LOCAL_MODEL_COST_MAP": "True"}
    done = subprocess.run([sys.executable, "-m", "discovery.cli", "run", "idea.md", "--budget", "5", "--workers", "2",
                           "--quiet"], cwd=tmp_path, capture_output=True, text=True, env=env, timeout=300)
    # No node worked: exit 3 (no valid metric), and no traceback.
    assert done.returncode == 3 and "Traceback" not in done.stderr, done.stderr
    store = RunStore(tmp_path / "runs", readonly=True)
    run = store.get_run(store.resolve_run(None))
    nodes = store.nodes(run.id)
    assert run.status == "finished" and len(nodes) == 5
    assert sorted(n.params["KIND"] for n in nodes) == [0, 1, 2, 3, 4]
    assert all(n.status == NodeStatus.buggy and len(n.error) < 300 for n in nodes), [n.error for n in nodes]
