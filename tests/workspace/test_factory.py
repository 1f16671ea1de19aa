"""workspace/factory.py: which workspace a run gets, its limits and GPU shares, and the one-line errors."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from workspace.docker import engine_status, image_status
from workspace.docker_spec import DEFAULT_IMAGE
from workspace.factory import KINDS, WorkspaceError, build, choose, limits, resolve_kind, settings
from workspace.limits import GiB, MiB, default_disk, default_memory, default_shm, size_text

_ENGINE_OK, _ENGINE = engine_status()
_IMAGE_OK, _IMAGE = image_status(DEFAULT_IMAGE) if _ENGINE_OK else (False, _ENGINE)
needs_docker = pytest.mark.skipif(not (_ENGINE_OK and _IMAGE_OK), reason=f"needs a Docker engine and {DEFAULT_IMAGE}: "
                                  f"{_IMAGE}; run scripts/docker-engine.sh as root")


@pytest.fixture
def no_docker(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """No Docker engine answers (the client is pointed at a socket nobody listens on), and the
    tests' own DISCOVER_WORKSPACE=local is not there to decide for ``auto``."""
    monkeypatch.setenv("DOCKER_HOST", f"unix://{tmp_path}/nobody.sock")
    monkeypatch.delenv("DISCOVER_WORKSPACE", raising=False)


def test_the_kind_is_one_of_four_and_a_typo_is_one_line() -> None:
    assert KINDS == ("auto", "local", "docker", "ray")
    with pytest.raises(WorkspaceError, match=r"^--workspace: unknown workspace 'dockr' \(choose from auto, local"):
        settings(kind="dockr")


def test_discover_workspace_says_what_auto_means() -> None:
    assert resolve_kind("auto", {"DISCOVER_WORKSPACE": "local"}) == "local"
    assert resolve_kind("auto", {}) == "auto"
    assert resolve_kind("docker", {"DISCOVER_WORKSPACE": "local"}) == "docker"  # a choice made is kept
    with pytest.raises(WorkspaceError, match="^DISCOVER_WORKSPACE: unknown workspace 'lokal'"):
        resolve_kind("auto", {"DISCOVER_WORKSPACE": "lokal"})


def test_with_a_model_auto_refuses_to_run_model_code_unsandboxed(no_docker: None) -> None:
    with pytest.raises(WorkspaceError) as caught:
        choose(settings(kind="auto", model_code=True))
    message = str(caught.value)
    assert "\n" not in message and message.startswith("--workspace auto: no Docker engine answers")
    assert "discover doctor" in message and "--workspace local" in message
    # Asking for local accepts it; the offline agent (no model code) still runs locally by default.
    assert choose(settings(kind="local", model_code=True)).kind == "local"
    assert choose(settings(kind="auto")).kind == "local"
    with pytest.raises(WorkspaceError, match="^--workspace docker: no Docker engine answers"):
        choose(settings(kind="docker"))


def test_limits_are_sized_from_the_machine(tmp_path: Path) -> None:
    free = shutil.disk_usage(tmp_path).free
    assert default_disk(tmp_path, 2) == max(16 * MiB, min(20 * GiB, free // 8) // MiB * MiB)
    assert default_disk(tmp_path / "not" / "yet", 2) == default_disk(tmp_path, 2)  # the runs folder may not exist
    assert default_memory(4, total=64 * GiB) == int(64 * GiB * 0.8) // 4 // MiB * MiB
    assert default_memory(64, total=8 * GiB) == 512 * MiB  # never below what Python and numpy need
    assert default_shm(16 * GiB) == 4 * GiB and default_shm(64 * GiB) == 8 * GiB and default_shm(128 * MiB) == 64 * MiB
    sized = limits(settings(workers=2, nodes_dir=tmp_path))
    assert sized.disk == default_disk(tmp_path, 2) and sized.memory == default_memory(2)
    assert sized.shm == default_shm(sized.memory)
    given = limits(settings(node_disk="3g", node_memory="12g", node_shm="2g"))
    assert (given.disk, given.memory, given.shm) == (3 * GiB, 12 * GiB, 2 * GiB)
    assert size_text(12 * GiB) == "12g" and size_text(300 * MiB) == "300m"


def test_bad_limits_name_the_flag_and_the_idea_field() -> None:
    with pytest.raises(WorkspaceError, match=r"^--node-disk \(or the idea's node_disk\): 'lots' is not a size"):
        limits(settings(node_disk="lots"))
    with pytest.raises(WorkspaceError, match=r"^--node-memory \(or the idea's node_memory\): '1m' is below"):
        limits(settings(node_memory="1m"))


def test_data_paths_that_clash_are_refused(tmp_path: Path) -> None:
    (tmp_path / "a").mkdir()
    (tmp_path / "a" / "train.csv").write_text("1")
    (tmp_path / "train.csv").write_text("2")
    with pytest.raises(WorkspaceError, match=r"^data: .* would both be data/train.csv"):
        choose(settings(kind="local", data=[str(tmp_path / "a"), str(tmp_path / "train.csv")]))


def test_gpu_shares_are_checked_once_with_the_flag_named() -> None:
    with pytest.raises(WorkspaceError, match=r"^--gpus-per-node \(or the idea's gpus_per_node\): 1 GPUs asked for"):
        choose(settings(kind="local", gpus="none", gpus_per_node=1))
    chosen = choose(settings(kind="local", gpus="none"))
    assert chosen.gpu_ids == [] and chosen.gpu_share == 0.0


async def test_local_is_built_with_its_quota_and_says_what_it_isolates(tmp_path: Path) -> None:
    built = build(settings(kind="local", node_disk="64m", nodes_dir=tmp_path))
    assert built.workspace.name == "local" and built.workspace.disk_limit == 64 * MiB
    assert built.isolation.startswith("local: no sandbox") and "64m disk per node" in built.isolation
    await built.workspace.close()


@needs_docker
async def test_docker_gets_the_memory_shm_and_disk_asked_for(tmp_path: Path) -> None:
    built = build(settings(kind="docker", workers=3, node_memory="3g", node_shm="1g", node_disk="2g"))
    ws = built.workspace
    assert (ws.name, ws.memory, ws.shm_size, ws.disk_limit, ws.pool_size) == ("docker", "3g", "1g", 2 * GiB, 3)
    assert "3g memory" in built.isolation and "1g /dev/shm" in built.isolation and "2g disk" in built.isolation
    await ws.close()
    sized = build(settings(kind="docker", workers=2)).workspace
    assert sized.memory == size_text(default_memory(2)) and sized.shm_size == size_text(default_shm(default_memory(2)))
    await sized.close()
