"""Read a task folder (AIDE or MLE-bench layout) into an Idea with a ``task`` field.

AIDE: a folder with ``train.csv``, ``test.csv`` and ``sample_submission.csv`` (other files
are served too), and the goal and evaluation as ``--goal``/``--eval`` text or a Markdown
description (``## Goal``, ``## Evaluation``, ``## Data description``).

MLE-bench: ``description.md``, ``public/`` (train, test without labels,
sample_submission.csv, anything else the competition ships), ``private/`` (the test answers,
and ``grade.py`` or a standard metric named in the description's front matter), and
optionally ``leaderboard.csv``.

Every problem is an IdeaError naming the folder and the missing or wrong piece.
"""

from __future__ import annotations

import ast
import re
from pathlib import Path
from typing import Any

import yaml

from discovery.idea import _FRONT_MATTER, DuplicateKey, IdeaError, _build, _first_heading, _sections, load_front_matter
from discovery.tasks.metrics import METRICS, find_metric
from discovery.tasks.table import Table, TableError, read_table
from runs.models import Idea

DESCRIPTIONS = ("description.md", "task.md")
# Front-matter fields of a task's description: the idea's own (data and holdout are the
# task's business) plus the task's.
IDEA_FIELDS = {"title", "metric", "direction", "baseline", "search_space", "time_limit", "gpus_per_node", "network",
               "image"}
TASK_FIELDS = {"id_column", "target", "validation_fraction", "score_limit"}
MIN_TRAIN_ROWS = 10
# Words in an --eval text that name a standard metric (AIDE's evaluation is prose).
_METRIC_WORDS = [
    ("rmsle", r"\brmsle\b|root mean squared? log"), ("rmse", r"\brmse\b|root mean squared? error"),
    ("mae", r"\bmae\b|mean absolute error"), ("mse", r"\bmse\b|(?<!root )mean squared? error"),
    ("auc", r"\bauc\b|area under|\broc\b"), ("logloss", r"log[ -]?loss|cross[ -]entropy"),
    ("f1", r"\bf1\b|f-score|f-measure"), ("r2", r"\br2\b|r\^2|r-squared|coefficient of determination"),
    ("accuracy", r"\baccuracy\b"),
]


class TaskError(IdeaError):
    """A task folder is missing a piece or has a wrong one; one line for the user."""


def is_task_folder(path: str | Path) -> bool:
    return Path(path).is_dir()


def load_task(path: str | Path, *, metric: str | None = None, goal: str | None = None,
              evaluation: str | None = None, desc: str | Path | None = None) -> Idea:
    """The Idea for the task folder at ``path`` (MLE-bench when it has public/ or private/, else AIDE)."""
    root = Path(path).resolve()
    if (root / "public").is_dir() or (root / "private").is_dir():
        if goal or evaluation or desc:
            flag = "--goal" if goal else "--eval" if evaluation else "--desc"
            raise TaskError(f"{path}: {flag} is for AIDE data folders; an MLE-bench folder has its description.md")
        return _mlebench(Path(path), root, metric)
    return _aide(Path(path), root, metric, goal, evaluation, desc)


# -- the two layouts ---------------------------------------------------------------------------

def _mlebench(shown: Path, root: Path, metric: str | None) -> Idea:
    description = next((p for p in (root / "description.md", root / "public" / "description.md") if p.is_file()), None)
    if description is None:
        raise TaskError(f"{shown}: no description.md (an MLE-bench folder holds description.md, public/ and private/)")
    for part, holds in (("public", "train.csv, test.csv and sample_submission.csv"),
                        ("private", "the test answers, and grade.py or a metric")):
        if not (root / part).is_dir():
            raise TaskError(f"{shown}: no {part}/ folder ({holds})")
    public, private = root / "public", root / "private"
    front, body = _read_description(description)
    train, test, sample = (_find(public, kind, shown / "public") for kind in ("train", "test", "sample_submission"))
    answers = _answers(private, shown / "private")
    grader = private / "grade.py" if (private / "grade.py").is_file() else None
    leaderboard = root / "leaderboard.csv" if (root / "leaderboard.csv").is_file() else None
    used = {train, test, sample, public / "description.md"}
    extra = sorted(str(p) for p in public.iterdir() if p not in used and not p.name.startswith("."))
    return _idea(shown, root, description, front, body, layout="mlebench", train=train, test=test, sample=sample,
                 extra=extra, answers=answers, grader=grader, leaderboard=leaderboard, metric=metric,
                 eval_text=_sections(body).get("evaluation", ""))


def _aide(shown: Path, root: Path, metric: str | None, goal: str | None, evaluation: str | None,
          desc: str | Path | None) -> Idea:
    if not root.is_dir():
        raise TaskError(f"{shown}: not a folder")
    if desc is not None:
        description: Path | None = Path(desc).resolve()
        if not description.is_file():
            raise TaskError(f"--desc {desc}: no such file")
    else:
        description = next((root / n for n in DESCRIPTIONS if (root / n).is_file()), None)
    front, body = _read_description(description) if description else ({}, "")
    sections = _sections(body)
    goal = goal or sections.get("goal", "")
    evaluation = evaluation or sections.get("evaluation", "")
    if not goal.strip():
        if (root / "idea.md").is_file():
            raise TaskError(f"{shown}: is a folder with an idea.md: run `discover run {shown / 'idea.md'}`, "
                            "or make it a task folder (docs/tasks.md)")
        raise TaskError(f"{shown}: no goal: pass --goal TEXT (and --eval TEXT), or put a description.md with a "
                        "'## Goal' section in the folder")
    train, test, sample = (_find(root, kind, shown) for kind in ("train", "test", "sample_submission"))
    if description is None or not body.strip():
        body = f"# {front.get('title') or _title(root)}\n\n## Goal\n\n{goal.strip()}"
        if evaluation.strip():
            body += f"\n\n## Evaluation\n\n{evaluation.strip()}"
    else:
        body = _with_section(_with_section(body, "Goal", goal), "Evaluation", evaluation)
    used = {train, test, sample} | ({description} if description else set())
    if front.get("baseline"):
        used.add((root / str(front["baseline"])).resolve())  # the agents' starting code, not data
    extra = sorted(str(p) for p in root.iterdir() if p not in used and not p.name.startswith(".")
                   and p.name not in DESCRIPTIONS)
    return _idea(shown, root, description or root, front, body, layout="aide", train=train, test=test,
                 sample=sample, extra=extra, answers=None, grader=None, leaderboard=None, metric=metric,
                 eval_text=evaluation)


# -- shared ------------------------------------------------------------------------------------

def _idea(shown: Path, root: Path, source: Path, front: dict[str, Any], body: str, *, layout: str, train: Path,
          test: Path, sample: Path, extra: list[str], answers: Path | None, grader: Path | None,
          leaderboard: Path | None, metric: str | None, eval_text: str) -> Idea:
    tables = {name: _table(path, shown, root) for name, path in (("train", train), ("test", test),
                                                                 ("sample", sample))}
    id_column, targets = _columns(shown, root, tables, front, sample, test, train)
    metric_name, direction, grade_path = _metric(shown, root, front, metric, grader, eval_text, len(targets))
    if answers is not None:
        _check_answers(shown, root, answers, tables["test"], id_column, targets)
    if leaderboard is not None:
        from discovery.tasks.leaderboard import LeaderboardError, read_leaderboard

        try:
            read_leaderboard(leaderboard)
        except LeaderboardError as exc:
            raise TaskError(f"{shown}: {exc}") from None
    sections = _sections(body)
    fields: dict[str, Any] = {k: v for k, v in front.items() if k in IDEA_FIELDS}
    fields["title"] = front.get("title") or _first_heading(body) or _title(root)
    fields["hypothesis"] = sections.get("goal", "")
    fields["experiments"] = sections.get("evaluation", "")
    fields["body"] = body
    fields["metric"] = {"name": metric_name, "direction": direction}
    fields.pop("direction", None)
    if fields.get("baseline"):
        fields["baseline"] = str((root / str(fields["baseline"])).resolve())
    fields["task"] = {
        "layout": layout, "root": str(root), "train": str(train), "test": str(test), "sample_submission": str(sample),
        "extra_public": extra, "id_column": id_column, "targets": targets, "metric": grade_path or metric_name,
        "grader": grade_path, "answers": str(answers) if answers else None,
        "leaderboard": str(leaderboard) if leaderboard else None,
        **{k: front[k] for k in ("validation_fraction", "score_limit") if k in front},
    }
    idea = _build(source if source.is_file() else root / "description.md", fields)
    return idea.model_copy(update={"source": str(root)})


def _read_description(path: Path) -> tuple[dict[str, Any], str]:
    """(front matter, prose) of a task description; the front matter is optional."""
    try:
        text = path.read_text(encoding="utf-8-sig")
    except (OSError, UnicodeDecodeError) as exc:
        raise TaskError(f"{path}: cannot read the description ({exc})") from None
    match = _FRONT_MATTER.match(text)
    if not match:
        return {}, text.strip()
    try:
        front = load_front_matter(match.group(1))
    except DuplicateKey as exc:
        raise TaskError(f"{path}: front matter: {exc}") from None
    except yaml.YAMLError:
        raise TaskError(f"{path}: front matter is not valid YAML") from None
    if not isinstance(front, dict):
        raise TaskError(f"{path}: front matter must be a mapping of fields")
    known = IDEA_FIELDS | TASK_FIELDS
    unknown = sorted(set(front) - known)
    if unknown:
        raise TaskError(f"{path}: unknown front-matter field {unknown[0]!r} (known: {', '.join(sorted(known))})")
    return front, text[match.end():].strip()


def _find(folder: Path, kind: str, shown: Path) -> Path:
    """``folder/kind.csv``, or the one ``kind*.csv`` there."""
    exact = folder / f"{kind}.csv"
    if exact.is_file():
        return exact
    found = sorted(p for p in folder.glob(f"{kind}*.csv") if p.is_file())
    if kind == "test":
        found = [p for p in found if not p.name.startswith("test_answers")]
    if len(found) == 1:
        return found[0]
    if found:
        raise TaskError(f"{shown}: several {kind} files ({', '.join(p.name for p in found)}); keep one {kind}.csv")
    what = {"train": "the labelled training rows", "test": "the rows to predict, without labels",
            "sample_submission": "the submission format: an id column and the target columns"}[kind]
    raise TaskError(f"{shown}: no {kind}.csv ({what})")


def _answers(private: Path, shown: Path) -> Path:
    for name in ("answers.csv", "test.csv"):
        if (private / name).is_file():
            return private / name
    found = sorted(p for p in private.glob("*.csv") if p.is_file())
    if len(found) == 1:
        return found[0]
    raise TaskError(f"{shown}: no answers.csv (the test rows' true values: the id column and the target columns)")


def _table(path: Path, shown: Path, root: Path) -> Table:
    try:
        return read_table(path, label=str(shown / path.relative_to(root)))
    except TableError as exc:
        raise TaskError(str(exc)) from None


def _columns(shown: Path, root: Path, tables: dict[str, Table], front: dict[str, Any], sample: Path, test: Path,
             train: Path) -> tuple[str, list[str]]:
    rel = {k: shown / p.relative_to(root) for k, p in (("sample", sample), ("test", test), ("train", train))}
    s, te, tr = tables["sample"], tables["test"], tables["train"]
    if len(s.header) < 2:
        raise TaskError(f"{rel['sample']}: needs an id column and at least one target column")
    id_column = str(front.get("id_column") or s.header[0])
    raw = front.get("target")
    targets = [str(t) for t in (raw if isinstance(raw, list) else [raw])] if raw else \
        [c for c in s.header if c != id_column]
    for name in [id_column, *targets]:
        if name not in s.header:
            raise TaskError(f"{rel['sample']}: no column {name!r}")
    if id_column not in te.header:
        raise TaskError(f"{rel['test']}: no id column {id_column!r} (the first column of sample_submission.csv)")
    for t in targets:
        if t in te.header:
            raise TaskError(f"{rel['test']}: has the target column {t!r}; the test rows must be unlabelled")
        if t not in tr.header:
            raise TaskError(f"{rel['train']}: no target column {t!r} (a column of sample_submission.csv)")
    for c in te.header:
        if c != id_column and c not in tr.header:
            raise TaskError(f"{rel['train']}: lacks the column {c!r} that test.csv has")
    if len(tr.rows) < MIN_TRAIN_ROWS:
        raise TaskError(f"{rel['train']}: {len(tr.rows)} rows; the hidden validation split needs at least "
                        f"{MIN_TRAIN_ROWS}")
    if not te.rows:
        raise TaskError(f"{rel['test']}: no rows to predict")
    test_ids = te.values(id_column)
    if len(set(test_ids)) != len(test_ids):
        raise TaskError(f"{rel['test']}: the id column {id_column!r} repeats ids")
    _same_ids(rel["sample"], s.values(id_column), test_ids)
    return id_column, targets


def _same_ids(where: Path, ids: list[str], test_ids: list[str]) -> None:
    missing = set(test_ids) - set(ids)
    unknown = set(ids) - set(test_ids)
    if missing or unknown or len(ids) != len(test_ids):
        what = (f"{len(missing)} ids of test.csv missing (e.g. {sorted(missing)[0]!r})" if missing else
                f"{len(unknown)} ids not in test.csv (e.g. {sorted(unknown)[0]!r})" if unknown else
                f"{len(ids)} rows for {len(test_ids)} test rows")
        raise TaskError(f"{where}: {what}")


def _check_answers(shown: Path, root: Path, answers: Path, test: Table, id_column: str, targets: list[str]) -> None:
    rel = shown / answers.relative_to(root)
    table = _table(answers, shown, root)
    for name in [id_column, *targets]:
        if name not in table.header:
            raise TaskError(f"{rel}: no column {name!r} (answers hold the id column and the target columns)")
    _same_ids(rel, table.values(id_column), test.values(id_column))


def _metric(shown: Path, root: Path, front: dict[str, Any], flag: str | None, grader: Path | None, eval_text: str,
            n_targets: int) -> tuple[str, str, str | None]:
    """(metric name, direction, grade.py path or None)."""
    raw = front.get("metric")
    name = raw.get("name") if isinstance(raw, dict) else raw
    direction = front.get("direction") or (raw.get("direction") if isinstance(raw, dict) else None)
    if flag and not name:
        name, _, given = flag.partition(":")
        direction = direction or given or None
    if grader is not None:
        declared = _grader_direction(shown, root, grader)
        direction = direction or declared
        if direction not in ("maximize", "minimize", "max", "min"):
            raise TaskError(f"{shown / grader.relative_to(root)}: say which way is better: DIRECTION = 'maximize' "
                            "in grade.py, or 'direction:' in the description's front matter")
        direction = {"max": "maximize", "min": "minimize"}.get(direction, direction)
        return str(name or "score"), direction, str(grader)
    if not name:
        name = _metric_in_text(shown, eval_text)
    if not name:
        raise TaskError(f"{shown}: no metric: name one ('metric:' in the description's front matter, --metric NAME, "
                        f"or private/grade.py); standard metrics: {', '.join(METRICS)}")
    metric = find_metric(str(name))
    if metric is None:
        raise TaskError(f"{shown}: metric {name!r} is not a standard metric ({', '.join(METRICS)}); "
                        "add private/grade.py to grade it")
    if metric.single and n_targets != 1:
        raise TaskError(f"{shown}: metric {metric.name} needs one target column; sample_submission.csv has {n_targets}")
    if direction and {"max": "maximize", "min": "minimize"}.get(str(direction), str(direction)) != metric.direction:
        raise TaskError(f"{shown}: metric {metric.name} is to {metric.direction}, not {direction}")
    return metric.name, metric.direction, None


def _grader_direction(shown: Path, root: Path, grader: Path) -> str | None:
    rel = shown / grader.relative_to(root)
    try:
        tree = ast.parse(grader.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, SyntaxError) as exc:
        raise TaskError(f"{rel}: cannot read it as Python ({exc})") from None
    if not any(isinstance(n, ast.FunctionDef) and n.name == "grade" for n in tree.body):
        raise TaskError(f"{rel}: defines no grade(submission_csv, answers_csv) function")
    for node in tree.body:
        if isinstance(node, ast.Assign) and any(isinstance(t, ast.Name) and t.id == "DIRECTION" for t in node.targets):
            if isinstance(node.value, ast.Constant) and isinstance(node.value.value, str):
                return node.value.value
    return None


def _metric_in_text(shown: Path, text: str) -> str | None:
    found = [name for name, pattern in _METRIC_WORDS if re.search(pattern, text, re.IGNORECASE)]
    if "rmsle" in found:
        found = [f for f in found if f not in ("rmse", "mse")]
    if "rmse" in found and "mse" in found:
        found.remove("mse")
    if len(found) > 1:
        raise TaskError(f"{shown}: the evaluation text names several metrics ({', '.join(found)}); pass --metric NAME")
    return found[0] if found else None


def _with_section(body: str, name: str, text: str | None) -> str:
    """``body`` with its ``## name`` section set to ``text`` (added when missing); unchanged without text."""
    if not text or not text.strip():
        return body
    pattern = re.compile(rf"^## {re.escape(name)}[ \t]*\n.*?(?=^## |\Z)", re.DOTALL | re.MULTILINE | re.IGNORECASE)
    section = f"## {name}\n\n{text.strip()}\n\n"
    if pattern.search(body):
        return pattern.sub(lambda _m: section, body, count=1).strip()
    return f"{body.rstrip()}\n\n{section}".strip()


def _title(root: Path) -> str:
    return root.name.replace("_", " ").replace("-", " ").strip() or "task"
