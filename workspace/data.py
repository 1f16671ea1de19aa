"""Where an idea's data paths appear in a node's folder: one rule, used by every workspace
and by the protocol text the agents read.

The rule: ``data/`` in the node folder holds every listed file under its own name and the
contents of every listed folder. ``data: [data]`` (a folder holding train.csv) gives
``data/train.csv``, exactly as ``data: [data/train.csv]`` does, so a baseline that reads
``data/train.csv`` next to its idea file reads the same path in a node. Two entries that
would take the same name are an error, found before a run is stored.

A listed folder is linked, not copied: when it is the only entry, ``data`` itself links to
it (cheap whatever its size); otherwise each of its top-level entries gets a link in
``data/``. Links point wherever the workspace makes the path visible (the host path for a
local process, a mount point inside a container).
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Callable, Sequence
from pathlib import Path

from pydantic import BaseModel

DATA_DIR = "data"
_LISTED = 12  # names of a folder's contents the protocol text spells out


class DataLayoutError(ValueError):
    """Two data paths would take the same name under data/; the message names both."""


class DataEntry(BaseModel):
    """One name in a node's ``data/``: which listed path (``index``) it comes from and its path
    below that one (``rel``, empty for the listed path itself)."""

    name: str
    index: int
    rel: str = ""


def is_single_folder(paths: Sequence[str]) -> bool:
    """True when ``data/`` is simply the one listed folder."""
    return len(paths) == 1 and os.path.isdir(paths[0])


def data_layout(paths: Sequence[str]) -> list[DataEntry]:
    """Every name that appears directly under ``data/``; DataLayoutError on a clash."""
    entries: list[DataEntry] = []
    seen: dict[str, str] = {}
    for index, path in enumerate(paths):
        if os.path.isdir(path):
            names = sorted(os.listdir(path))
            items = [DataEntry(name=name, index=index, rel=name) for name in names]
        else:
            items = [DataEntry(name=os.path.basename(path.rstrip("/")), index=index)]
        for item in items:
            source = os.path.join(path, item.rel) if item.rel else path
            if item.name in seen:
                raise DataLayoutError(f"data: {seen[item.name]} and {source} would both be data/{item.name} "
                                      "(a listed folder's contents go directly under data/; rename one)")
            seen[item.name] = source
            entries.append(item)
    return entries


def link_data(workdir: Path, paths: Sequence[str], visible: Callable[[int, str], str] | None = None) -> None:
    """(Re)build ``workdir/data`` by the rule above. ``visible(index, path)`` says where the
    listed path ``index`` is seen by the node (default: its host path)."""
    target = workdir / DATA_DIR
    _remove(target)
    if not paths:
        return
    where = visible or (lambda _index, path: path)
    if is_single_folder(paths):
        target.symlink_to(where(0, paths[0]), target_is_directory=True)
        return
    target.mkdir()
    for entry in data_layout(paths):
        base = where(entry.index, paths[entry.index])
        (target / entry.name).symlink_to(os.path.join(base, entry.rel) if entry.rel else base)


def describe_data(paths: Sequence[str]) -> list[str]:
    """Where each listed path is, in the words the agents read: 'data/train.csv (a file)'..."""
    lines = []
    for path in paths:
        name = os.path.basename(path.rstrip("/"))
        if os.path.isdir(path):
            inside = sorted(os.listdir(path))
            shown = ", ".join(f"data/{n}" for n in inside[:_LISTED])
            more = f" and {len(inside) - _LISTED} more" if len(inside) > _LISTED else ""
            lines.append(f"the contents of the folder {name}: {shown}{more}" if inside
                         else f"the folder {name} (empty)")
        else:
            lines.append(f"data/{name} (the file {name})")
    return lines


def _remove(path: Path) -> None:
    """Remove ``path`` without following links (a node may have replaced data/ with anything)."""
    if path.is_symlink() or path.is_file():
        path.unlink()
    elif path.is_dir():
        shutil.rmtree(path, ignore_errors=True)
