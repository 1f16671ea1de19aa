"""Where a score would stand on a competition's leaderboard, with Kaggle's medal bands.

``leaderboard.csv`` needs a ``score`` column (other columns, such as ``teamName``, are
ignored). Medal thresholds follow Kaggle's progression system, as MLE-bench uses them: with
fewer than 100 teams the top 10% win gold, 20% silver, 40% bronze; 100-249 teams: top 10
gold, 20% silver, 40% bronze; 250-999: top 10 + 0.2% gold, 50 silver, 100 bronze; 1000 or
more: top 10 + 0.2% gold, 5% silver, 10% bronze.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path

from discovery.tasks.table import TableError, read_table


class LeaderboardError(ValueError):
    """leaderboard.csv cannot be used; one line."""


@dataclass(frozen=True)
class Standing:
    rank: int  # 1 = best, counting the leaderboard's entries strictly better
    of: int  # entries on the leaderboard, plus this one
    beats: float  # share of the leaderboard's entries this score is better than or equal to
    medal: str  # gold, silver, bronze or none
    thresholds: dict[str, float]  # the score each medal needs


def read_leaderboard(path: str | Path) -> list[float]:
    """The scores of ``leaderboard.csv``."""
    try:
        table = read_table(path, label="leaderboard.csv")
    except TableError as exc:
        raise LeaderboardError(str(exc)) from None
    if "score" not in table.header:
        raise LeaderboardError(f"leaderboard.csv: no 'score' column (it has {', '.join(table.header)})")
    scores = []
    for i, value in enumerate(table.values("score"), start=2):
        try:
            x = float(value)
        except ValueError:
            raise LeaderboardError(f"leaderboard.csv: line {i}: score {value!r} is not a number") from None
        if math.isfinite(x):
            scores.append(x)
    if not scores:
        raise LeaderboardError("leaderboard.csv: no scores")
    return scores


def medal_ranks(teams: int) -> dict[str, int]:
    """How many top places win each medal on a leaderboard of ``teams`` entries."""
    if teams < 100:
        return {"gold": max(1, int(teams * 0.1)), "silver": max(1, int(teams * 0.2)),
                "bronze": max(1, int(teams * 0.4))}
    if teams < 250:
        return {"gold": 10, "silver": int(teams * 0.2), "bronze": int(teams * 0.4)}
    if teams < 1000:
        return {"gold": 10 + int(teams * 0.002), "silver": 50, "bronze": 100}
    return {"gold": 10 + int(teams * 0.002), "silver": int(teams * 0.05), "bronze": int(teams * 0.1)}


def standing(scores: list[float], value: float, direction: str) -> Standing:
    """Where ``value`` would stand among ``scores`` (``direction``: maximize or minimize)."""
    sign = 1.0 if direction == "maximize" else -1.0
    ordered = sorted(scores, key=lambda s: -sign * s)  # best first
    better = sum(sign * s > sign * value for s in scores)
    beats = sum(sign * value >= sign * s for s in scores) / len(scores)
    thresholds = {m: ordered[min(k, len(ordered)) - 1] for m, k in medal_ranks(len(scores)).items()}
    medal = next((m for m in ("gold", "silver", "bronze") if sign * value >= sign * thresholds[m]), "none")
    return Standing(rank=better + 1, of=len(scores) + 1, beats=beats, medal=medal, thresholds=thresholds)
