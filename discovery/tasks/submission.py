"""Check a node's submission.csv against the sample submission it was served.

A submission must have the sample's columns, one row per sample row, the same ids (each
once), and a value in every target cell (a number when the metric needs one). One that
repeats the sample's placeholder values is no prediction at all and is refused too.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path

from discovery.tasks.metrics import normal_label
from discovery.tasks.table import Table, TableError, read_table

SUBMISSION = "submission.csv"
MAX_BYTES = 500_000_000
_COPY_SHARE = 0.99  # a submission whose values equal the sample's in this share of rows is a copy


class SubmissionError(ValueError):
    """The submission is missing or malformed; one line that says what to fix."""


@dataclass
class Submission:
    """Target values by id, in the sample's target-column order."""

    rows: dict[str, list[str]]


def check_submission(path: Path, sample: Table, id_column: str, targets: list[str], *, numeric: bool) -> Submission:
    """The submission at ``path`` if its shape matches ``sample``; SubmissionError saying why not."""
    if path.is_symlink():
        raise SubmissionError(f"{SUBMISSION} is a link; write the predictions to a regular file")
    if not path.exists():
        raise SubmissionError(f"no {SUBMISSION} written: write one row per row of data/test.csv, with the columns of "
                              f"data/sample_submission.csv ({', '.join(sample.header)})")
    if not path.is_file():
        raise SubmissionError(f"{SUBMISSION} is not a file")
    try:
        table = read_table(path, label=SUBMISSION, max_bytes=MAX_BYTES)
    except TableError as exc:
        raise SubmissionError(str(exc)) from None
    missing = [c for c in sample.header if c not in table.header]
    extra = [c for c in table.header if c not in sample.header]
    if missing or extra:
        parts = ([f"missing {', '.join(missing)}"] if missing else []) + ([f"unexpected {', '.join(extra)}"]
                                                                          if extra else [])
        raise SubmissionError(f"{SUBMISSION}: columns {'; '.join(parts)} (sample_submission.csv has "
                              f"{', '.join(sample.header)})")
    if len(table.rows) != len(sample.rows):
        raise SubmissionError(f"{SUBMISSION}: {len(table.rows)} rows, but data/test.csv has {len(sample.rows)}: "
                              "one row per test row")
    id_at = table.column(id_column)
    at = [table.column(t) for t in targets]
    rows: dict[str, list[str]] = {}
    for row in table.rows:
        key = row[id_at]
        if key in rows:
            raise SubmissionError(f"{SUBMISSION}: id {key!r} appears twice")
        values = [row[i] for i in at]
        for name, value in zip(targets, values):
            if not value.strip():
                raise SubmissionError(f"{SUBMISSION}: the row with id {key!r} has no {name}")
            if numeric and not _is_number(value):
                raise SubmissionError(f"{SUBMISSION}: the row with id {key!r} has {name} {value!r}, not a number")
        rows[key] = values
    sample_ids = sample.values(id_column)
    unknown = set(rows) - set(sample_ids)
    if unknown:
        absent = sorted(set(sample_ids) - set(rows))
        raise SubmissionError(f"{SUBMISSION}: ids differ from data/sample_submission.csv: {len(unknown)} unknown "
                              f"(e.g. {sorted(unknown)[0]!r}), {len(absent)} missing (e.g. {absent[0]!r})")
    _not_a_copy(rows, sample, id_column, targets)
    return Submission(rows)


def _not_a_copy(rows: dict[str, list[str]], sample: Table, id_column: str, targets: list[str]) -> None:
    id_at, at = sample.column(id_column), [sample.column(t) for t in targets]
    same = sum(all(normal_label(rows[r[id_at]][k]) == normal_label(r[i]) for k, i in enumerate(at))
               for r in sample.rows)
    if same == len(sample.rows) or (len(sample.rows) >= 20 and same >= _COPY_SHARE * len(sample.rows)):
        raise SubmissionError(f"{SUBMISSION} repeats the placeholder values of sample_submission.csv in {same} of "
                              f"{len(sample.rows)} rows: it holds no predictions")


def _is_number(value: str) -> bool:
    try:
        return math.isfinite(float(value))
    except ValueError:
        return False
