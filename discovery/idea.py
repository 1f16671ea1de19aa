"""Parse an idea: Markdown with a YAML front-matter block, or AI-Scientist-v2's idea JSON.

Every problem becomes an ``IdeaError`` whose one-line message names the file and the field.
"""

from __future__ import annotations

import ast
import json
import re
from collections.abc import Callable
from pathlib import Path
from typing import Any

import yaml
from pydantic import ValidationError

from agents.params import ParamError, check_search_space
from discovery.durations import DurationError, parse_duration
from runs.models import Idea, MetricSpec

_FRONT_MATTER = re.compile(r"\A---[ \t]*\r?\n(.*?)\r?\n---[ \t]*(?:\r?\n|\Z)", re.S)
_DIRECTIONS = {"maximize": "maximize", "max": "maximize", "minimize": "minimize", "min": "minimize"}
_KNOWN_FIELDS = {
    "title", "hypothesis", "experiments", "metric", "direction", "baseline", "search_space", "data",
    "time_limit", "gpus_per_node", "network", "image", "holdout", "node_disk", "node_memory", "node_shm",
    "papers",
}


class IdeaError(ValueError):
    """The idea file is missing or malformed; the message is one line for the user."""


class DuplicateKey(yaml.YAMLError):
    """A mapping gives one key twice; the message names it and its line."""

    def __init__(self, key: Any, line: int) -> None:
        super().__init__(f"{key!r} is given twice (line {line})")


class _StrictLoader(yaml.SafeLoader):
    """YAML's safe loader, except that a key given twice is an error: PyYAML keeps the last one
    silently, and a front matter with two ``metric`` lines would run with the one not meant."""

    def construct_mapping(self, node: yaml.MappingNode, deep: bool = False) -> dict[Any, Any]:
        seen: set[Any] = set()
        for key_node, _ in node.value:
            key = self.construct_object(key_node, deep=deep)
            try:
                if key in seen:
                    raise DuplicateKey(key, key_node.start_mark.line + 2)  # + the opening '---' line
                seen.add(key)
            except TypeError:
                continue  # an unhashable key: construct_mapping itself reports it
        return super().construct_mapping(node, deep=deep)


def load_front_matter(text: str) -> Any:
    """YAML ``text`` loaded safely; DuplicateKey (a YAMLError) when a mapping repeats a key."""
    return yaml.load(text, Loader=_StrictLoader) or {}  # noqa: S506 - _StrictLoader is a SafeLoader


def load_idea(path: str | Path, *, metric: str | None = None, goal: str | None = None,
              evaluation: str | None = None, desc: str | Path | None = None,
              notice: Callable[[str], None] | None = None) -> Idea:
    """Read and validate the idea at ``path``: a file, or a task folder (docs/tasks.md).

    ``metric`` (``--metric``: ``NAME`` or ``NAME:maximize``/``NAME:minimize``) names the metric
    when the file has none, as AI-Scientist-v2's JSON does not, and replaces the file's when it
    has one; ``notice`` then gets a one-line message saying so. A flag without a direction keeps
    the file's direction for the same metric, else means maximize. ``goal``, ``evaluation`` and
    ``desc`` (a description file) describe an AIDE data folder.
    """
    flag = parse_metric_flag(metric) if metric is not None else None
    path = Path(path)
    if path.is_dir():
        from discovery.tasks.layout import load_task

        return load_task(path, metric=metric, goal=goal, evaluation=evaluation, desc=desc)
    for option, value in (("--goal", goal), ("--eval", evaluation), ("--desc", desc)):
        if value:
            raise IdeaError(f"{option}: only for a task folder, and {path} is not a folder")
    if not path.is_file():
        raise IdeaError(f"{path}: no such idea file")
    try:
        text = path.read_text(encoding="utf-8-sig")  # -sig: editors on Windows start files with a BOM
    except (OSError, UnicodeDecodeError) as exc:
        raise IdeaError(f"{path}: cannot read the idea file ({exc})") from None
    if path.suffix.lower() == ".json":
        fields = _fields_from_json(path, text)
    else:
        fields = _fields_from_markdown(path, text)
    if flag is not None:
        name, direction = flag
        if "metric" in fields:
            written = _metric(path, fields.pop("metric"), fields.pop("direction", None))
            if direction is None:
                direction = written.direction if written.name == name else "maximize"
            if (written.name, written.direction) != (name, direction) and notice is not None:
                notice(f"--metric {name} ({direction}) replaces the idea's metric {written.name} "
                       f"({written.direction})")
        fields["metric"] = {"name": name, "direction": direction or "maximize"}
        fields.pop("direction", None)
    return _build(path, fields)


def parse_metric_flag(text: str) -> tuple[str, str | None]:
    """``--metric NAME[:maximize|minimize]`` as (name, direction or None); IdeaError naming the flag."""
    name, sep, raw = text.strip().partition(":")
    name = name.strip()
    if not name:
        raise IdeaError(f"--metric {text!r}: no metric name (write NAME or NAME:maximize or NAME:minimize)")
    if not sep:
        return name, None
    direction = _DIRECTIONS.get(raw.strip().lower())
    if direction is None:
        raise IdeaError(f"--metric {text!r}: direction {raw!r} is not 'maximize' or 'minimize' "
                        f"(also max or min)")
    return name, direction


def check_offline(idea: Idea) -> None:
    """IdeaError when the built-in offline agent (no model) would have nothing to search.

    It only edits the top-level constants of the baseline that ``search_space`` names, so
    without both every node would fail, or re-run the baseline for the whole budget.
    """
    where = idea.source or "idea"
    ways = "or pass --model (or set DISCOVER_MODEL) to let a language model write the code"
    if not idea.baseline:
        raise IdeaError(f"{where}: baseline: missing; with no model configured the offline agent edits a "
                        f"baseline script: add 'baseline: FILE.py' and a search_space to the idea, {ways}")
    if not idea.search_space:
        raise IdeaError(f"{where}: search_space: missing; with no model configured the offline agent varies "
                        f"only the baseline's constants it names: add e.g. 'search_space: {{LR: [0.01, 0.1]}}', "
                        f"{ways}")


def _fields_from_markdown(path: Path, text: str) -> dict[str, Any]:
    match = _FRONT_MATTER.match(text)
    if not match:
        raise IdeaError(f"{path}: no front-matter block (a '---' line, YAML fields, a closing '---')")
    try:
        front = load_front_matter(match.group(1))
    except DuplicateKey as exc:
        raise IdeaError(f"{path}: front matter: {exc}") from None
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" at line {mark.line + 2}" if mark else ""
        raise IdeaError(f"{path}: front matter is not valid YAML{where}") from None
    if not isinstance(front, dict):
        raise IdeaError(f"{path}: front matter must be a mapping of fields")
    unknown = sorted(set(front) - _KNOWN_FIELDS)
    if unknown:
        raise IdeaError(f"{path}: unknown front-matter field {unknown[0]!r} (known: {', '.join(sorted(_KNOWN_FIELDS))})")
    body = text[match.end():].strip()
    sections = _sections(body)
    fields = dict(front)
    fields.setdefault("title", _first_heading(body))
    fields.setdefault("hypothesis", sections.get("hypothesis", ""))
    fields.setdefault("experiments", sections.get("experiments", ""))
    fields["body"] = body
    return fields


def _fields_from_json(path: Path, text: str) -> dict[str, Any]:
    try:
        data = json.loads(text)
    except json.JSONDecodeError as exc:
        raise IdeaError(f"{path}: not valid JSON (line {exc.lineno}: {exc.msg})") from None
    if isinstance(data, list):
        if len(data) != 1:
            raise IdeaError(f"{path}: holds {len(data)} ideas; keep the one to run in its own file")
        data = data[0]
    if not isinstance(data, dict):
        raise IdeaError(f"{path}: expected an idea object")
    lower = {str(k).lower(): v for k, v in data.items()}
    experiments = lower.get("experiments", "")
    if isinstance(experiments, list):
        experiments = "\n".join(f"- {e}" for e in experiments)
    parts = [f"# {lower.get('title', '')}"]
    for key in ("short hypothesis", "abstract", "experiments", "risk factors and limitations", "related work"):
        value = lower.get(key)
        if value:
            value = experiments if key == "experiments" else value
            parts.append(f"## {key.title()}\n\n{value}")
    fields: dict[str, Any] = {
        "title": lower.get("title") or lower.get("name") or "",
        "hypothesis": lower.get("short hypothesis", ""),
        "experiments": experiments,
        "body": "\n\n".join(parts),
    }
    for key in _KNOWN_FIELDS - {"title", "hypothesis", "experiments"}:
        if key in lower:
            fields[key] = lower[key]
    return fields


def _build(path: Path, fields: dict[str, Any]) -> Idea:
    base = path.parent
    if not fields.get("title"):
        raise IdeaError(f"{path}: title: missing (a 'title' field or a '# Heading')")
    fields["metric"] = _metric(path, fields.get("metric"), fields.pop("direction", None))
    for key in ("time_limit",):
        if key in fields:
            try:
                fields[key] = parse_duration(fields[key])
            except DurationError as exc:
                raise IdeaError(f"{path}: {key}: {exc}") from None
    if fields.get("baseline"):
        fields["baseline_path"], fields["baseline"] = _read_script(path, base, "baseline", fields["baseline"])
    if fields.get("holdout"):
        # The code stays in memory; the store keeps only the path and hash (runs.models.Idea).
        fields["holdout_path"], fields["holdout"] = _read_script(path, base, "holdout", fields["holdout"])
    data = fields.get("data") or []
    if isinstance(data, str):
        data = [data]
    if not isinstance(data, list):
        raise IdeaError(f"{path}: data: expected a list of paths")
    resolved = []
    for entry in data:
        p = (base / str(entry)).resolve()
        if not p.exists():
            raise IdeaError(f"{path}: data: {entry} does not exist")
        resolved.append(str(p))
    fields["data"] = resolved
    fields["source"] = str(path)
    try:
        idea = Idea.model_validate(fields)
    except ValidationError as exc:
        err = exc.errors()[0]
        where = ".".join(str(p) for p in err["loc"]) or "idea"
        raise IdeaError(f"{path}: {where}: {err['msg'].removeprefix('Value error, ')}") from None
    if idea.search_space:
        if not idea.baseline:
            raise IdeaError(f"{path}: search_space: needs a baseline script whose constants it names")
        try:
            ast.parse(idea.baseline)
        except (SyntaxError, ValueError) as exc:
            why = f"line {exc.lineno}: {exc.msg}" if isinstance(exc, SyntaxError) else str(exc)
            raise IdeaError(f"{path}: baseline: {Path(idea.baseline_path or 'baseline').name} does not parse "
                            f"({why}); search_space needs its constants") from None
        try:
            check_search_space(idea.baseline, list(idea.search_space))
        except ParamError as exc:
            raise IdeaError(f"{path}: {exc}") from None
    return idea


def _metric(path: Path, metric: Any, direction: Any) -> MetricSpec:
    if metric is None:
        raise IdeaError(f"{path}: metric: missing (e.g. 'metric: val_accuracy' and 'direction: maximize')")
    if isinstance(metric, str):
        metric = {"name": metric}
    if not isinstance(metric, dict):
        raise IdeaError(f"{path}: metric: expected a name or {{name, direction}}")
    metric = dict(metric)
    if direction is not None:
        metric.setdefault("direction", direction)
    raw = str(metric.get("direction", "maximize")).strip().lower()
    if raw not in _DIRECTIONS:
        raise IdeaError(f"{path}: metric direction: {metric.get('direction')!r} is not 'maximize' or 'minimize'")
    metric["direction"] = _DIRECTIONS[raw]
    try:
        return MetricSpec.model_validate(metric)
    except ValidationError as exc:
        err = exc.errors()[0]
        raise IdeaError(f"{path}: metric.{'.'.join(map(str, err['loc']))}: {err['msg']}") from None


def _read_script(path: Path, base: Path, field: str, value: Any) -> tuple[str, str]:
    script = (base / str(value)).resolve()
    if not script.is_file():
        raise IdeaError(f"{path}: {field}: {value} is not a file")
    try:
        return str(script), script.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise IdeaError(f"{path}: {field}: cannot read {value} ({exc})") from None


def _first_heading(body: str) -> str:
    for line in body.splitlines():
        if line.startswith("# "):
            return line[2:].strip()
    return ""


def _sections(body: str) -> dict[str, str]:
    """Map lower-cased ``## Heading`` names to their text."""
    out: dict[str, str] = {}
    current: str | None = None
    lines: list[str] = []
    for line in body.splitlines() + ["## "]:
        if line.startswith("## "):
            if current is not None:
                out[current] = "\n".join(lines).strip()
            current, lines = line[3:].strip().lower(), []
        elif current is not None:
            lines.append(line)
    return out
