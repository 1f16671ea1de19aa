"""Score every node of a task run on the hidden validation split: the framework's number, not the node's.

``TaskWorkspace`` wraps the run's workspace. It confines each node (``ExecRequest.confine``),
removes a stale submission before it runs, and afterwards checks ``submission.csv`` and
replaces the node's metrics with the framework's validation score; the node's own
``metrics.json`` is kept under ``self_reported``. Seed re-runs go through it too.
"""

from __future__ import annotations

import asyncio
import shutil
from pathlib import Path
from typing import Any

from discovery.tasks.grader import Grader, review
from discovery.tasks.split import Served
from discovery.tasks.submission import SUBMISSION, SubmissionError, check_submission
from runs.models import TaskSpec
from workspace.base import ExecRequest, ExecResult


class Scorer:
    """Scores one node folder's submission on the run's hidden validation rows."""

    def __init__(self, task: TaskSpec, served: Served, name: str, direction: str) -> None:
        self.task = task
        self.served = served
        self.grader = Grader(task, name, direction)

    def validation(self, workdir: Path) -> tuple[float, dict[str, list[str]]]:
        """(validation score, the submission's rows by opaque id); SubmissionError when unusable."""
        sub = check_submission(workdir / SUBMISSION, self.served.sample, self.task.id_column, self.task.targets,
                               numeric=self.grader.numeric)
        ids = self.served.val_ids
        return self.grader.score(ids, self.served.val_answers, sub.rows), sub.rows

    def apply(self, workdir: Path, result: ExecResult) -> ExecResult:
        """``result`` with the framework's metrics (or the reason there are none)."""
        if result.cancelled or result.timed_out or result.oom_killed or result.exit_code != 0:
            return result
        try:
            value, _ = self.validation(workdir)
        except SubmissionError as exc:
            return result.model_copy(update={"metrics": None, "metrics_error": str(exc)})
        metrics: dict[str, Any] = {self.grader.name: value, "validation_rows": len(self.served.val_ids)}
        if result.metrics is not None:
            metrics["self_reported"] = result.metrics
        elif result.metrics_error and "no metrics.json" not in result.metrics_error:
            metrics["self_reported_error"] = result.metrics_error
        return result.model_copy(update={"metrics": metrics, "metrics_error": None,
                                         "review": review(value, self.grader, self.task)})


class TaskWorkspace:
    """The run's workspace, with every execution confined and scored by ``scorer``."""

    def __init__(self, inner: Any, scorer: Scorer) -> None:
        self.inner = inner
        self.scorer = scorer

    @property
    def name(self) -> str:
        return self.inner.name

    def __getattr__(self, item: str) -> Any:
        # kill_all, cluster, num_gpus...: whatever the wrapped backend offers.
        return getattr(self.inner, item)

    async def execute(self, request: ExecRequest) -> ExecResult:
        stale = request.workdir / SUBMISSION
        if stale.is_symlink() or stale.is_file():
            stale.unlink()
        elif stale.is_dir():
            shutil.rmtree(stale)
        result = await self.inner.execute(request.model_copy(update={"confine": True}))
        return await asyncio.to_thread(self.scorer.apply, request.workdir, result)

    async def close(self) -> None:
        await self.inner.close()
