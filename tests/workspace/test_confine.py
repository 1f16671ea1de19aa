"""Landlock confinement of a local node: its folder and data open, the rest of the disk and other processes not."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from workspace.base import ExecRequest
from workspace.confine import available, landlock_abi
from workspace.local import LocalWorkspace

pytestmark = pytest.mark.skipif(not available(), reason="this kernel has no Landlock")

PROBE = r'''
import json, os
out = {}
def can(label, fn):
    try:
        fn()
        out[label] = True
    except OSError:
        out[label] = False
can("own data", lambda: open("data/input.csv").read())
can("write own folder", lambda: open("out.txt", "w").write("x"))
can("temp files", lambda: __import__("tempfile").NamedTemporaryFile().close())
can("sibling file", lambda: open("../secret.txt").read())
can("list parent", lambda: os.listdir(".."))
can("data's folder", lambda: os.listdir(os.path.dirname(os.path.realpath("data/input.csv"))))
can("parent environ", lambda: open(f"/proc/{os.getppid()}/environ", "rb").read())
can("parent cmdline", lambda: open(f"/proc/{os.getppid()}/cmdline", "rb").read())
can("own proc", lambda: open("/proc/self/status").read())
can("write outside", lambda: open("../planted.txt", "w").write("x"))
import numpy
out["numpy"] = float(numpy.linalg.norm(numpy.ones(4)))
json.dump(out, open("probe.json", "w"))
'''


async def test_a_confined_node_sees_its_folder_and_data_only(tmp_path: Path) -> None:
    (tmp_path / "secret.txt").write_text("answers")
    data = tmp_path / "shared" / "input.csv"
    data.parent.mkdir()
    data.write_text("a,b\n")
    (tmp_path / "shared" / "labels.csv").write_text("held back")
    req = ExecRequest(run_id="r", node_id=1, workdir=tmp_path / "node", code=PROBE, time_limit=60,
                      data=[str(data)], confine=True)
    result = await LocalWorkspace().execute(req)
    assert result.exit_code == 0, result.stderr
    seen = json.loads((tmp_path / "node" / "probe.json").read_text())
    assert seen == {"own data": True, "write own folder": True, "temp files": True, "sibling file": False,
                    "list parent": False, "data's folder": False, "parent environ": False, "parent cmdline": False,
                    "own proc": True, "write outside": False, "numpy": 2.0}
    assert not (tmp_path / "planted.txt").exists()
    # the same code unconfined reads everything: the checks above can fail
    free = await LocalWorkspace().execute(req.model_copy(update={"confine": False, "workdir": tmp_path / "free"}))
    assert free.exit_code == 0
    assert json.loads((tmp_path / "free" / "probe.json").read_text())["sibling file"] is True
    assert landlock_abi() >= 1
