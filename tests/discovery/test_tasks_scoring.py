"""The pieces of a task's scoring: metrics, submission checks, the hidden split, guards, grading."""

from __future__ import annotations

import json
import os
import random
from pathlib import Path

import pytest

from discovery.idea import load_idea
from discovery.tasks.grader import Grader, review
from discovery.tasks.grading import grade_chosen
from discovery.tasks.leaderboard import medal_ranks, standing
from discovery.tasks.metrics import METRICS, score
from discovery.tasks.scoring import Scorer
from discovery.tasks.split import SplitError, load, prepare
from discovery.tasks.submission import SubmissionError, check_submission
from discovery.tasks.table import read_table, write_table
from runs.models import NodeStatus, Run, RunConfig
from tests.discovery.task_kit import classify_task, regress_task

sklearn = pytest.importorskip("sklearn.metrics")


# -- metrics ---------------------------------------------------------------------------------

def test_metrics_agree_with_scikit_learn() -> None:
    rng = random.Random(3)
    labels = [rng.choice("01") for _ in range(200)]
    scores = [round(rng.random(), 2) for _ in range(200)]  # rounded: ties, which AUC must average
    guesses = [rng.choice("01") for _ in range(200)]
    values = [rng.gauss(0, 3) for _ in range(200)]
    preds = [v + rng.gauss(0, 1) for v in values]

    def rows(xs: list) -> list[list[str]]:
        return [[str(x)] for x in xs]

    y = [int(v) for v in labels]
    assert score(METRICS["auc"], rows(labels), rows(scores)) == pytest.approx(sklearn.roc_auc_score(y, scores))
    assert score(METRICS["accuracy"], rows(labels), rows(guesses)) == pytest.approx(
        sklearn.accuracy_score(labels, guesses))
    assert score(METRICS["f1"], rows(labels), rows(guesses)) == pytest.approx(
        sklearn.f1_score(y, [int(g) for g in guesses]))
    assert score(METRICS["logloss"], rows(labels), rows(scores)) == pytest.approx(
        sklearn.log_loss(y, [min(max(s, 1e-15), 1 - 1e-15) for s in scores]))
    assert score(METRICS["rmse"], rows(values), rows(preds)) == pytest.approx(
        sklearn.mean_squared_error(values, preds) ** 0.5)
    assert score(METRICS["mae"], rows(values), rows(preds)) == pytest.approx(sklearn.mean_absolute_error(values, preds))
    assert score(METRICS["r2"], rows(values), rows(preds)) == pytest.approx(sklearn.r2_score(values, preds))
    # labels compare by value: 3 and 3.0 are the same class
    assert score(METRICS["accuracy"], [["3"], ["a"]], [["3.0"], ["a "]]) == 1.0


# -- submission checks -----------------------------------------------------------------------

SAMPLE_ROWS = [["1", "0"], ["2", "0"], ["3", "0"]]


def _sample(tmp_path: Path):
    write_table(tmp_path / "sample.csv", ["id", "label"], SAMPLE_ROWS)
    return read_table(tmp_path / "sample.csv")


@pytest.mark.parametrize(("content", "message"), [
    (None, "no submission.csv written: write one row per row of data/test.csv"),
    ("id,pred\n1,1\n2,1\n3,1\n", "columns missing label; unexpected pred"),
    ("id,label\n1,1\n2,1\n", "2 rows, but data/test.csv has 3"),
    ("id,label\n1,1\n1,1\n3,1\n", "id '1' appears twice"),
    ("id,label\n1,1\n2,1\n9,1\n", "ids differ from data/sample_submission.csv: 1 unknown (e.g. '9'), 1 missing (e.g. '3')"),
    ("id,label\n1,1\n2,x\n3,1\n", "the row with id '2' has label 'x', not a number"),
    ("id,label\n1,1\n2,\n3,1\n", "the row with id '2' has no label"),
    ("id,label\n1,0\n2,0.0\n3,0\n", "repeats the placeholder values of sample_submission.csv in 3 of 3 rows"),
    ("id,label\n1,1,5\n", "line 2 has 3 fields"),
])
def test_bad_submissions_say_what_is_wrong(tmp_path: Path, content: str | None, message: str) -> None:
    sample = _sample(tmp_path)
    path = tmp_path / "submission.csv"
    if content is not None:
        path.write_text(content)
    with pytest.raises(SubmissionError) as caught:
        check_submission(path, sample, "id", ["label"], numeric=True)
    assert message in str(caught.value)
    assert "\n" not in str(caught.value)


def test_a_good_submission_in_any_row_and_column_order(tmp_path: Path) -> None:
    sample = _sample(tmp_path)
    path = tmp_path / "submission.csv"
    path.write_text("label,id\n0.9,3\n0.1,1\n0.7,2\n")
    assert check_submission(path, sample, "id", ["label"], numeric=True).rows == {
        "3": ["0.9"], "1": ["0.1"], "2": ["0.7"]}


def test_a_linked_submission_is_refused(tmp_path: Path) -> None:
    sample = _sample(tmp_path)
    target = tmp_path / "elsewhere.csv"
    target.write_text("id,label\n1,1\n2,1\n3,1\n")
    os.symlink(target, tmp_path / "submission.csv")
    with pytest.raises(SubmissionError, match="is a link"):
        check_submission(tmp_path / "submission.csv", sample, "id", ["label"], numeric=True)


# -- the hidden split -----------------------------------------------------------------------

def test_split_holds_rows_back_and_mixes_them_into_test(tmp_path: Path) -> None:
    idea = load_idea(classify_task(tmp_path / "comp", n_train=60, n_test=30))
    served = prepare(idea.task, tmp_path / "run" / "task", seed=7)
    train = read_table(idea.task.train)
    public = tmp_path / "run" / "task" / "public"
    served_train, served_test = read_table(public / "train.csv"), read_table(public / "test.csv")
    sample = read_table(public / "sample_submission.csv")
    val = served.val_ids
    assert len(val) == 12 and len(served_train.rows) == 48  # 20% of 60 held back
    assert len(served_test.rows) == 42 == len(sample.rows) and "label" not in served_test.header
    # stratified: both classes among the held-back rows
    assert len({v[0] for v in served.val_answers.values()}) == 2
    # the held-back rows' features are in the test file, under opaque ids, and not in the served train
    held = [train.rows[int(served.kinds[i][1])] for i in val]
    served_features = {tuple(r[1:3]) for r in served_test.rows}
    assert all(tuple(r[1:3]) in served_features for r in held)
    assert not {tuple(r[1:3]) for r in held} & {tuple(r[1:3]) for r in served_train.rows}
    assert [r[0] for r in served_test.rows] == [str(k) for k in range(42)] == [r[0] for r in sample.rows]
    # the framework's answers and mapping are apart from what nodes get
    assert sorted(os.listdir(public)) == ["sample_submission.csv", "test.csv", "train.csv"]
    # the same seed draws the same split; another seed another
    again = prepare(idea.task, tmp_path / "again" / "task", seed=7)
    other = prepare(idea.task, tmp_path / "other" / "task", seed=8)
    assert again.split_hash == served.split_hash != other.split_hash


def test_stored_split_is_checked_against_the_run(tmp_path: Path) -> None:
    idea = load_idea(classify_task(tmp_path / "comp"))
    folder = tmp_path / "run" / "task"
    served = prepare(idea.task, folder, seed=1)
    task = idea.task.model_copy(update={"split_hash": served.split_hash, "split_seed": 1})
    assert prepare(task, folder, seed=99).split_hash == served.split_hash  # stored: the seed is not used again
    answers = folder / "private" / "val_answers.csv"
    lines = answers.read_text().splitlines()
    flipped = lines[1].rsplit(",", 1)
    lines[1] = f"{flipped[0]},{1 - int(flipped[1])}"
    answers.write_text("\n".join(lines) + "\n")
    with pytest.raises(SplitError, match="was edited"):
        load(task, folder)
    # a lost split is drawn again from the run's seed, and must come out the same
    import shutil

    shutil.rmtree(folder)
    assert prepare(task, folder, seed=1).split_hash == served.split_hash
    shutil.rmtree(folder)
    with pytest.raises(SplitError, match="differs from the one this run started with"):
        prepare(task, folder, seed=2)


# -- guards and the leaderboard --------------------------------------------------------------

def test_review_flags_perfect_and_impossible_scores(tmp_path: Path) -> None:
    task = load_idea(classify_task(tmp_path / "a", score_limit=None)).task
    grader = Grader(task, "accuracy", "maximize")
    assert "perfect validation accuracy (1) is suspicious" in review(1.0, grader, task)
    assert review(0.97, grader, task) is None
    allowed = task.model_copy(update={"score_limit": 1.0})
    assert review(1.0, grader, allowed) is None  # the task says perfection is reachable
    rtask = load_idea(regress_task(tmp_path / "b")).task
    rgrader = Grader(rtask, "rmse", "minimize")
    assert "better than 0.01, the best this task allows" in review(0.001, rgrader, rtask)
    assert review(0.5, rgrader, rtask) is None


def test_leaderboard_rank_and_medals() -> None:
    assert medal_ranks(20) == {"gold": 2, "silver": 4, "bronze": 8}
    assert medal_ranks(150) == {"gold": 10, "silver": 30, "bronze": 60}
    assert medal_ranks(500) == {"gold": 11, "silver": 50, "bronze": 100}
    assert medal_ranks(2000) == {"gold": 14, "silver": 100, "bronze": 200}
    scores = [0.1 * i for i in range(1, 21)]  # 0.1 .. 2.0, higher is better
    second = standing(scores, 1.95, "maximize")  # 2nd of 21: gold is the top 2
    assert (second.rank, second.of, second.medal) == (2, 21, "gold")
    assert second.thresholds["gold"] == pytest.approx(1.9) and second.thresholds["bronze"] == pytest.approx(1.3)
    third = standing(scores, 1.85, "maximize")
    assert (third.rank, third.medal, third.beats) == (3, "silver", pytest.approx(18 / 20))
    low = standing(scores, 0.05, "maximize")
    assert (low.rank, low.medal, low.beats) == (21, "none", 0.0)
    # minimize: smaller is better
    assert standing(scores, 0.15, "minimize").medal == "gold"
    assert standing(scores, 0.15, "minimize").rank == 2


# -- grading the chosen node -----------------------------------------------------------------

def test_grading_maps_test_rows_back_and_scores_on_private_answers(tmp_path: Path) -> None:
    idea = load_idea(classify_task(tmp_path / "comp"))
    run_dir = tmp_path / "runs" / "r1"
    served = prepare(idea.task, run_dir / "task", seed=0)
    task = idea.task.model_copy(update={"split_hash": served.split_hash, "split_seed": 0})
    run = Run(id="r1", idea=idea.model_copy(update={"task": task}), config=RunConfig(), created_at=0.0)
    answers = {r[0]: r[1] for r in read_table(idea.task.answers).rows}
    node = tmp_path / "node"
    node.mkdir()
    # right on every validation row; on the real test rows, right on exactly the first 20 (by test id)
    test_ids = sorted(served.test_ids.items(), key=lambda kv: kv[1])
    wrong = {opaque for opaque, source in test_ids[20:]}
    rows = []
    for opaque, (kind, source) in served.kinds.items():
        if kind == "val":
            rows.append([opaque, served.val_answers[opaque][0]])
        else:
            rows.append([opaque, str(1 - int(answers[source])) if opaque in wrong else answers[source]])
    write_table(node / "submission.csv", ["id", "label"], rows)
    evaluation = grade_chosen(run, run_dir, 3, node)
    assert evaluation.kind == "test" and evaluation.status == NodeStatus.good
    assert evaluation.metric == pytest.approx(20 / 30)
    assert evaluation.metrics["validation"] == 1.0
    assert evaluation.metrics["rank"] == 7 and evaluation.metrics["of"] == 9 and evaluation.metrics["medal"] == "none"
    final = read_table(evaluation.metrics["submission"])
    sample = read_table(idea.task.sample_submission)
    assert [r[0] for r in final.rows] == [r[0] for r in sample.rows]  # the task's own ids, in its order
    assert sum(answers[r[0]] == r[1] for r in final.rows) == 20
    # the node's score as the search saw it: the validation rows only
    scorer = Scorer(task, served, "accuracy", "maximize")
    assert scorer.validation(node)[0] == 1.0


def test_grade_py_grades_validation_and_test(tmp_path: Path) -> None:
    folder = classify_task(tmp_path / "comp")
    (folder / "private" / "grade.py").write_text(
        "import csv\nDIRECTION = 'maximize'\n"
        "def grade(submission, answers):\n"
        "    sub = {r['id']: r['label'] for r in csv.DictReader(open(submission))}\n"
        "    ans = {r['id']: r['label'] for r in csv.DictReader(open(answers))}\n"
        "    assert sub.keys() == ans.keys()\n"
        "    return sum(sub[k] == ans[k] for k in ans) / len(ans) * 100\n")
    idea = load_idea(folder)
    served = prepare(idea.task, tmp_path / "task", seed=0)
    node = tmp_path / "node"
    node.mkdir()
    write_table(node / "submission.csv", ["id", "label"],
                [[i, served.val_answers[i][0] if kind == "val" else "1"] for i, (kind, _) in served.kinds.items()])
    scorer = Scorer(idea.task, served, idea.metric.name, idea.metric.direction)
    assert scorer.validation(node)[0] == 100.0
    write_table(node / "submission.csv", ["id", "label"], [[i, "zz"] for i in served.kinds])
    assert scorer.validation(node)[0] == 0.0
    (folder / "private" / "grade.py").write_text("DIRECTION = 'maximize'\ndef grade(s, a):\n    raise ValueError(open(a).read())\n")
    with pytest.raises(SubmissionError) as caught:
        Scorer(idea.task, served, idea.metric.name, idea.metric.direction).validation(node)
    assert str(caught.value) == "the task's grade.py could not grade this submission (ValueError)"  # no answers quoted
    assert json.dumps(str(caught.value))
