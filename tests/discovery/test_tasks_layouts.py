"""Task folders: the AIDE and MLE-bench layouts parsed into ideas, bad folders refused in one line."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from discovery.cli import main
from discovery.idea import IdeaError, load_idea
from tests.discovery.task_kit import aide_folder, classify_task


def test_mlebench_folder_becomes_an_idea(tmp_path: Path) -> None:
    folder = classify_task(tmp_path / "comp")
    idea = load_idea(folder)
    task = idea.task
    assert idea.title == "Tiny threshold task" and idea.metric.name == "accuracy"
    assert idea.metric.direction == "maximize"
    assert idea.hypothesis.startswith("Predict the label") and "Accuracy" in idea.experiments
    assert "## Data description" in idea.body and "score_limit" not in idea.body  # front matter is not prose
    assert idea.baseline and "THRESHOLD = 0.5" in idea.baseline and list(idea.search_space) == ["THRESHOLD"]
    assert idea.data == []  # nodes get the served files, decided when the run starts
    assert task.layout == "mlebench" and task.id_column == "id" and task.targets == ["label"]
    assert task.answers == str(folder / "private" / "answers.csv")
    assert task.leaderboard == str(folder / "leaderboard.csv") and task.score_limit == 1.0
    assert task.metric == "accuracy" and task.grader is None and task.split_hash is None
    assert idea.source == str(folder)


def test_aide_folder_with_goal_and_eval_flags(tmp_path: Path) -> None:
    folder = aide_folder(tmp_path / "aide")
    idea = load_idea(folder, goal="Predict the label.", evaluation="Classification accuracy on the test rows.")
    assert idea.task.layout == "aide" and idea.task.answers is None
    assert idea.metric.name == "accuracy"  # named in the evaluation text
    assert idea.hypothesis == "Predict the label." and "## Evaluation" in idea.body
    assert idea.task.extra_public == [str(folder / "notes.txt")]


def test_aide_folder_with_a_description_file_and_metric_flag(tmp_path: Path) -> None:
    folder = aide_folder(tmp_path / "aide")
    (folder / "description.md").write_text("# Labels\n\n## Goal\n\nGuess labels.\n\n## Evaluation\n\nHow right.\n\n"
                                           "## Data description\n\nTwo features.\n")
    idea = load_idea(folder, metric="f1")
    assert idea.title == "Labels" and idea.metric.name == "f1" and idea.hypothesis == "Guess labels."
    assert "Two features." in idea.body
    # --goal overrides the file's section; --desc names the file explicitly
    other = tmp_path / "desc.md"
    other.write_text("## Goal\n\nFrom the flag file.\n\n## Evaluation\n\nmean absolute error\n")
    assert load_idea(folder, desc=other).hypothesis == "From the flag file."


def test_grade_py_names_the_direction(tmp_path: Path) -> None:
    folder = classify_task(tmp_path / "comp")
    text = (folder / "description.md").read_text().replace("metric: accuracy\n", "metric: agreement\n")
    (folder / "description.md").write_text(text)
    (folder / "private" / "grade.py").write_text(
        "DIRECTION = 'maximize'\n\ndef grade(submission, answers):\n    return 0.5\n")
    idea = load_idea(folder)
    assert idea.metric.name == "agreement" and idea.metric.direction == "maximize"
    assert idea.task.grader == str(folder / "private" / "grade.py") and idea.task.metric == idea.task.grader


def _break(kind: str, folder: Path) -> None:
    if kind == "no sample":
        (folder / "public" / "sample_submission.csv").unlink()
    elif kind == "no answers":
        (folder / "private" / "answers.csv").unlink()
    elif kind == "no description":
        (folder / "description.md").unlink()
    elif kind == "no private":
        shutil.rmtree(folder / "private")
    elif kind == "labelled test":
        text = (folder / "public" / "test.csv").read_text().splitlines()
        (folder / "public" / "test.csv").write_text(
            "\n".join([text[0] + ",label"] + [t + ",1" for t in text[1:]]) + "\n")
    elif kind == "no metric":
        (folder / "description.md").write_text("# T\n\n## Goal\n\nPredict.\n")
    elif kind == "unknown metric":
        text = (folder / "description.md").read_text().replace("metric: accuracy", "metric: kappa")
        (folder / "description.md").write_text(text)
    elif kind == "bad leaderboard":
        (folder / "leaderboard.csv").write_text("team,points\na,1\n")
    elif kind == "answers miss ids":
        lines = (folder / "private" / "answers.csv").read_text().splitlines()
        (folder / "private" / "answers.csv").write_text("\n".join(lines[:-1]) + "\n")
    elif kind == "metric twice":
        text = (folder / "description.md").read_text().replace("metric: accuracy", "metric: accuracy\nmetric: f1")
        (folder / "description.md").write_text(text)
    elif kind == "grade.py without grade":
        (folder / "private" / "grade.py").write_text("DIRECTION = 'maximize'\n")


@pytest.mark.parametrize(("kind", "message"), [
    ("no sample", "comp/public: no sample_submission.csv (the submission format"),
    ("no answers", "comp/private: no answers.csv"),
    ("no description", "comp: no description.md"),
    ("no private", "comp: no private/ folder"),
    ("labelled test", "comp/public/test.csv: has the target column 'label'"),
    ("no metric", "comp: no metric: name one"),
    ("unknown metric", "metric 'kappa' is not a standard metric"),
    ("bad leaderboard", "leaderboard.csv: no 'score' column"),
    ("answers miss ids", "comp/private/answers.csv: 1 ids of test.csv missing"),
    ("grade.py without grade", "comp/private/grade.py: defines no grade(submission_csv, answers_csv) function"),
    ("metric twice", "comp/description.md: front matter: 'metric' is given twice"),
])
def test_bad_mlebench_folder_is_one_line_and_exit_2(tmp_path: Path, capsys, monkeypatch, kind: str,
                                                     message: str) -> None:
    folder = classify_task(tmp_path / "comp")
    _break(kind, folder)
    monkeypatch.chdir(tmp_path)
    assert main(["--runs-dir", str(tmp_path / "runs"), "run", "comp", "--budget", "1"]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and err.startswith("discover: error: "), err
    assert message in err, err
    assert not (tmp_path / "runs").exists()  # refused before anything was stored


@pytest.mark.parametrize(("args", "message"), [
    ([], "aide: no goal: pass --goal TEXT"),
    (["--goal", "g"], "aide: no metric: name one"),
    (["--goal", "g", "--eval", "rmse or maybe mae"], "names several metrics (rmse, mae); pass --metric NAME"),
])
def test_bad_aide_folder_is_one_line_and_exit_2(tmp_path: Path, capsys, monkeypatch, args: list[str],
                                                message: str) -> None:
    aide_folder(tmp_path / "aide")
    monkeypatch.chdir(tmp_path)
    assert main(["--runs-dir", str(tmp_path / "runs"), "run", "aide", *args]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and message in err, err


def test_aide_folder_missing_its_test_file(tmp_path: Path) -> None:
    folder = aide_folder(tmp_path / "aide")
    (folder / "test.csv").unlink()
    with pytest.raises(IdeaError, match=r"aide: no test.csv \(the rows to predict, without labels\)"):
        load_idea(folder, goal="g", evaluation="accuracy")


def test_goal_flag_on_an_idea_file_is_refused(tmp_path: Path) -> None:
    idea = tmp_path / "idea.md"
    idea.write_text("---\ntitle: t\nmetric: m\n---\n# t\n")
    with pytest.raises(IdeaError, match="--goal: only for a task folder"):
        load_idea(idea, goal="g")
