"""`discover run --workspace docker` end to end: the example's nodes run in containers, none are left."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from runs.models import NodeStatus
from runs.store import RunStore
from tests.conftest import EXAMPLES, ROOT
from workspace.docker import clean, engine_status, image_status
from workspace.docker_spec import DEFAULT_IMAGE

_ENGINE_OK, _ENGINE = engine_status()
_IMAGE_OK, _IMAGE = image_status(DEFAULT_IMAGE) if _ENGINE_OK else (False, _ENGINE)
pytestmark = pytest.mark.skipif(
    not (_ENGINE_OK and _IMAGE_OK),
    reason=f"needs a Docker engine and {DEFAULT_IMAGE}: {_IMAGE}; run scripts/docker-engine.sh as root")


@pytest.mark.slow
def test_cli_run_in_docker(tmp_path: Path) -> None:
    env = {**os.environ, "PYTHONPATH": str(ROOT), "OPENAI_API_KEY": "sk-must-not-leak"}
    env.pop("DISCOVER_WORKSPACE", None)  # the default, auto, must pick Docker when it answers
    done = subprocess.run([sys.executable, "-m", "discovery.cli", "run", str(EXAMPLES / "ridge_degree" / "idea.md"),
                           "--budget", "4", "--workers", "2"], cwd=tmp_path, env=env, capture_output=True,
                          text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    assert "docker workspace" in done.stderr
    store = RunStore(tmp_path / "runs", readonly=True)
    run_id = store.resolve_run(None)
    run = store.get_run(run_id)
    assert run.workspace == "docker" and run.status == "finished"
    nodes = store.nodes(run_id)
    assert len(nodes) == 4 and all(n.status == NodeStatus.good for n in nodes)
    assert clean(run_id) == 0  # the run removed its containers itself


def test_workspace_docker_without_the_image_is_one_line(tmp_path: Path) -> None:
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    done = subprocess.run([sys.executable, "-m", "discovery.cli", "run", str(EXAMPLES / "ridge_degree" / "idea.md"),
                           "--workspace", "docker", "--image", "discover-absent:none", "--budget", "1"],
                          cwd=tmp_path, env=env, capture_output=True, text=True, timeout=120)
    assert done.returncode == 2
    assert done.stderr.count("discover: error: --workspace docker:") == 1 and "Traceback" not in done.stderr
    assert not (tmp_path / "runs").exists()  # refused before anything was stored
