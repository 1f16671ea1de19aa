"""Score predictions against true values: a standard metric, or the task's own private/grade.py.

grade.py is the task author's code: it runs in the orchestrator, never in a node, and is
called as ``grade(submission_csv_path, answers_csv_path) -> float`` with two CSVs of the
id column and the target columns.
"""

from __future__ import annotations

import importlib.util
import math
import tempfile
from pathlib import Path
from typing import Any

from discovery.tasks.metrics import MetricError, find_metric, score
from discovery.tasks.submission import SubmissionError
from discovery.tasks.table import write_table
from runs.models import TaskSpec


class Grader:
    """The task's metric, by name or by grade.py."""

    def __init__(self, task: TaskSpec, name: str, direction: str) -> None:
        self.task = task
        self.name = name
        self.direction = direction
        self.metric = None if task.grader else find_metric(task.metric)
        self._module: Any = None

    @property
    def numeric(self) -> bool:
        return bool(self.metric and self.metric.numeric)

    @property
    def perfect(self) -> float | None:
        return self.metric.perfect if self.metric else None

    def better(self, a: float, b: float) -> bool:
        return a > b if self.direction == "maximize" else a < b

    def score(self, ids: list[str], truth: dict[str, list[str]], pred: dict[str, list[str]]) -> float:
        """The metric of ``pred`` on the rows ``ids`` (SubmissionError when a prediction cannot be scored)."""
        if self.metric is not None:
            try:
                return score(self.metric, [truth[i] for i in ids], [pred[i] for i in ids])
            except MetricError as exc:
                where = f"the row with id {ids[exc.row]!r}: " if exc.row is not None else ""
                raise SubmissionError(f"submission.csv: {where}{exc}") from None
        with tempfile.TemporaryDirectory(prefix="discover-grade-") as tmp:
            header = [self.task.id_column, *self.task.targets]
            sub, ans = Path(tmp) / "submission.csv", Path(tmp) / "answers.csv"
            write_table(sub, header, [[i, *pred[i]] for i in ids])
            write_table(ans, header, [[i, *truth[i]] for i in ids])
            return self.grade_files(sub, ans)

    def grade_files(self, submission: Path, answers: Path) -> float:
        """grade.py on two files. Its errors are not shown: they could quote the answers."""
        try:
            value = float(self._grade_fn()(str(submission), str(answers)))
        except Exception as exc:  # the task's own code: any failure means this submission is unscorable
            raise SubmissionError(f"the task's grade.py could not grade this submission ({type(exc).__name__})"
                                  ) from None
        if not math.isfinite(value):
            raise SubmissionError(f"the task's grade.py gave {value} for this submission")
        return value

    def _grade_fn(self) -> Any:
        if self._module is None:
            spec = importlib.util.spec_from_file_location("discover_task_grade", self.task.grader or "")
            if spec is None or spec.loader is None:
                raise ImportError(self.task.grader)
            module = importlib.util.module_from_spec(spec)
            spec.loader.exec_module(module)
            self._module = module
        return self._module.grade


def review(value: float, grader: Grader, task: TaskSpec) -> str | None:
    """Why a validation score needs a person's look, or None: better than the task allows, or
    perfect where the task does not say perfection is reachable."""
    limit = task.score_limit
    if limit is not None and grader.better(value, limit):
        return f"validation {grader.name} {value:.6g} is better than {limit:g}, the best this task allows"
    perfect = grader.perfect
    if perfect is not None and value == perfect and limit != perfect:
        return (f"a perfect validation {grader.name} ({value:g}) is suspicious: look for leaked labels "
                "(the task sets no score_limit that allows it)")
    return None
