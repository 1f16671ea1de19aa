"""Grade the chosen node once on the private test answers, after the search.

The node's submission holds predictions for the mixed test file; its real test rows are
mapped back to the task's own ids and written in the task's format to
``runs/<run>/task/final/submission.csv``, which is graded against ``private/`` (and placed
on the leaderboard when the task has one). An AIDE task has no answers: the final
submission is still written, and only the validation score is known.
"""

from __future__ import annotations

import time
from pathlib import Path

from discovery.tasks.leaderboard import read_leaderboard, standing
from discovery.tasks.scoring import Scorer
from discovery.tasks.split import load
from discovery.tasks.submission import SubmissionError
from discovery.tasks.table import read_table, write_table
from runs.models import Evaluation, NodeStatus, Run

FINAL_DIR = "final"


def grade_chosen(run: Run, run_dir: Path, node_id: int, node_dir: Path) -> Evaluation:
    """The chosen node's test grade as an Evaluation (kind ``test``); its metrics hold the
    validation score, the final submission's path and, with a leaderboard, the standing."""
    task = run.idea.task
    assert task is not None
    metric = run.idea.metric
    served = load(task, run_dir / "task")
    scorer = Scorer(task, served, metric.name, metric.direction)

    def outcome(status: NodeStatus, value: float | None = None, error: str | None = None, **metrics: object
                ) -> Evaluation:
        return Evaluation(run_id=run.id, node_id=node_id, kind="test", status=status, metric=value, metrics=metrics,
                          error=error, created_at=time.time())

    try:
        validation, rows = scorer.validation(node_dir)
    except SubmissionError as exc:
        return outcome(NodeStatus.buggy, error=str(exc))
    sample = read_table(task.sample_submission)
    id_at = sample.column(task.id_column)
    opaque_of = {source: opaque for opaque, source in served.test_ids.items()}
    out_rows, predictions = [], {}
    for row in sample.rows:
        values = rows[opaque_of[row[id_at]]]
        predictions[row[id_at]] = values
        row = list(row)
        for target, value in zip(task.targets, values):
            row[sample.column(target)] = value
        out_rows.append(row)
    final = run_dir / "task" / FINAL_DIR / "submission.csv"
    write_table(final, sample.header, out_rows)
    facts: dict[str, object] = {"validation": validation, "submission": str(final), "test_rows": len(out_rows)}
    if not task.answers:
        return outcome(NodeStatus.good, None, None, **facts, note="no private answers: the test rows are not graded")
    try:
        if scorer.grader.metric is not None:
            answers = read_table(task.answers)
            truth = {r[answers.column(task.id_column)]: [r[answers.column(t)] for t in task.targets]
                     for r in answers.rows}
            test = scorer.grader.score(list(predictions), truth, predictions)
        else:
            test = scorer.grader.grade_files(final, Path(task.answers))
    except SubmissionError as exc:
        return outcome(NodeStatus.buggy, None, str(exc), **facts)
    if task.leaderboard:
        place = standing(read_leaderboard(task.leaderboard), test, metric.direction)
        facts.update(rank=place.rank, of=place.of, beats=place.beats, medal=place.medal, thresholds=place.thresholds)
    return outcome(NodeStatus.good, test, None, **facts)
