"""The search benchmarks' flags: a bad value ends in one line naming the flag, before any run."""

from __future__ import annotations

import subprocess
import sys

import pytest

from tests.conftest import ROOT


@pytest.mark.parametrize(("script", "args", "flag"), [
    ("search_quality.py", ["--first-seed", "95", "--seeds", "10"], "--first-seed/--seeds"),
    ("search_quality.py", ["--first-seed", "-1", "--seeds", "1"], "--first-seed/--seeds"),
    ("search_quality.py", ["--num-drafts", "0"], "--num-drafts"),
    ("policy_sim.py", ["--durations", "1"], "--durations"),
])
def test_a_bad_flag_is_one_line_naming_it(script: str, args: list[str], flag: str) -> None:
    done = subprocess.run([sys.executable, str(ROOT / "bench" / script), *args], capture_output=True, text=True,
                          timeout=120, cwd=ROOT)
    assert done.returncode == 2 and "Traceback" not in done.stderr
    last = done.stderr.strip().splitlines()[-1]
    assert flag in last and "error" in last
