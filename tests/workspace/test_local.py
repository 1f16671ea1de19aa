"""The local workspace with real subprocesses."""

from __future__ import annotations

import asyncio
import time
from pathlib import Path

import pytest

from tests.conftest import alive
from workspace.base import CappedBuffer, ExecRequest
from workspace.local import LocalWorkspace


def request(tmp_path: Path, code: str, **kw) -> ExecRequest:
    return ExecRequest(run_id="r", node_id=1, workdir=tmp_path / "node", code=code,
                       time_limit=kw.pop("time_limit", 20), **kw)


async def test_success_writes_metrics_and_artifacts(tmp_path: Path) -> None:
    code = ("import json, os\nprint('hello')\nopen('plot.png','wb').write(b'x')\n"
            "json.dump({'acc': 0.9, 'bad': float('nan')}, open('metrics.json','w'))\n")
    result = await LocalWorkspace().execute(request(tmp_path, code))
    assert result.exit_code == 0 and not result.timed_out
    assert result.metrics == {"acc": 0.9, "bad": "nan"}
    assert result.stdout == "hello\n"
    assert result.artifacts == ["plot.png"]
    assert (tmp_path / "node" / "stdout.txt").read_text() == "hello\n"
    assert (tmp_path / "node" / "experiment.py").read_text() == code


async def test_crash_keeps_stderr(tmp_path: Path) -> None:
    result = await LocalWorkspace().execute(request(tmp_path, "raise ValueError('boom')\n"))
    assert result.exit_code == 1
    assert "ValueError: boom" in result.stderr
    assert result.metrics is None and result.metrics_error == "no metrics.json written"


async def test_timeout_kills_the_whole_group(tmp_path: Path) -> None:
    marker = tmp_path / "child.pid"
    code = (
        "import subprocess, sys, time\n"
        f"p = subprocess.Popen([sys.executable, '-c', 'import time; time.sleep(60)'])\n"
        f"open({str(marker)!r}, 'w').write(str(p.pid))\n"
        "print('started', flush=True)\ntime.sleep(60)\n"
    )
    t0 = time.monotonic()
    # 3 s: two interpreters must start before the limit, on a busy machine too
    result = await LocalWorkspace().execute(request(tmp_path, code, time_limit=3.0))
    assert result.timed_out
    assert time.monotonic() - t0 < 15
    assert "started" in result.stdout and "time limit" in result.stderr
    child = int(marker.read_text())
    await asyncio.sleep(0.2)
    assert not alive(child)


async def test_huge_output_is_capped(tmp_path: Path) -> None:
    code = "import sys\nfor i in range(200000): sys.stdout.write('x' * 99 + '\\n')\nprint('END')\n"
    result = await LocalWorkspace().execute(request(tmp_path, code, output_cap=10_000))
    assert result.stdout_bytes > 19_000_000
    assert len(result.stdout) < 11_000
    assert "bytes cut by discover" in result.stdout
    assert result.stdout.rstrip().endswith("END")


async def test_secrets_are_absent(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("OPENAI_API_KEY", "sk-secret-123")
    monkeypatch.setenv("ANTHROPIC_API_KEY", "secret-456")
    monkeypatch.setenv("DISCOVER_MODEL", "gpt-x")
    code = "import os\nprint(sorted(os.environ.items()))\n"
    result = await LocalWorkspace().execute(request(tmp_path, code, gpus=[]))
    assert "sk-secret-123" not in result.stdout and "secret-456" not in result.stdout
    assert "gpt-x" not in result.stdout and "API_KEY" not in result.stdout
    assert "'CUDA_VISIBLE_DEVICES', ''" in result.stdout
    assert f"'HOME', '{tmp_path / 'node'}'" in result.stdout


async def test_cancel_kills_and_returns_partial_output(tmp_path: Path) -> None:
    ws = LocalWorkspace()
    code = "import time\nprint('working', flush=True)\ntime.sleep(60)\n"
    task = asyncio.create_task(ws.execute(request(tmp_path, code)))
    out = tmp_path / "node" / "stdout.txt"  # written as the node prints
    for _ in range(400):
        if out.exists() and "working" in out.read_text():
            break
        await asyncio.sleep(0.05)
    task.cancel()
    result = await asyncio.wait_for(task, 10)
    assert result.cancelled and "working" in result.stdout
    assert not ws._live


async def test_data_is_linked(tmp_path: Path) -> None:
    data = tmp_path / "table.csv"
    data.write_text("a,b\n1,2\n")
    code = "print(open('data/table.csv').read())\n"
    result = await LocalWorkspace().execute(request(tmp_path, code, data=[str(data)]))
    assert "1,2" in result.stdout


def test_capped_buffer_keeps_head_and_tail() -> None:
    buf = CappedBuffer(10)
    for chunk in (b"abc", b"defgh", b"ijklmnop"):
        buf.feed(chunk)
    assert buf.total == 16
    assert buf.text().startswith("abcde") and buf.text().endswith("lmnop")
    assert "6 bytes cut" in buf.text()


async def test_a_background_child_holding_stdout_does_not_make_a_timeout(tmp_path: Path) -> None:
    code = ("import json, subprocess\nsubprocess.Popen(['sleep', '30'])\n"
            "json.dump({'acc': 1}, open('metrics.json', 'w'))\nprint('done')\n")
    t0 = time.monotonic()
    result = await LocalWorkspace().execute(request(tmp_path, code, time_limit=10))
    assert not result.timed_out and result.exit_code == 0 and result.metrics == {"acc": 1}
    assert time.monotonic() - t0 < 5  # the straggler was killed with the group, not waited for


async def test_links_a_node_plants_are_never_followed_by_the_framework(tmp_path: Path) -> None:
    """The node runs confined, the framework does not: a node that replaces the files the
    framework writes or reads in its folder by links to the user's files must not make it
    overwrite them, read them as metrics, or send them as plots (nor on a re-run in the folder)."""
    from discovery.writeup.figures import node_plots
    from reviewers.plot_review import find_plots

    home = tmp_path / "home"
    home.mkdir()
    victims = {name: home / f"{name}.victim" for name in ("stdout.txt", "stderr.txt", "pid", "experiment.py")}
    for victim in victims.values():
        victim.write_text("the user's file\n")
    (home / "answers.json").write_text('{"acc": 1.0}')
    (home / "key.png").write_bytes(b"\x89PNG secret")
    links = {**{name: str(v) for name, v in victims.items()}, "metrics.json": str(home / "answers.json"),
             "plot.png": str(home / "key.png"), "tmp": str(home)}
    code = ("import os, shutil, sys\n"
            "tmp_is_a_link = os.path.islink(os.environ['TMPDIR'])\n"
            f"for name, target in {links!r}.items():\n"
            "    if os.path.isdir(name) and not os.path.islink(name): shutil.rmtree(name)\n"
            "    elif os.path.lexists(name): os.remove(name)\n"
            "    os.symlink(target, name)\n"
            "print(f'written through the link? {tmp_is_a_link}')\nprint('and stderr', file=sys.stderr)\n")
    ws = LocalWorkspace()
    for _ in range(2):  # the second run finds the links the first one left
        result = await ws.execute(request(tmp_path, code))
        assert result.exit_code == 0
        assert result.metrics is None and result.metrics_error == "metrics.json is a link; write the file itself"
        assert all(v.read_text() == "the user's file\n" for v in victims.values())
        node = tmp_path / "node"
        assert (node / "stdout.txt").read_text() == "written through the link? False\n"
        assert not (node / "stdout.txt").is_symlink()
        assert find_plots(node) == [] and find_plots(node, ["plot.png"]) == [] and node_plots(node) == []
        assert "plot.png" not in result.artifacts


MiB = 1 << 20
HOG = ("import time\nblocks = []\nfor _ in range(40):\n    blocks.append(bytearray(25 * 2**20))\n"
       "    time.sleep(0.05)\nprint('survived')\n")  # 1 GB in 25 MB steps, 2 s
WORKERS = ("import subprocess, sys, time\n"
           "code = 'import time; b = bytearray(90 * 2**20); time.sleep(30)'\n"
           "procs = [subprocess.Popen([sys.executable, '-c', code]) for _ in range(4)]\n"
           "time.sleep(30)\nprint('survived')\n")  # four processes of 90 MB: each under 200 MB, not together


@pytest.mark.parametrize("code", [HOG, WORKERS], ids=["one-process", "four-processes"])
async def test_a_node_over_its_memory_limit_is_killed_as_out_of_memory(tmp_path: Path, code: str) -> None:
    t0 = time.monotonic()
    result = await LocalWorkspace(memory_limit=200 * MiB).execute(request(tmp_path, code, time_limit=60))
    assert result.oom_killed and not result.timed_out and "survived" not in result.stdout
    assert "killed: out of memory (its processes and its /dev/shm held" in result.stderr
    assert "over its 200m limit" in result.stderr
    assert time.monotonic() - t0 < 20
    from discovery.evaluate import judge
    from runs.models import MetricSpec

    assert judge(result, MetricSpec(name="acc")).error == "killed: out of memory"


async def test_a_node_under_its_memory_limit_runs(tmp_path: Path) -> None:
    code = "b = bytearray(50 * 2**20)\nprint('fine')\n"
    ws = LocalWorkspace(memory_limit=400 * MiB)
    result = await ws.execute(request(tmp_path, code))
    assert result.exit_code == 0 and result.stdout == "fine\n" and not result.oom_killed
    assert "400m memory per node" in ws.isolation() and "no memory limit" in LocalWorkspace().isolation()
