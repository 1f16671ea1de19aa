"""The folders keep to their jobs: only runs/ speaks SQL, and imports flow one way
(ARCHITECTURE.md). Read from the source's syntax trees, lazy imports inside functions included."""

from __future__ import annotations

import ast
import re
from pathlib import Path

import pytest

from tests.conftest import ROOT

PACKAGES = ("discovery", "search", "agents", "workspace", "reviewers", "tui", "runs")
OURS = set(PACKAGES)
# What each package must not import (a module, or every module under a package).
FORBIDDEN = {
    "runs": OURS - {"runs"},
    "search": {"runs", "agents"},
    "workspace": {"runs", "agents"},
    # The TUI attaches to a run in another process or a finished one: never to the orchestrator.
    "tui": {"discovery.engine", "discovery.graph", "discovery.api"},
}
_SQL = re.compile(
    r"^\s*(select\s.+?\sfrom\s+[\w{}]+(\s+(where|order|group|limit|join|as)\b|\s*$|\s*[;)])"  # a query, not prose
    r"|insert\s+(or\s+\w+\s+)?into\s|update\s+\S+\s+set\s|delete\s+from\s"
    r"|pragma\s|create\s+(table|index|view)\s|drop\s+table\s|alter\s+table\s)", re.I | re.S)


def _modules(root: Path, package: str) -> list[Path]:
    return sorted((root / package).rglob("*.py"))


def _text(node: ast.AST) -> str | None:
    """A string literal's text; an f-string's with each placeholder as {}."""
    if isinstance(node, ast.Constant) and isinstance(node.value, str):
        return node.value
    if isinstance(node, ast.JoinedStr):
        return "".join(v.value if isinstance(v, ast.Constant) else "{}" for v in node.values)
    return None


def _imports(tree: ast.AST) -> list[list[str]]:
    """The modules each import statement may name: ``from a.b import c`` a.b, or a.b.c when c is a module."""
    names = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names += [[a.name] for a in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module and not node.level:
            names.append([node.module, *(f"{node.module}.{a.name}" for a in node.names)])
    return names


def _banned(name: str, banned: set[str]) -> bool:
    return any(name == b or name.startswith(b + ".") for b in banned)


def sql_outside_runs(root: Path = ROOT) -> list[str]:
    """Each place outside runs/ that holds SQL or reaches into the store's connection."""
    found = []
    for package in PACKAGES:
        if package == "runs":
            continue
        for path in _modules(root, package):
            tree = ast.parse(path.read_text(), str(path))
            where = path.relative_to(root)
            for node in ast.walk(tree):
                text = _text(node)
                if text is not None and _SQL.match(text):
                    found.append(f"{where}:{node.lineno}: SQL {text.strip()[:60]!r}")
                elif isinstance(node, ast.Attribute) and node.attr in ("_db", "db", "conn"):
                    found.append(f"{where}:{node.lineno}: .{node.attr}")
            for names in _imports(tree):
                hit = next((n for n in names if _banned(n, {"sqlite_utils", "sqlite3.connect"})), None)
                if hit is not None:
                    found.append(f"{where}: imports {hit}")
    return found


def forbidden_imports(root: Path = ROOT) -> list[str]:
    """Each import that goes against the flow (a package importing what it must not)."""
    found = []
    for package, banned in FORBIDDEN.items():
        for path in _modules(root, package):
            for names in _imports(ast.parse(path.read_text(), str(path))):
                hit = next((n for n in names if _banned(n, banned)), None)
                if hit is not None:
                    found.append(f"{path.relative_to(root)}: imports {hit}")
    return found


def test_no_sql_outside_runs() -> None:
    assert sql_outside_runs() == []


def test_imports_flow_one_way() -> None:
    assert forbidden_imports() == []


@pytest.mark.parametrize(("package", "source", "expected"), [
    ("tui", "from discovery.engine import Engine\n", "imports discovery.engine"),
    ("tui", "def f():\n    import discovery.api\n", "imports discovery.api"),
    ("search", "from runs.store import RunStore\n", "imports runs.store"),
    ("workspace", "def f():\n    from agents import llm\n", "imports agents"),
    ("discovery", "def f(store):\n    return store._db.execute('x')\n", ": ._db"),
    ("tui", "rows = 'select id from nodes where run_id = ?'\n", "SQL 'select id from nodes"),
    ("reviewers", "q = f'select {cols} from {table}'\n", "SQL 'select {} from {}'"),
])
def test_the_checks_catch_what_they_are_for(tmp_path: Path, package: str, source: str, expected: str) -> None:
    (tmp_path / package).mkdir()
    (tmp_path / package / "probe.py").write_text(source)
    (tmp_path / "runs").mkdir(exist_ok=True)
    (tmp_path / "runs" / "store.py").write_text("SQL = 'select id from runs where id = ?'\n")  # runs/ may
    found = sql_outside_runs(tmp_path) + forbidden_imports(tmp_path)
    assert len(found) == 1 and found[0].startswith(f"{package}/probe.py") and expected in found[0], found


@pytest.mark.parametrize("prose", [
    "test or validation data used to select hyperparameters and then reported as unbiased",
    "Select the best node from the tree, then improve it.",
    "update the plan: set LR higher",
])
def test_prose_that_reads_like_sql_is_not_taken_for_it(prose: str) -> None:
    assert not _SQL.match(prose)
