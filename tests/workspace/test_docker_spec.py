"""The container a node gets, read from the create arguments: no engine or GPU needed."""

from __future__ import annotations

from pathlib import Path

import pytest

from workspace.base import ExecRequest
from workspace.docker import DockerUnavailable, connect, engine_status, oom_kills
from workspace.docker_spec import (
    NODE_DIR,
    container_kwargs,
    default_user,
    exec_environment,
    parse_size,
    spec_for,
)


def request(tmp_path: Path, **kw) -> ExecRequest:
    return ExecRequest(run_id="r", node_id=3, workdir=tmp_path / "node", code="print(1)", time_limit=5, **kw)


def kwargs_for(tmp_path: Path, **kw) -> dict:
    spec = spec_for(request(tmp_path, **kw), image="img:1", cpus=None, memory="2g", pids_limit=256)
    return container_kwargs(spec, node_dir=tmp_path / "slot", user="1000:1000", labels={"discover.run": "r"})


def test_isolated_by_default(tmp_path: Path) -> None:
    kw = kwargs_for(tmp_path, threads=2)
    assert kw["network_mode"] == "none"
    assert kw["read_only"] is True
    assert kw["cap_drop"] == ["ALL"]
    assert kw["security_opt"] == ["no-new-privileges"]
    assert kw["pids_limit"] == 256
    assert kw["mem_limit"] == kw["memswap_limit"] == 2 << 30
    assert kw["nano_cpus"] == 2_000_000_000  # the node's thread share when no cpus are set
    assert kw["user"] == "1000:1000"
    assert kw["labels"] == {"discover.run": "r"}
    assert "device_requests" not in kw
    assert "privileged" not in kw and "volumes" not in kw
    # The only host paths: the node folder (rw) and its tmp/ as /tmp.
    assert [(m["Target"], m["Source"], m["ReadOnly"]) for m in kw["mounts"]] == [
        (NODE_DIR, str(tmp_path / "slot"), False), ("/tmp", str(tmp_path / "slot" / "tmp"), False)]


def test_data_is_mounted_read_only_outside_the_node_and_tmp_folders(tmp_path: Path) -> None:
    data = tmp_path / "train.csv"
    data.write_text("x\n")
    folder = tmp_path / "images"
    folder.mkdir()
    kw = kwargs_for(tmp_path, data=[str(data), str(folder)])
    mounts = [(m["Target"], m["Source"], m["ReadOnly"]) for m in kw["mounts"]]
    # Not at the host path: under /tmp it would sit inside the node's /tmp, emptied between nodes.
    assert ("/discover-data/0/train.csv", str(data), True) in mounts
    assert ("/discover-data/1", str(folder), True) in mounts


def test_disk_quota_is_a_file_size_limit(tmp_path: Path) -> None:
    spec = spec_for(request(tmp_path), image="img:1", cpus=None, memory="2g", pids_limit=64, disk=5 << 20)
    kw = container_kwargs(spec, node_dir=tmp_path / "slot", user="1000:1000", labels={})
    assert [(u["Name"], u["Soft"], u["Hard"]) for u in kw["ulimits"]] == [("fsize", 5 << 20, 5 << 20), ("core", 0, 0)]
    assert spec_for(request(tmp_path, disk_limit=1 << 20), image="i", cpus=None, memory=None, pids_limit=64,
                    disk=5 << 20).disk == 1 << 20  # the request's own quota wins


def test_network_opt_in(tmp_path: Path) -> None:
    assert kwargs_for(tmp_path, network=True)["network_mode"] == "bridge"


def test_gpus_become_a_device_request(tmp_path: Path) -> None:
    kw = kwargs_for(tmp_path, gpus=["1", "3"])
    [device] = kw["device_requests"]
    assert device["DeviceIDs"] == ["1", "3"]
    assert device["Capabilities"] == [["gpu"]]
    assert device.get("Count", 0) == 0  # the ids, not "all"
    env = exec_environment(request(tmp_path, gpus=["1", "3"]))
    # Inside, the container sees only its GPUs, renumbered from 0: host ids must not hide them.
    assert "CUDA_VISIBLE_DEVICES" not in env and env["DISCOVER_GPUS"] == "1,3"
    assert exec_environment(request(tmp_path))["CUDA_VISIBLE_DEVICES"] == ""


def test_request_image_and_memory_win(tmp_path: Path) -> None:
    spec = spec_for(request(tmp_path, image="pytorch/pytorch:2", memory_limit="512m"), image="img:1", cpus=4,
                    memory="2g", pids_limit=64)
    assert (spec.image, spec.memory, spec.cpus) == ("pytorch/pytorch:2", "512m", 4)


def test_environment_is_built_from_scratch(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("OPENAI_API_KEY", "sk-secret")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "aws-secret")
    env = exec_environment(request(tmp_path, threads=3, seed=9, extra_env={"MY_FLAG": "1"}))
    assert not any("secret" in v for v in env.values())
    assert "PATH" not in env  # the image's own PATH applies
    assert env["OMP_NUM_THREADS"] == "3" and env["DISCOVER_SEED"] == "9" and env["MY_FLAG"] == "1"
    assert env["HOME"] == NODE_DIR and env["TMPDIR"] == "/tmp"
    kw = kwargs_for(tmp_path)
    assert kw["environment"] == {"HOME": NODE_DIR}


def test_sizes_and_users() -> None:
    assert parse_size("512m") == 512 << 20
    assert parse_size("1.5G") == 3 << 29
    assert parse_size("4gb") == 4 << 30
    with pytest.raises(ValueError, match="memory: 'lots' is not a size"):
        parse_size("lots")
    with pytest.raises(ValueError, match="below the minimum of 6m"):
        parse_size("1m")
    assert default_user(0, 0) == "65534:65534"  # never root inside, even when discover runs as root
    assert default_user(1000, 100) == "1000:100"


def test_oom_counter_parsing() -> None:
    assert oom_kills("oom_kill_disable 0\nunder_oom 0\noom_kill 2\n") == 2
    assert oom_kills("low 0\nhigh 0\nmax 3\noom 1\noom_kill 1\n") == 1
    assert oom_kills("oom_kill_disable 0\nunder_oom 0\n") == 0


def test_no_engine_says_so(tmp_path: Path) -> None:
    url = f"unix://{tmp_path}/no-docker.sock"
    with pytest.raises(DockerUnavailable, match="no Docker engine answers"):
        connect(url, timeout=2)
    ok, why = engine_status(url)
    assert not ok and why.startswith("no Docker engine answers")
