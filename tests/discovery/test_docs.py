"""The commands shown in README.md and docs/*.md work as shown, so the docs cannot drift.

Every command in a shell block (``sh``/``bash``/``console`` fences, and lines starting with
``discover``, ``python``, ``pip`` or ``bash`` in untagged ones) and every Python block is
either run, offline, in a temporary runs folder with small budgets, or skipped for a reason
listed in SKIP. A command with an optional part (``[--node N]``) runs without it and with it.
A new command that fits no rule and uses an unknown placeholder fails here until it is given
one, so adding a doc line means deciding how it is checked.
"""

from __future__ import annotations

import os
import re
import shlex
import subprocess
import sys
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.conftest import EXAMPLES, ROOT

DOCS = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]
SMALL_BUDGET = "2"
IDEA = EXAMPLES / "ridge_degree" / "idea.md"  # the fastest example stands in for `idea.md`
# Placeholders the docs use, and what they stand for here (RUN: a run the fixture made).
PLACEHOLDERS = {"idea.md": str(IDEA), "N": "1", "P": "greedy", "B": SMALL_BUDGET}

# (pattern, reason): a command matching a pattern is not run, for that reason.
SKIP = [
    (r"^pip install", "installs packages: needs the network and changes this environment"),
    (r"^bash scripts/test\.sh", "runs the whole test suite, this test included"),
    (r"^python bench/", "a benchmark: minutes of work, run by hand"),
    (r"--model|--api-base|--\w+-model\b|DISCOVER_MODEL", "needs a language model and its API key"),
    (r"--workspace ray|RAY_ADDRESS", "needs a Ray cluster"),
    (r"--workspace docker|--image\b", "needs a Docker engine and an image"),
    (r"--gpus(-per-node)? ", "needs GPUs"),
    (r"^discover tui\b", "an interactive terminal UI (tests/tui drives it under App.run_test)"),
    (r"^discover clean$", "removes the containers of every run on this machine, other processes' too"),
    (r"LLMConfig|ScriptedLLM|LLMAgent", "needs a language model (tests/llm_server.py scripts one in tests)"),
    (r"RayWorkspace", "needs a Ray cluster"),
    (r"LiteratureClient", "asks the literature services: needs the network (tests/literature_server.py stands in)"),
]

_FENCE = re.compile(r"^```(\w*)[^\n]*\n(.*?)^```", re.M | re.S)
_SHELL = {"sh", "bash", "shell", "console"}
_PROGRAMS = {"discover", "python", "pip", "bash"}


@dataclass(frozen=True)
class DocCommand:
    """One command of the docs, in one variant (bare: optional parts dropped; full: kept)."""

    where: str  # file:line
    text: str  # as written (after the variant is chosen)
    python: bool = False  # a Python block, not a shell line

    @property
    def skip_reason(self) -> str | None:
        return next((why for pattern, why in SKIP if re.search(pattern, self.text)), None)

    @property
    def creates_runs(self) -> bool:
        return self.python or self.text.startswith("discover run ")


def _shell_lines(path: Path) -> Iterator[tuple[int, str, bool]]:
    text = path.read_text()
    for match in _FENCE.finditer(text):
        lang, body = match.group(1).lower(), match.group(2)
        first_line = text.count("\n", 0, match.start(2)) + 1
        if lang == "python":
            yield first_line, body, True
            continue
        if lang and lang not in _SHELL:
            continue
        for i, line in enumerate(body.splitlines()):
            words = line.split()
            if words and (lang in _SHELL or words[0] in _PROGRAMS):
                yield first_line + i, line, False


def _variants(line: str) -> list[str]:
    """The command without its optional ``[...]`` parts, and with each one's first alternative."""
    command = " ".join(shlex.split(line, comments=True))
    optional = re.compile(r"(?<!\S)\[([^\[\]]*)\](?!\S)")  # a word of its own, not pip's .[ray]
    bare = " ".join(optional.sub(" ", command).split())
    full = " ".join(optional.sub(lambda m: m.group(1).split("|")[0], command).split())
    return [bare] if bare == full else [bare, full]


def doc_commands() -> list[DocCommand]:
    """Every command of README.md and docs/*.md, each variant once."""
    out: list[DocCommand] = []
    for path in DOCS:
        for lineno, text, python in _shell_lines(path):
            where = f"{path.relative_to(ROOT)}:{lineno}"
            if python:
                out.append(DocCommand(where, text, python=True))
                continue
            for part in text.split("&&"):
                out.extend(DocCommand(where, variant) for variant in _variants(part) if variant)
    return out


COMMANDS = doc_commands()


def _argv(command: DocCommand, run_id: str) -> list[str]:
    """What to execute for ``command``: placeholders filled in, budgets small."""
    if command.python:
        code = re.sub(r"\bbudget=\d+", f"budget={SMALL_BUDGET}", command.text)
        return [sys.executable, "-c", code]
    words = [PLACEHOLDERS.get(w, run_id if w == "RUN" else w) for w in shlex.split(command.text)]
    unknown = [w for w in words if re.fullmatch(r"[A-Z][A-Z_]*", w)]
    if unknown:
        raise AssertionError(f"{command.where}: `{command.text}` uses {unknown[0]}, which this test does not "
                             f"know: add it to PLACEHOLDERS, or a rule with its reason to SKIP")
    if words[:2] == ["discover", "run"]:
        if "--budget" in words:
            words[words.index("--budget") + 1] = SMALL_BUDGET
        else:
            words += ["--budget", SMALL_BUDGET]
    if words[0] == "discover":
        return [sys.executable, "-m", "discovery.cli", *words[1:]]
    if words[0] == "python":
        return [sys.executable, *words[1:]]
    raise AssertionError(f"{command.where}: `{command.text}`: no rule runs {words[0]!r} here; add one to SKIP")


@pytest.fixture(scope="module")
def outcomes(tmp_path_factory: pytest.TempPathFactory) -> dict[DocCommand, subprocess.CompletedProcess[str]]:
    """Run every command that is not skipped, two at a time, in two runs folders so that the
    order is fixed where it matters: commands naming RUN act on a run of their own folder,
    one after another in the docs' order; those that start runs, then those that act on the
    latest run, share the other folder."""
    tmp = tmp_path_factory.mktemp("docs")
    named, latest = tmp / "named" / "runs", tmp / "latest" / "runs"

    def execute(argv: list[str], runs: Path) -> subprocess.CompletedProcess[str]:
        env = {**os.environ, "PYTHONPATH": str(ROOT), "DISCOVER_RUNS_DIR": str(runs),
               "DISCOVER_WORKSPACE": "local", "LITELLM_LOCAL_MODEL_COST_MAP": "True"}
        env.pop("DISCOVER_MODEL", None)
        # The repository root, where the docs' relative paths (examples/...) point.
        return subprocess.run(argv, cwd=ROOT, env=env, capture_output=True, text=True, timeout=180)

    def in_turn(commands: list[DocCommand], runs: Path, run_id: str) -> list[subprocess.CompletedProcess[str]]:
        return [execute(_argv(c, run_id), runs) for c in commands]

    todo = [c for c in COMMANDS if c.skip_reason is None]
    starters = [c for c in todo if c.creates_runs]
    naming = [c for c in todo if not c.creates_runs and "RUN" in shlex.split(c.text)]
    rest = [c for c in todo if c not in starters and c not in naming]
    with ThreadPoolExecutor(max_workers=2) as pool:
        first = pool.submit(execute, [sys.executable, "-m", "discovery.cli", "run", str(IDEA), "--budget",
                                      SMALL_BUDGET, "--quiet"], named)
        started = list(pool.map(lambda c: execute(_argv(c, "RUN"), latest), starters))
        assert first.result().returncode == 0, first.result().stderr
        from runs.store import RunStore

        run_id = RunStore(named, readonly=True).resolve_run(None)  # what RUN stands for
        lanes = pool.submit(in_turn, naming, named, run_id), pool.submit(in_turn, rest, latest, run_id)
        return {**dict(zip(starters, started)), **dict(zip(naming, lanes[0].result())),
                **dict(zip(rest, lanes[1].result()))}


def test_the_docs_show_commands_and_each_is_run_or_skipped_for_a_reason() -> None:
    texts = [c.text for c in COMMANDS]
    assert any(t.startswith("discover run ") for t in texts) and any(c.python for c in COMMANDS)
    todo = [c for c in COMMANDS if c.skip_reason is None]
    assert len(todo) >= 10
    for command in todo:
        _argv(command, "20260101-000000-run")  # every placeholder known, every program has a rule


def test_the_extraction_itself() -> None:
    assert _variants("discover fork RUN --node N [--subtree|--all] [--budget B]   # a comment") == [
        "discover fork RUN --node N", "discover fork RUN --node N --subtree --budget B"]
    assert _variants("pip install -e '.[ray]'") == ["pip install -e .[ray]"]
    argv = _argv(DocCommand("x.md:1", "discover run idea.md --budget 30 --policy P"), "r")
    assert argv[1:] == ["-m", "discovery.cli", "run", str(IDEA), "--budget", SMALL_BUDGET, "--policy", "greedy"]
    with pytest.raises(AssertionError, match="uses HOST_IP, which this test does not know"):
        _argv(DocCommand("x.md:1", "discover run idea.md --ray-address HOST_IP"), "r")
    with pytest.raises(AssertionError, match="no rule runs 'make'"):
        _argv(DocCommand("x.md:1", "make all"), "r")
    assert DocCommand("x.md:1", "discover run idea.md --model openai/x").skip_reason == \
        "needs a language model and its API key"


@pytest.mark.slow
@pytest.mark.parametrize("command", COMMANDS, ids=[f"{c.where} {c.text.splitlines()[0][:60]}" for c in COMMANDS])
def test_doc_command_runs(command: DocCommand, outcomes: dict[DocCommand, subprocess.CompletedProcess[str]]) -> None:
    if command.skip_reason:
        pytest.skip(command.skip_reason)
    done = outcomes[command]
    shown = f"{command.where}: `{command.text}` exited {done.returncode}\n{done.stdout[-2000:]}\n{done.stderr[-2000:]}"
    assert done.returncode == 0, shown
    assert "Traceback" not in done.stderr, shown


def test_every_command_is_in_the_readme_and_every_documented_command_exists() -> None:
    from discovery.cli import build_parser

    parser = build_parser()
    commands = set(parser._subparsers._group_actions[0].choices)  # noqa: SLF001
    readme = (ROOT / "README.md").read_text()
    use = readme[readme.index("## Use"):]
    assert {c for c in commands if f"discover {c}" not in use} == set()
    documented = {shlex.split(c.text)[1] for c in COMMANDS
                  if not c.python and c.text.startswith("discover ") and len(c.text.split()) > 1}
    assert documented - commands == set()


def test_every_python_api_keyword_is_documented() -> None:
    from discovery.api import _RUN_KEYWORDS
    from runs.models import RunConfig

    table = (ROOT / "docs" / "api.md").read_text()
    missing = [k for k in [*RunConfig.model_fields, *_RUN_KEYWORDS] if f"| `{k}` |" not in table]
    assert missing == [], f"docs/api.md lacks a row for {missing}"


def test_docs_claim_nothing_the_code_does_not_do() -> None:
    docker = (ROOT / "docs" / "docker.md").read_text()
    assert "pulled once" not in docker and "is not pulled" in docker
    everything = "\n".join(p.read_text() for p in DOCS)
    assert "unique part of it" not in everything  # run ids: any part that names one run
    assert "discover stop" in everything
