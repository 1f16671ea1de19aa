"""The hidden validation split and the files nodes are served.

When a task run first starts, the framework holds back a share of the labelled training
rows (stratified by label for classification) and writes, in ``runs/<run>/task/``:

- ``public/``: what nodes get under ``data/``. ``train.csv`` without the held-back rows;
  ``test.csv`` mixing the held-back rows' features (labels removed) with the real test
  rows, shuffled, every row under a new opaque id; ``sample_submission.csv`` in that order,
  its placeholder values drawn from the real sample so that no row stands out.
- ``private/`` (never served): which opaque id is which row, and the held-back labels.

A node cannot tell which test rows are validation rows. The split is drawn from the run's
seed once and then only read: ``split_hash`` in the run's idea fingerprints it, and every
later session (resume, fork) checks that fingerprint before it scores anything.
"""

from __future__ import annotations

import hashlib
import json
import random
import shutil
from dataclasses import dataclass
from pathlib import Path

from discovery.tasks.table import Table, read_table, write_table
from runs.models import TaskSpec

SPLIT_FILE = "split.json"
MAPPING_FILE = "mapping.csv"
VAL_ANSWERS_FILE = "val_answers.csv"
_STRATIFY_MAX_CLASSES = 100


class SplitError(ValueError):
    """The stored split cannot be used (edited files, a changed task); one line."""


@dataclass
class Served:
    """This run's split as the framework knows it (loaded from ``runs/<run>/task``)."""

    folder: Path
    public_files: list[str]  # the data paths nodes get (served files, then the task's other public files)
    sample: Table  # the served sample submission
    kinds: dict[str, tuple[str, str]]  # opaque id -> ("val", train row index) or ("test", original test id)
    val_answers: dict[str, list[str]]  # opaque id -> its held-back target values
    split_hash: str
    train_rows: int  # in the task's train.csv

    @property
    def val_ids(self) -> list[str]:
        return [i for i, (kind, _) in self.kinds.items() if kind == "val"]

    @property
    def test_ids(self) -> dict[str, str]:
        """Opaque id -> original test id, for the real test rows."""
        return {i: source for i, (kind, source) in self.kinds.items() if kind == "test"}


def prepare(task: TaskSpec, folder: Path, seed: int, *, copy_from: Path | None = None) -> Served:
    """Load the split in ``folder``, or make it (copied from ``copy_from``, a parent run's, when
    that one has it; else drawn from ``seed``). Checks it against ``task.split_hash`` when set."""
    if not (folder / "private" / SPLIT_FILE).is_file():
        if copy_from is not None and (copy_from / "private" / SPLIT_FILE).is_file():
            _copy(copy_from, folder)
        else:
            _make(task, folder, seed)
    served = load(task, folder)
    if task.split_hash and served.split_hash != task.split_hash:
        raise SplitError(f"{folder}: the hidden split differs from the one this run started with "
                         f"({served.split_hash} != {task.split_hash}): its files or the task's train.csv changed")
    return served


def load(task: TaskSpec, folder: Path) -> Served:
    """The split stored in ``folder`` (SplitError when it is incomplete or edited)."""
    private = folder / "private"
    try:
        meta = json.loads((private / SPLIT_FILE).read_text())
        mapping = read_table(private / MAPPING_FILE)
        answers = read_table(private / VAL_ANSWERS_FILE)
        sample = read_table(folder / "public" / Path(task.sample_submission).name)
    except (OSError, ValueError) as exc:
        raise SplitError(f"{folder}: the stored hidden split cannot be read ({exc})") from None
    kinds = {row[0]: (row[1], row[2]) for row in mapping.rows}
    val_answers = {row[0]: row[1:] for row in answers.rows}
    if _fingerprint(kinds, val_answers) != meta.get("hash"):
        raise SplitError(f"{folder}: the stored hidden split was edited (its fingerprint does not match)")
    public = [str(folder / "public" / Path(p).name) for p in (task.train, task.test, task.sample_submission)]
    return Served(folder=folder, public_files=public + list(task.extra_public), sample=sample, kinds=kinds,
                  val_answers=val_answers, split_hash=meta["hash"],
                  train_rows=int(meta["train_rows"]))


def held_rows(task: TaskSpec, labels: list[str], seed: int) -> list[int]:
    """Indices of the training rows held back: a ``validation_fraction`` share, per class when the
    target looks like a class label (few distinct values), at least one row, never all."""
    n = len(labels)
    rng = random.Random(f"discover-split:{seed}")
    classes: dict[str, list[int]] = {}
    for i, label in enumerate(labels):
        classes.setdefault(label, []).append(i)
    stratify = len(task.targets) == 1 and 1 < len(classes) <= min(_STRATIFY_MAX_CLASSES, n // 5)
    groups = [classes[c] for c in sorted(classes)] if stratify else [list(range(n))]
    held: list[int] = []
    for group in groups:
        group = list(group)
        rng.shuffle(group)
        take = round(len(group) * task.validation_fraction)
        if stratify and len(group) >= 2:
            take = max(1, take)
        held.extend(group[:take])
    if not held:
        held = [rng.randrange(n)]
    if len(held) >= n:
        held = held[: n - 1]
    return sorted(held)


def _make(task: TaskSpec, folder: Path, seed: int) -> None:
    train, test, sample = read_table(task.train), read_table(task.test), read_table(task.sample_submission)
    labels = ["\x1f".join(row[train.column(t)] for t in task.targets) for row in train.rows]
    held = held_rows(task, labels, seed)
    rng = random.Random(f"discover-mix:{seed}")
    mixed = [("val", str(i)) for i in held] + [("test", row[test.column(task.id_column)]) for row in test.rows]
    rng.shuffle(mixed)
    ids = [str(k) for k in range(len(mixed))]
    test_by_id = {row[test.column(task.id_column)]: row for row in test.rows}
    sample_by_id = {row[sample.column(task.id_column)]: row for row in sample.rows}
    sample_id = sample.column(task.id_column)
    test_rows, sample_rows, answers = [], [], []
    for opaque, (kind, source) in zip(ids, mixed):
        if kind == "val":
            row = train.rows[int(source)]
            test_rows.append([opaque if c == task.id_column else row[train.column(c)] for c in test.header])
            answers.append([opaque, *(row[train.column(t)] for t in task.targets)])
            placeholder = list(rng.choice(sample.rows))
        else:
            test_rows.append([opaque if c == task.id_column else v for c, v in zip(test.header, test_by_id[source])])
            placeholder = list(sample_by_id[source])
        placeholder[sample_id] = opaque
        sample_rows.append(placeholder)
    held_set = set(held)
    tmp = folder.with_name(folder.name + ".partial")
    if tmp.exists():
        shutil.rmtree(tmp)
    public, private = tmp / "public", tmp / "private"
    write_table(public / Path(task.train).name, train.header, [r for i, r in enumerate(train.rows) if i not in held_set])
    write_table(public / Path(task.test).name, test.header, test_rows)
    write_table(public / Path(task.sample_submission).name, sample.header, sample_rows)
    write_table(private / MAPPING_FILE, ["id", "kind", "source"], [[i, k, s] for i, (k, s) in zip(ids, mixed)])
    write_table(private / VAL_ANSWERS_FILE, ["id", *task.targets], answers)
    kinds = {i: m for i, m in zip(ids, mixed)}
    val_answers = {row[0]: row[1:] for row in answers}
    (private / SPLIT_FILE).write_text(json.dumps({
        "seed": seed, "validation_fraction": task.validation_fraction, "train_rows": len(train.rows),
        "held_rows": len(held), "test_rows": len(test.rows), "hash": _fingerprint(kinds, val_answers)}, indent=1))
    if folder.exists():
        shutil.rmtree(folder)
    tmp.rename(folder)  # whole or not at all: a crash mid-way leaves only the .partial folder


def _copy(source: Path, folder: Path) -> None:
    tmp = folder.with_name(folder.name + ".partial")
    if tmp.exists():
        shutil.rmtree(tmp)
    shutil.copytree(source, tmp, ignore=shutil.ignore_patterns("final", "scratch"))
    if folder.exists():
        shutil.rmtree(folder)
    tmp.rename(folder)


def _fingerprint(kinds: dict[str, tuple[str, str]], val_answers: dict[str, list[str]]) -> str:
    """Which row is which, and the held-back labels: equal fingerprints, equal splits."""
    rows = sorted((i, k, s, *val_answers.get(i, [])) for i, (k, s) in kinds.items())
    payload = json.dumps(rows, separators=(",", ":"))
    return hashlib.sha256(payload.encode()).hexdigest()[:16]
