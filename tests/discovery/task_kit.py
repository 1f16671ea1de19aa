"""Tiny dataset tasks written on the fly for the task tests (pure-Python baselines: fast to run)."""

from __future__ import annotations

import random
from pathlib import Path

from discovery.tasks.make import write_competition

CLASSIFY_BASELINE = '''"""Threshold classifier on x0: writes submission.csv (and its own accuracy to metrics.json)."""
import csv, json

THRESHOLD = 0.5
SEED = 0

with open("data/train.csv") as f:
    train = list(csv.DictReader(f))
with open("data/test.csv") as f:
    test = list(csv.DictReader(f))
own = sum((float(r["x0"]) > THRESHOLD) == (r["label"] == "1") for r in train) / len(train)
with open("submission.csv", "w", newline="") as f:
    w = csv.writer(f)
    w.writerow(["id", "label"])
    for r in test:
        w.writerow([r["id"], int(float(r["x0"]) > THRESHOLD)])
json.dump({"accuracy": own}, open("metrics.json", "w"))
print("threshold", THRESHOLD, "own accuracy", own)
'''

REGRESS_BASELINE = '''"""y = SLOPE * x0: writes submission.csv."""
import csv

SLOPE = 1.0
SEED = 0

with open("data/test.csv") as f:
    test = list(csv.DictReader(f))
with open("submission.csv", "w", newline="") as f:
    w = csv.writer(f)
    w.writerow(["id", "y"])
    for r in test:
        w.writerow([r["id"], SLOPE * float(r["x0"])])
'''

CLASSIFY_DESCRIPTION = """---
metric: accuracy
baseline: baseline.py
search_space:
  THRESHOLD: [-1.0, -0.5, 0.0, 0.5, 1.0]
time_limit: 30
{extra}---

# Tiny threshold task

## Goal

Predict the label of each row from x0 and x1.

## Evaluation

Accuracy of the `label` column.

## Data description

`train.csv`: id, x0, x1, label. `test.csv`: id, x0, x1.
"""

REGRESS_DESCRIPTION = """---
metric: rmse
baseline: baseline.py
search_space:
  SLOPE: [0.0, 1.0, 2.0, 3.0, 4.0]
time_limit: 30
score_limit: 0.01
---

# Tiny slope task

## Goal

Predict y from x0.

## Evaluation

RMSE of `y`.
"""


def classify_task(folder: Path, *, n_train: int = 60, n_test: int = 30, seed: int = 0, noise: float = 0.6,
                  score_limit: float | None = 1.0, leaderboard: bool = True) -> Path:
    """A binary task: label = (x0 + noise > 0). MLE-bench layout, with a baseline and a leaderboard."""
    rng = random.Random(seed)
    rows = []
    for _ in range(n_train + n_test):
        x0, x1 = round(rng.uniform(-2, 2), 4), round(rng.uniform(-2, 2), 4)
        rows.append(([x0, x1], int(x0 + rng.gauss(0, noise) > 0)))
    ids = rng.sample(range(1000, 9999), n_train + n_test)
    train, test = rows[:n_train], rows[n_train:]
    board = [(f"ref-{i}", s) for i, s in enumerate([0.5, 0.6, 0.7, 0.75, 0.8, 0.85, 0.9, 0.95])] if leaderboard else None
    write_competition(folder, ["x0", "x1"], "label", ids[:n_train], [r[0] for r in train], [r[1] for r in train],
                      ids[n_train:], [r[0] for r in test], [r[1] for r in test], placeholder="0", leaderboard=board)
    extra = f"score_limit: {score_limit}\n" if score_limit is not None else ""
    (folder / "description.md").write_text(CLASSIFY_DESCRIPTION.format(extra=extra))
    (folder / "baseline.py").write_text(CLASSIFY_BASELINE)
    return folder


def regress_task(folder: Path, *, n_train: int = 40, n_test: int = 20, seed: int = 1) -> Path:
    """A regression task: y = 3 x0 + noise, whose targets are long unique decimals (leak markers)."""
    rng = random.Random(seed)
    xs = [[round(rng.uniform(-1, 1), 4), round(rng.uniform(-1, 1), 4)] for _ in range(n_train + n_test)]
    ys = [round(3 * x[0] + rng.gauss(0, 0.1), 4) + rng.randrange(10**8) * 1e-13 for x in xs]
    ys = [float(f"{y:.12f}") for y in ys]
    ids = list(range(n_train + n_test))
    rng.shuffle(ids)
    write_competition(folder, ["x0", "x1"], "y", ids[:n_train], xs[:n_train], ys[:n_train], ids[n_train:],
                      xs[n_train:], ys[n_train:], placeholder="0")
    (folder / "description.md").write_text(REGRESS_DESCRIPTION)
    (folder / "baseline.py").write_text(REGRESS_BASELINE)
    return folder


def aide_folder(folder: Path) -> Path:
    """The classify task's public files flat in one folder, no description (the AIDE layout)."""
    source = classify_task(folder / "_src")
    folder.mkdir(parents=True, exist_ok=True)
    for name in ("train.csv", "test.csv", "sample_submission.csv"):
        (folder / name).write_text((source / "public" / name).read_text())
    (folder / "notes.txt").write_text("extra public file\n")
    import shutil

    shutil.rmtree(source)
    return folder
