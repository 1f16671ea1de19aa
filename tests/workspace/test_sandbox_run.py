"""The sandbox seen from a whole run: a node over its disk quota is recorded buggy and the run goes
on; the run says which workspace it used and how that isolates a node; with a model, ``auto``
without Docker stops before anything is stored."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from discovery.api import run
from discovery.show import show_run
from runs.models import NodeStatus
from runs.store import RunStore
from tests.conftest import ROOT

IDEA = """---
title: Disk filler
metric: acc
baseline: baseline.py
search_space:
  SIZE_MB: [1, 2, 40]
node_disk: 8m
time_limit: 30
---
A baseline that writes SIZE_MB megabytes.
"""

BASELINE = """import json
SIZE_MB = 40
with open('out.bin', 'wb') as f:
    for _ in range(SIZE_MB):
        f.write(b'x' * (1 << 20))
json.dump({'acc': 1.0 / SIZE_MB}, open('metrics.json', 'w'))
"""


def test_a_node_over_its_disk_quota_is_buggy_and_the_run_goes_on(tmp_path: Path) -> None:
    (tmp_path / "idea.md").write_text(IDEA)
    (tmp_path / "baseline.py").write_text(BASELINE)
    result = run(tmp_path / "idea.md", runs_dir=tmp_path / "runs", budget=3, workers=1, workspace="local")
    store = RunStore(tmp_path / "runs", readonly=True)
    nodes = store.nodes(result.run_id)
    first = nodes[0]
    assert first.params == {"SIZE_MB": 40} and first.status == NodeStatus.buggy  # the baseline as written
    assert first.error.startswith("disk quota exceeded")
    assert len(nodes) == 3 and any(n.status == NodeStatus.good for n in nodes[1:])
    assert (store.node_dir(result.run_id, first.id) / "out.bin").stat().st_size <= 8 << 20
    run_row = store.get_run(result.run_id)
    assert run_row.workspace == "local" and "8m disk per node" in run_row.isolation
    shown = show_run(store, result.run_id)
    assert "  isolation: local: no sandbox" in shown and "8m disk per node" in shown
    assert "Nodes ran in the local: no sandbox" in result.report.read_text()


@pytest.mark.slow
def test_with_a_model_auto_without_docker_stops_in_one_line(tmp_path: Path) -> None:
    from tests.llm_server import Reply, ScriptedLLM

    env = {**os.environ, "PYTHONPATH": str(ROOT), "DOCKER_HOST": f"unix://{tmp_path}/nobody.sock"}
    env.pop("DISCOVER_WORKSPACE", None)
    (tmp_path / "idea.md").write_text(IDEA)
    (tmp_path / "baseline.py").write_text(BASELINE)
    with ScriptedLLM(handler=lambda _req: Reply("OK")) as server:
        done = subprocess.run([sys.executable, "-m", "discovery.cli", "run", "idea.md", "--model", "openai/scripted",
                               "--api-base", server.api_base], cwd=tmp_path, env=env, capture_output=True, text=True,
                              timeout=120)
    assert done.returncode == 2, done.stderr
    [error] = [line for line in done.stderr.splitlines() if line.startswith("discover: error:")]
    assert error.startswith("discover: error: --workspace auto: no Docker engine answers")
    assert "discover doctor" in error and "--workspace local" in error and "Traceback" not in done.stderr
    assert not (tmp_path / "runs" / "discover.db").exists()


def test_a_flag_wins_over_the_idea_and_a_bad_size_is_one_line(tmp_path: Path) -> None:
    from discovery.api import workspace_settings
    from runs.models import Idea, MetricSpec, RunConfig

    idea = Idea(title="t", metric=MetricSpec(name="acc"), node_memory="1g", node_shm="256m", node_disk="2g")
    chosen = workspace_settings(RunConfig(node_memory="3g"), idea)
    assert (chosen.node_memory, chosen.node_shm, chosen.node_disk) == ("3g", "256m", "2g")
    (tmp_path / "idea.md").write_text(IDEA)
    (tmp_path / "baseline.py").write_text(BASELINE)
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    done = subprocess.run([sys.executable, "-m", "discovery.cli", "run", "idea.md", "--node-shm", "lots"],
                          cwd=tmp_path, env=env, capture_output=True, text=True, timeout=120)
    assert done.returncode == 2
    assert done.stderr.strip() == ("discover: error: --node-shm (or the idea's node_shm): 'lots' is not a size "
                                   "(use e.g. 512m or 4g)")
    assert not (tmp_path / "runs").exists()


def test_a_local_node_over_the_memory_asked_for_is_killed_and_the_run_goes_on(tmp_path: Path) -> None:
    """`--node-memory` bounds a local node too (it was a Docker-only setting, ignored locally)."""
    (tmp_path / "idea.md").write_text(IDEA.replace("node_disk: 8m", "node_memory: 200m").replace(
        "Disk filler", "Memory hog").replace("SIZE_MB: [1, 2, 40]", "SIZE_MB: [1, 2, 600]"))
    (tmp_path / "baseline.py").write_text(
        "import json, time\nSIZE_MB = 600\nheld = []\nfor _ in range(SIZE_MB // 10):\n"
        "    held.append(bytearray(10 << 20))\n    time.sleep(0.01)\n"
        "json.dump({'acc': 1.0 / SIZE_MB}, open('metrics.json', 'w'))\n")
    result = run(tmp_path / "idea.md", runs_dir=tmp_path / "runs", budget=3, workers=1, workspace="local")
    store = RunStore(tmp_path / "runs", readonly=True)
    nodes = store.nodes(result.run_id)
    assert nodes[0].params == {"SIZE_MB": 600} and nodes[0].status == NodeStatus.buggy
    assert nodes[0].error == "killed: out of memory"
    assert len(nodes) == 3 and any(n.status == NodeStatus.good for n in nodes[1:])
    assert "200m memory per node" in store.get_run(result.run_id).isolation
