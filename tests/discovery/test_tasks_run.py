"""Task runs end to end: framework scores drive the search, the hidden split stays put, cheats are caught."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
from pathlib import Path

import pytest

from discovery.api import prepare_resume, run, run_async
from discovery.tasks.results import score_lines
from discovery.tasks.table import read_table
from runs.fork import fork_run
from runs.models import NodeStatus
from runs.store import RunStore
from tests.conftest import ROOT
from tests.discovery.task_kit import aide_folder, classify_task

ENV = {**os.environ, "PYTHONPATH": str(ROOT), "LITELLM_LOCAL_MODEL_COST_MAP": "True", "DISCOVER_WORKSPACE": "local"}


@pytest.fixture(scope="session")
def digits(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The shipped digits task, built by its script from scikit-learn's bundled data."""
    pytest.importorskip("sklearn")
    out = tmp_path_factory.mktemp("shipped")
    done = subprocess.run([sys.executable, str(ROOT / "examples" / "tasks" / "build.py"), "digits", "--out", str(out)],
                          capture_output=True, text=True, env=ENV, timeout=300)
    assert done.returncode == 0, done.stderr
    return out / "digits"


@pytest.mark.slow
def test_shipped_task_end_to_end_prints_validation_and_test(digits: Path, tmp_path: Path) -> None:
    board = read_table(digits / "leaderboard.csv")
    assert len(board.rows) >= 15 and {"teamName", "score"} <= set(board.header)
    scores = sorted(float(s) for s in board.values("score"))
    assert scores[0] < 0.2 and scores[-1] > 0.95  # a spread, from a constant guess to a tuned model
    done = subprocess.run([sys.executable, "-m", "discovery.cli", "run", str(digits), "--budget", "4", "--workers", "2",
                           "--quiet"], cwd=tmp_path, env=ENV, capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr
    out = done.stdout
    assert "validation accuracy 0." in out and "held-back rows" in out and "test accuracy 0." in out, out
    assert "leaderboard: rank" in out and "isolation: landlock" in out, out
    store = RunStore(tmp_path / "runs", readonly=True)
    run_id = store.resolve_run(None)
    r = store.get_run(run_id)
    best = store.get_node(run_id, r.best_node_id)
    assert best.metric > 0.8 and isinstance(best.metrics["self_reported"]["accuracy"], float)
    assert best.metrics["validation_rows"] == 250
    test = [e for e in store.evaluations(run_id) if e.kind == "test"]
    assert len(test) == 1 and test[0].node_id == best.id and 0.8 < test[0].metric <= 1
    assert f"{test[0].metric:.6g}" in out and f"{best.metric:.6g}" in out
    final = read_table(test[0].metrics["submission"])
    assert sorted(r[0] for r in final.rows) == sorted(read_table(digits / "public" / "test.csv").values("id"))
    report = (tmp_path / "runs" / run_id / "report" / "report.md").read_text()
    assert "Test `accuracy` on the private answers" in report and "Leaderboard: rank" in report
    # every node got the served files, none of the task's own
    node_dir = store.node_dir(run_id, best.id)
    links = {p.name: os.readlink(p) for p in (node_dir / "data").iterdir()}
    assert set(links) == {"train.csv", "test.csv", "sample_submission.csv"}
    assert all(str((tmp_path / "runs" / run_id / "task" / "public").resolve()) in t for t in links.values())


@pytest.mark.slow
def test_hidden_split_is_constant_across_resume_and_fork(tmp_path: Path) -> None:
    task = classify_task(tmp_path / "comp")
    runs = tmp_path / "runs"
    first = run(task, runs_dir=runs, budget=2, workers=1, seed=4, workspace="local")
    store = RunStore(runs)
    idea = store.get_run(first.run_id).idea
    split = idea.task.split_hash
    assert split and idea.task.split_seed == 4 and idea.data[0].endswith("/task/public/train.csv")
    folder = runs / first.run_id / "task"
    before = {p.relative_to(folder): p.read_bytes() for p in folder.rglob("*.csv") if "final" not in p.parts}
    resumed, lock = prepare_resume(store, first.run_id, budget=5)
    asyncio.run(run_async(store, resumed, lock=lock))
    after = {p.relative_to(folder): p.read_bytes() for p in folder.rglob("*.csv") if "final" not in p.parts}
    assert after == before
    nodes = store.nodes(first.run_id)
    assert len(nodes) == 5 and store.get_run(first.run_id).idea.task.split_hash == split
    assert {n.metrics.get("validation_rows") for n in nodes if n.status == NodeStatus.good} == {12}
    # the same node code scores the same after the resume: the metric is a function of the split alone
    by_params = {}
    for n in nodes:
        if n.status == NodeStatus.good:
            by_params.setdefault(repr(n.params), set()).add(n.metric)
    assert all(len(v) == 1 for v in by_params.values())
    fork_id = fork_run(store, first.run_id, nodes[-1].id, "path", budget=1)
    forked, lock = prepare_resume(store, fork_id)
    asyncio.run(run_async(store, forked, lock=lock))
    assert store.get_run(fork_id).idea.task.split_hash == split
    fork_folder = runs / fork_id / "task"
    assert (fork_folder / "private" / "mapping.csv").read_bytes() == before[Path("private/mapping.csv")]
    store.close()


CHEATS_BASELINE = '''import csv, shutil
MODE = "noisy"
if MODE == "copy":
    shutil.copy("data/sample_submission.csv", "submission.csv")
else:
    test = list(csv.DictReader(open("data/test.csv")))
    with open("submission.csv", "w") as f:
        f.write("id,label\\n")
        for i, r in enumerate(test):
            guess = int(float(r["x0"]) > 0)
            if MODE == "noisy" and i % 4 == 0:
                guess = 1 - guess
            f.write(f"{r['id']},{guess}\\n")
'''


def test_copied_and_too_perfect_submissions_are_caught(tmp_path: Path) -> None:
    folder = classify_task(tmp_path / "comp", noise=0.0, score_limit=None)  # label = (x0 > 0), exactly
    (folder / "baseline.py").write_text(CHEATS_BASELINE)
    text = (folder / "description.md").read_text().replace("  THRESHOLD: [-1.0, -0.5, 0.0, 0.5, 1.0]",
                                                           '  MODE: ["noisy", "copy", "perfect"]')
    (folder / "description.md").write_text(text)
    result = run(folder, runs_dir=tmp_path / "runs", budget=3, workers=1, workspace="local", write_report=False)
    store = RunStore(tmp_path / "runs", readonly=True)
    by_mode = {n.params["MODE"]: n for n in store.nodes(result.run_id)}
    assert set(by_mode) == {"noisy", "copy", "perfect"}
    copy, perfect, noisy = by_mode["copy"], by_mode["perfect"], by_mode["noisy"]
    assert copy.status == NodeStatus.buggy and "repeats the placeholder values of sample_submission.csv" in copy.error
    assert perfect.status == NodeStatus.flagged and perfect.metric == 1.0
    assert perfect.error.startswith("flagged for review: a perfect validation accuracy (1) is suspicious")
    assert noisy.status == NodeStatus.good and noisy.metric < 1.0
    assert result.best_node_id == noisy.id  # a flagged node is never the best


def test_aide_task_runs_with_validation_only(tmp_path: Path) -> None:
    folder = aide_folder(tmp_path / "aide")
    source = classify_task(tmp_path / "src")
    (folder / "baseline.py").write_text((source / "baseline.py").read_text())
    (folder / "description.md").write_text(
        "---\nbaseline: baseline.py\nsearch_space:\n  THRESHOLD: [-0.5, 0.0, 0.5]\n---\n# Flat\n\n## Goal\n\n"
        "Predict the label.\n\n## Evaluation\n\nAccuracy.\n")
    result = run(folder, runs_dir=tmp_path / "runs", budget=2, workers=1, workspace="local", write_report=False)
    store = RunStore(tmp_path / "runs", readonly=True)
    run_id = result.run_id
    shown = "\n".join(score_lines(store, run_id))
    assert "task (aide): accuracy" in shown and "validation accuracy" in shown
    assert "test: no private answers in an AIDE task" in shown
    test = [e for e in store.evaluations(run_id) if e.kind == "test"][0]
    assert test.metric is None and Path(test.metrics["submission"]).is_file()
    assert store.get_run(run_id).idea.task.extra_public == [str(folder / "notes.txt")]
