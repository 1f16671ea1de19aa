"""Shared fixtures. litellm must never reach for the network in tests."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

os.environ["LITELLM_LOCAL_MODEL_COST_MAP"] = "True"
# Runs in tests use the local workspace unless a test asks for Docker by name: the default
# (auto) would switch to Docker whenever the test script has started an engine.
os.environ["DISCOVER_WORKSPACE"] = "local"

ROOT = Path(__file__).resolve().parent.parent
EXAMPLES = ROOT / "examples"


def alive(pid: int) -> bool:
    """True when the process exists and is not a zombie waiting to be reaped."""
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except (FileNotFoundError, ProcessLookupError):  # gone, or gone between open and read
        return False
    return state != "Z"


@pytest.fixture
def runs_dir(tmp_path: Path) -> Path:
    """A fresh runs folder for one test."""
    return tmp_path / "runs"


@pytest.fixture(scope="session")
def finished_run(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, str]:
    """(runs folder, run id) of a small finished offline run of the MLP example, shared by tests
    that only read it. Do not modify it: copy the folder first."""
    from discovery.api import run

    root = tmp_path_factory.mktemp("finished") / "runs"
    result = run(EXAMPLES / "mlp_spirals" / "idea.md", runs_dir=root, budget=10, workers=2, seed=1)
    return root, result.run_id
