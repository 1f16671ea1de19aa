"""Small CSV tables read and written with the standard library (no pandas needed)."""

from __future__ import annotations

import csv
from dataclasses import dataclass
from pathlib import Path

MAX_FIELD = 16 * 1024 * 1024  # bytes in one CSV field (long text columns)


class TableError(ValueError):
    """A CSV file cannot be read as a table; the message names the file."""


@dataclass
class Table:
    """A header and string rows, as the file had them (values are never re-formatted)."""

    header: list[str]
    rows: list[list[str]]

    def column(self, name: str) -> int:
        return self.header.index(name)

    def values(self, name: str) -> list[str]:
        i = self.column(name)
        return [r[i] for r in self.rows]


def read_table(path: str | Path, *, label: str | None = None, max_bytes: int | None = None) -> Table:
    """The CSV at ``path``; TableError (naming ``label`` or the path) when it is not a table."""
    path = Path(path)
    name = label or str(path)
    csv.field_size_limit(MAX_FIELD)
    try:
        if max_bytes is not None and path.stat().st_size > max_bytes:
            raise TableError(f"{name}: larger than {max_bytes // 1_000_000} MB")
        with open(path, newline="", encoding="utf-8") as f:
            reader = csv.reader(f)
            header = next(reader, None)
            if not header:
                raise TableError(f"{name}: empty, no header row")
            rows = []
            for line, row in enumerate(reader, start=2):
                if not row:
                    continue
                if len(row) != len(header):
                    raise TableError(f"{name}: line {line} has {len(row)} fields, the header {len(header)}")
                rows.append(row)
    except (OSError, UnicodeDecodeError, csv.Error) as exc:
        raise TableError(f"{name}: cannot read it as CSV ({exc})") from None
    header = [h.strip() for h in header]
    if len(set(header)) != len(header):
        dup = next(h for h in header if header.count(h) > 1)
        raise TableError(f"{name}: column {dup!r} appears twice in the header")
    return Table(header, rows)


def write_table(path: str | Path, header: list[str], rows: list[list[str]]) -> None:
    """Write a CSV with ``header`` and ``rows`` (strings, written as they are)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "w", newline="", encoding="utf-8") as f:
        writer = csv.writer(f, lineterminator="\n")
        writer.writerow(header)
        writer.writerows(rows)
