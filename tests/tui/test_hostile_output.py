"""Output an experiment writes to act on the terminal: the TUI and `discover show` show it, inertly.

A node's stdout can hold escape sequences (clear the screen, retitle the window, write the
clipboard with OSC 52), its metric names can look like Rich markup, and its code can hold
raw control characters or a bidirectional override. A real offline run stores all of that;
what reaches the screen holds no control character, and nothing crashes on the markup.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
from textual.widgets import Static

from runs.display import printable
from runs.store import RunStore
from tests.tui.conftest import screen_text, text_of
from tui.app import DiscoverApp
from tui.widgets.node_pane import NodePane
from tui.widgets.run_tree import RunTree

ROOT = Path(__file__).resolve().parents[2]
CONTROL = re.compile("[\x00-\x08\x0b-\x1f\x7f-\x9f\u202a-\u202e\u2066-\u2069]")

BASELINE = (
    "import json, sys\n"
    "# a raw escape in a comment: \x1b[2J and an override: \u202e\n"
    "LR = 0.1\n"
    "print('progress\\r 10%\\r 50%\\r100%')\n"
    "print('clear \\x1b[2J\\x1b[H title \\x1b]0;pwned\\x07 clip \\x1b]52;c;ZXZpbA==\\x07 csi \\x9b31m end')\n"
    "sys.stderr.write('err \\x1b[31mred\\x1b[0m\\n')\n"
    "json.dump({'score': 0.5 + LR, '[/oops]': 1, '[bold]loud[/bold]': '[/value]'}, open('metrics.json', 'w'))\n"
)


def test_printable_keeps_text_and_shows_controls() -> None:
    assert printable("plain text\twith a tab\n") == "plain text\twith a tab\n"
    assert printable("a\x1b[2Jb\x07") == "a\u241b[2Jb\u2407"
    assert printable("step\r 10%\r100%\r\nnext\r\n") == "100%\nnext\n"  # a progress bar's last redraw; CRLF
    assert printable("c1 \x9b31m, del \x7f") == "c1 \\x9b31m, del \u2421"
    assert printable("if admin\u202e:") == "if admin<U+202E>:"


@pytest.fixture(scope="module")
def hostile_run(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, str]:
    tmp = tmp_path_factory.mktemp("hostile")
    (tmp / "idea.md").write_text(textwrap.dedent("""\
        ---
        title: Output that talks to the terminal
        metric: score
        direction: maximize
        baseline: baseline.py
        search_space:
          LR: [0.1, 0.2]
        ---

        # Output that talks to the terminal

        ## Hypothesis

        LR matters.
        """))
    (tmp / "baseline.py").write_text(BASELINE)
    env = {**os.environ, "PYTHONPATH": str(ROOT), "LITELLM_LOCAL_MODEL_COST_MAP": "True"}
    done = subprocess.run([sys.executable, "-m", "discovery.cli", "run", "idea.md", "--budget", "2", "--quiet"],
                          cwd=tmp, capture_output=True, text=True, env=env, timeout=120)
    assert done.returncode == 0, done.stderr
    assert not CONTROL.search(done.stdout + done.stderr)
    store = RunStore(tmp / "runs", readonly=True)
    run_id = store.resolve_run(None)
    node = store.get_node(run_id, 1)
    # The store keeps what the node wrote; only what is shown is made inert.
    assert "\x1b]52;c;" in node.stdout_tail and "[/oops]" in node.metrics and "\x1b" in node.code
    store.close()
    return tmp, run_id


@pytest.mark.slow
def test_discover_show_prints_no_control_characters(hostile_run: tuple[Path, str]) -> None:
    tmp, run_id = hostile_run
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    done = subprocess.run([sys.executable, "-m", "discovery.cli", "show", run_id, "--node", "1"], cwd=tmp,
                          capture_output=True, text=True, env=env, timeout=60)
    assert done.returncode == 0, done.stderr
    assert not CONTROL.search(done.stdout), repr(CONTROL.search(done.stdout))
    assert "clear \u241b[2J\u241b[H title \u241b]0;pwned\u2407" in done.stdout and "csi \\x9b31m" in done.stdout
    shown = done.stdout.split("stdout (tail):")[1]
    assert shown.startswith("\n100%\n") and " 10%" not in shown  # the progress bar as a terminal leaves it
    assert "[/oops]" in done.stdout and "<U+202E>" in done.stdout


@pytest.mark.slow
async def test_the_tui_shows_a_hostile_node_inertly(hostile_run: tuple[Path, str]) -> None:
    tmp, run_id = hostile_run
    app = DiscoverApp(tmp / "runs", run_id, poll_seconds=0)
    async with app.run_test(size=(160, 50)) as pilot:
        tree = app.query_one(RunTree)
        tree.reveal(1)
        await pilot.pause()
        assert tree.chosen == 1
        pane = app.query_one(NodePane)
        # Markup-like metric names are shown as written, not parsed (a closing tag used to crash the pane).
        overview = text_of(pane.query_one("#overview-body", Static).content)
        assert "[/oops]" in overview and "[bold]loud[/bold]" in overview and '"[/value]"' in overview
        for key, tab in (("1", "overview"), ("2", "code"), ("3", "output"), ("4", "diff")):
            await pilot.press(key)
            await pilot.pause()
            screen = screen_text(app)
            assert not CONTROL.search(screen), (tab, repr(CONTROL.search(screen)))
        await pilot.press("3")
        await pilot.pause()
        output = text_of(pane.query_one("#output-body", Static).content)
        assert "clear \u241b[2J" in output and "err \u241b[31mred" in output and "100%" in output
