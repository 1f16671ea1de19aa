"""Read and rewrite the top-level constants of an experiment script.

The offline agent searches by changing assignments such as ``LR = 0.01`` in place, so the
code of every node stands alone: it can be read, diffed against its parent and rerun as is.
"""

from __future__ import annotations

import ast
from typing import Any

from runs.models import ParamValue


class ParamError(ValueError):
    """The script and the search space do not fit together."""


def find_params(code: str) -> dict[str, ParamValue]:
    """Top-level ``NAME = literal`` assignments of ``code`` and their values."""
    found: dict[str, ParamValue] = {}
    for name, node in _assignments(code).items():
        try:
            value = ast.literal_eval(node.value)
        except ValueError:
            continue
        if isinstance(value, (bool, int, float, str)):
            found[name] = value
    return found


def check_search_space(code: str, names: list[str]) -> None:
    """Raise ParamError naming each search-space name the script does not assign."""
    present = find_params(code)
    missing = [n for n in names if n not in present]
    if missing:
        raise ParamError(
            f"search_space names {', '.join(missing)}, but the baseline has no top-level "
            f"`NAME = literal` assignment for {'it' if len(missing) == 1 else 'them'}"
        )


def set_params(code: str, params: dict[str, ParamValue]) -> str:
    """Return ``code`` with each named top-level assignment set to the given value."""
    targets = _assignments(code)
    lines = code.splitlines(keepends=True)
    edits: list[tuple[int, int, int, int, str]] = []
    for name, value in params.items():
        node = targets.get(name)
        if node is None:
            raise ParamError(f"the script has no top-level assignment to {name}")
        v = node.value
        edits.append((v.lineno, v.col_offset, v.end_lineno or v.lineno, v.end_col_offset or 0, _literal(value)))
    # Apply from the bottom up so earlier offsets stay valid.
    for lineno, col, end_lineno, end_col, text in sorted(edits, reverse=True):
        first, last = lines[lineno - 1], lines[end_lineno - 1]
        start = len(first.encode()[:col].decode(errors="ignore"))
        end = len(last.encode()[:end_col].decode(errors="ignore"))
        lines[lineno - 1 : end_lineno] = [first[:start] + text + last[end:]]
    return "".join(lines)


def _literal(value: Any) -> str:
    if isinstance(value, float):
        text = repr(value)
        return text if text not in ("inf", "-inf", "nan") else f"float({text!r})"
    return repr(value)


def _assignments(code: str) -> dict[str, ast.Assign | ast.AnnAssign]:
    try:
        tree = ast.parse(code)
    except SyntaxError as exc:
        raise ParamError(f"the script does not parse: line {exc.lineno}: {exc.msg}") from None
    out: dict[str, ast.Assign | ast.AnnAssign] = {}
    for stmt in tree.body:
        if isinstance(stmt, ast.Assign) and len(stmt.targets) == 1 and isinstance(stmt.targets[0], ast.Name):
            out[stmt.targets[0].id] = stmt
        elif isinstance(stmt, ast.AnnAssign) and isinstance(stmt.target, ast.Name) and stmt.value is not None:
            out[stmt.target.id] = stmt
    return out
