"""Standard metrics, computed from the string values of a submission and its answers.

Each metric knows which way is better and its perfect value (for the "suspiciously
perfect" guard). ``auc``, ``f1`` and binary ``logloss`` take the positive class to be
``1``/``true``/``yes``, or else the larger of the two labels.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from typing import Literal

import numpy as np

Rows = list[list[str]]  # one list of target-column values per row


class MetricError(ValueError):
    """A prediction cannot be scored; ``row`` is its index in the rows given."""

    def __init__(self, message: str, row: int | None = None) -> None:
        super().__init__(message)
        self.row = row


@dataclass(frozen=True)
class Metric:
    name: str
    direction: Literal["maximize", "minimize"]
    perfect: float
    numeric: bool  # predictions must be numbers
    single: bool  # needs exactly one target column
    fn: Callable[[Rows, Rows], float]
    about: str

    def better(self, a: float, b: float) -> bool:
        return a > b if self.direction == "maximize" else a < b


def _floats(rows: Rows, what: str) -> np.ndarray:
    out = np.empty((len(rows), len(rows[0]) if rows else 0))
    for i, row in enumerate(rows):
        for j, v in enumerate(row):
            try:
                x = float(v)
            except ValueError:
                raise MetricError(f"{what} {v!r} is not a number", i) from None
            if not math.isfinite(x):
                raise MetricError(f"{what} {v!r} is not a finite number", i)
            out[i, j] = x
    return out


def normal_label(value: str) -> str:
    """A label as compared: numbers by value (``3`` equals ``3.0``), text stripped."""
    text = value.strip()
    try:
        x = float(text)
    except ValueError:
        return text
    return repr(x) if math.isfinite(x) else text


def _positive(labels: list[str]) -> str:
    classes = sorted(set(labels))
    if len(classes) != 2:
        raise MetricError(f"needs exactly two classes in the answers, found {len(classes)}")
    for c in classes:
        if c.lower() in ("1", "1.0", "true", "yes", "pos", "positive"):
            return c
    try:
        return max(classes, key=float)
    except ValueError:
        return classes[-1]


def _accuracy(truth: Rows, pred: Rows) -> float:
    hits = sum(all(normal_label(t) == normal_label(p) for t, p in zip(tr, pr)) for tr, pr in zip(truth, pred))
    return hits / len(truth)


def _ranks(x: np.ndarray) -> np.ndarray:
    """1-based ranks, ties given their average rank."""
    order = np.argsort(x, kind="mergesort")
    ranks = np.empty(len(x))
    sorted_x = x[order]
    i = 0
    while i < len(x):
        j = i
        while j + 1 < len(x) and sorted_x[j + 1] == sorted_x[i]:
            j += 1
        ranks[order[i:j + 1]] = (i + j) / 2 + 1
        i = j + 1
    return ranks


def _auc(truth: Rows, pred: Rows) -> float:
    labels = [normal_label(r[0]) for r in truth]
    pos = _positive(labels)
    y = np.array([label == pos for label in labels])
    scores = _floats(pred, "score")[:, 0]
    n_pos, n_neg = int(y.sum()), int((~y).sum())
    ranks = _ranks(scores)
    return float((ranks[y].sum() - n_pos * (n_pos + 1) / 2) / (n_pos * n_neg))


def _f1(truth: Rows, pred: Rows) -> float:
    t = [normal_label(r[0]) for r in truth]
    p = [normal_label(r[0]) for r in pred]
    classes = sorted(set(t))
    targets = [_positive(t)] if len(classes) == 2 else classes
    scores = []
    for c in targets:
        tp = sum(a == c and b == c for a, b in zip(t, p))
        fp = sum(a != c and b == c for a, b in zip(t, p))
        fn = sum(a == c and b != c for a, b in zip(t, p))
        scores.append(2 * tp / (2 * tp + fp + fn) if tp + fp + fn else 1.0)
    return float(np.mean(scores))


def _logloss(truth: Rows, pred: Rows) -> float:
    p = np.clip(_floats(pred, "probability"), 1e-15, 1 - 1e-15)
    if p.shape[1] == 1:
        labels = [normal_label(r[0]) for r in truth]
        pos = _positive(labels)
        y = np.array([[1.0] if label == pos else [0.0] for label in labels])
        return float(-np.mean(y * np.log(p) + (1 - y) * np.log(1 - p)))
    y = _floats(truth, "answer")
    p = p / p.sum(axis=1, keepdims=True)  # as Kaggle does: each row's probabilities scaled to sum to 1
    return float(-np.mean(np.sum(y * np.log(p), axis=1)))


def _errors(truth: Rows, pred: Rows) -> np.ndarray:
    return _floats(pred, "prediction") - _floats(truth, "answer")


def _rmsle(truth: Rows, pred: Rows) -> float:
    p, t = _floats(pred, "prediction"), _floats(truth, "answer")
    bad = np.argwhere(p <= -1)
    if len(bad):
        raise MetricError(f"prediction {p[tuple(bad[0])]:g} is not above -1 (rmsle takes log1p)", int(bad[0][0]))
    return float(np.sqrt(np.mean((np.log1p(p) - np.log1p(t)) ** 2)))


def _r2(truth: Rows, pred: Rows) -> float:
    t, p = _floats(truth, "answer"), _floats(pred, "prediction")
    total = float(np.sum((t - t.mean(axis=0)) ** 2))
    return 1.0 - float(np.sum((t - p) ** 2)) / total if total else 0.0


METRICS: dict[str, Metric] = {m.name: m for m in (
    Metric("accuracy", "maximize", 1.0, False, False, _accuracy, "share of rows whose labels all match"),
    Metric("auc", "maximize", 1.0, True, True, _auc, "area under the ROC curve; predict a score per row"),
    Metric("f1", "maximize", 1.0, False, True, _f1, "F1 of the positive class (macro F1 with more classes)"),
    Metric("logloss", "minimize", 0.0, True, False, _logloss,
           "log loss: one probability column (binary) or one column per class"),
    Metric("rmse", "minimize", 0.0, True, False, lambda t, p: float(np.sqrt(np.mean(_errors(t, p) ** 2))),
           "root mean squared error"),
    Metric("mse", "minimize", 0.0, True, False, lambda t, p: float(np.mean(_errors(t, p) ** 2)),
           "mean squared error"),
    Metric("mae", "minimize", 0.0, True, False, lambda t, p: float(np.mean(np.abs(_errors(t, p)))),
           "mean absolute error"),
    Metric("rmsle", "minimize", 0.0, True, False, _rmsle, "root mean squared error of log(1 + value)"),
    Metric("r2", "maximize", 1.0, True, True, _r2, "coefficient of determination"),
)}
ALIASES = {"roc_auc": "auc", "rocauc": "auc", "log_loss": "logloss", "acc": "accuracy", "r^2": "r2"}


def find_metric(name: str) -> Metric | None:
    """The standard metric called ``name`` (case and a few aliases forgiven), or None."""
    key = name.strip().lower().replace("-", "_")
    return METRICS.get(ALIASES.get(key, key))


def score(metric: Metric, truth: Rows, pred: Rows) -> float:
    """``metric`` of ``pred`` against ``truth`` (rows in the same order); MetricError when unscorable."""
    if not truth:
        raise MetricError("no rows to score")
    value = metric.fn(truth, pred)
    if not math.isfinite(value):
        raise MetricError(f"{metric.name} came out as {value}")
    return value
