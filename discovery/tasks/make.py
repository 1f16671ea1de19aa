"""Write a competition folder in the MLE-bench layout from arrays (the shipped tasks, tests).

    folder/description.md, baseline.py       (written by the caller)
    folder/public/train.csv                  id, features..., target
    folder/public/test.csv                   id, features...
    folder/public/sample_submission.csv      id, target (a placeholder value)
    folder/private/answers.csv               id, target
    folder/leaderboard.csv                   teamName, score (optional)
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from discovery.tasks.table import write_table


def _cell(value: object) -> str:
    if hasattr(value, "item"):  # a numpy scalar: its Python value, whose repr is plain
        value = value.item()
    if isinstance(value, float):
        return repr(round(value, 10)) if value != int(value) or abs(value) >= 1e15 else str(int(value))
    return str(value)


def write_competition(folder: Path, features: Sequence[str], target: str, train_ids: Sequence[object],
                      train_x: Sequence[Sequence[object]], train_y: Sequence[object], test_ids: Sequence[object],
                      test_x: Sequence[Sequence[object]], test_y: Sequence[object], *, placeholder: str = "0",
                      leaderboard: Sequence[tuple[str, float]] | None = None) -> None:
    """Write the public and private parts (and the leaderboard) of a competition into ``folder``."""
    public, private = folder / "public", folder / "private"
    header = ["id", *features]
    write_table(public / "train.csv", [*header, target],
                [[_cell(i), *map(_cell, x), _cell(y)] for i, x, y in zip(train_ids, train_x, train_y)])
    write_table(public / "test.csv", header, [[_cell(i), *map(_cell, x)] for i, x in zip(test_ids, test_x)])
    write_table(public / "sample_submission.csv", ["id", target], [[_cell(i), placeholder] for i in test_ids])
    write_table(private / "answers.csv", ["id", target], [[_cell(i), _cell(y)] for i, y in zip(test_ids, test_y)])
    if leaderboard is not None:
        write_table(folder / "leaderboard.csv", ["teamName", "score"],
                    [[name, repr(float(score))] for name, score in leaderboard])
