"""`discover bench` on two tiny tasks: one run per task x policy x seed, a CSV, a table of mean +- SE, a plot."""

from __future__ import annotations

import csv
import statistics
from pathlib import Path

import pytest

from discovery.bench import mean_se, parse_seeds
from discovery.cli import main
from discovery.config import ConfigError
from runs.store import RunStore
from tests.discovery.task_kit import classify_task, regress_task


def test_mean_and_standard_error() -> None:
    assert mean_se([]) is None and mean_se([2.0]) == (2.0, 0.0)
    mean, se = mean_se([1.0, 2.0, 4.0])
    assert mean == pytest.approx(7 / 3) and se == pytest.approx(statistics.stdev([1, 2, 4]) / 3 ** 0.5)
    assert parse_seeds("3") == [0, 1, 2] and parse_seeds("4,9") == [4, 9]
    with pytest.raises(ConfigError, match="--seeds"):
        parse_seeds("x")


@pytest.mark.slow
def test_bench_on_two_tiny_tasks(tmp_path: Path, capsys) -> None:  # noqa: ANN001
    a, b = classify_task(tmp_path / "threshold"), regress_task(tmp_path / "slope")
    out = tmp_path / "out"
    code = main(["--runs-dir", str(tmp_path / "runs"), "bench", str(a), str(b), "--policies", "greedy,bfts",
                 "--seeds", "2", "--budget", "3", "--workers", "1", "--workspace", "local", "--out", str(out)])
    assert code == 0
    rows = list(csv.DictReader(open(out / "bench.csv")))
    assert len(rows) == 8
    assert {(r["task"], r["policy"], r["seed"]) for r in rows} == {
        (t, p, s) for t in ("threshold", "slope") for p in ("greedy", "bfts") for s in ("0", "1")}
    store = RunStore(tmp_path / "runs", readonly=True)
    for r in rows:
        run = store.get_run(r["run_id"])  # each combination is an ordinary stored run
        assert run.config.policy == r["policy"] and run.config.seed == int(r["seed"]) and run.status == "finished"
        assert int(r["nodes"]) == 3 and r["test"] != ""
        test = [e for e in store.evaluations(run.id) if e.kind == "test"][0]
        assert float(r["test"]) == pytest.approx(test.metric)
    table = (out / "bench.md").read_text()
    for task, policy in (("threshold", "greedy"), ("slope", "bfts")):
        tests = [float(r["test"]) for r in rows if r["task"] == task and r["policy"] == policy]
        mean, se = mean_se(tests)
        assert f"| {task} | " in table and f"{mean:.4g} ± {se:.2g}" in table
    assert "| threshold | accuracy ↑ | greedy | offline | 2 |" in table
    assert "| slope | rmse ↓ | bfts | offline | 2 |" in table
    assert (out / "bench.png").stat().st_size > 5000
    printed = capsys.readouterr()
    assert table in printed.out and "bench: threshold greedy offline seed 0: accuracy validation" in printed.err


def test_bench_refuses_an_unknown_policy_in_one_line(tmp_path: Path, capsys) -> None:  # noqa: ANN001
    a = classify_task(tmp_path / "threshold")
    assert main(["--runs-dir", str(tmp_path / "runs"), "bench", str(a), "--policies", "mcts,annealing"]) == 2
    err = capsys.readouterr().err
    assert err == "discover: error: --policies: unknown policy 'annealing' (choose from adaptive, mcts, greedy, bfts, drafts)\n"
