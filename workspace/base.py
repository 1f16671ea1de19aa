"""What every execution backend takes and returns.

A workspace runs one node's code in its own folder and reports what happened. It knows
nothing about LLMs, policies or the store.
"""

from __future__ import annotations

import json
import math
import os
import shutil
from collections.abc import Callable, Collection, Iterator
from pathlib import Path
from typing import Any, Protocol

from pydantic import BaseModel, Field

from workspace.data import link_data

SCRIPT_NAME = "experiment.py"
METRICS_FILE = "metrics.json"
_OWN_FILES = {SCRIPT_NAME, METRICS_FILE, "stdout.txt", "stderr.txt", "pid"}
MAX_ARTIFACTS = 200


class ExecRequest(BaseModel):
    """One execution: the code, the folder it runs in, and its limits."""

    run_id: str
    node_id: int
    workdir: Path
    code: str
    # The file ``code`` is written to and run as; another name (the held-out script's
    # ``holdout.py``) leaves an ``experiment.py`` already in the folder untouched.
    script: str = Field(default=SCRIPT_NAME, pattern=r"^[A-Za-z_][A-Za-z0-9_]*\.py$")
    time_limit: float = Field(gt=0)
    output_cap: int = 1_000_000  # bytes kept of each stream
    data: list[str] = Field(default_factory=list)  # host paths, under data/ by workspace/data.py's rule
    gpus: list[str] = Field(default_factory=list)  # device ids this node may use
    threads: int = 1  # CPU threads the node should use (OMP/MKL/OpenBLAS)
    seed: int = 0
    network: bool = False
    image: str | None = None
    memory_limit: str | None = None
    disk_limit: int | None = Field(default=None, gt=0)  # bytes the node folder may hold; None: the workspace's
    extra_env: dict[str, str] = Field(default_factory=dict)  # never secrets: set by the framework only
    # Only the node folder, the data paths and the system's files may be opened (Landlock, in the
    # local workspace; a container sees nothing else anyway). Set for dataset tasks.
    confine: bool = False


class ExecResult(BaseModel):
    """What happened when the code ran."""

    exit_code: int | None
    timed_out: bool = False
    oom_killed: bool = False
    cancelled: bool = False
    disk_exceeded: bool = False  # killed when its folder reached the disk quota
    duration: float  # seconds the node's own process ran
    stdout: str = ""
    stderr: str = ""
    stdout_bytes: int = 0
    stderr_bytes: int = 0
    metrics: dict[str, Any] | None = None
    metrics_error: str | None = None
    artifacts: list[str] = Field(default_factory=list)
    overhead: float = 0.0  # seconds the backend spent around the process
    review: str | None = None  # why the framework's own checks want a person to look at this result


class Workspace(Protocol):
    """An execution backend (local process, Docker container, Ray task)."""

    name: str

    async def execute(self, request: ExecRequest) -> ExecResult:
        """Run ``request.code`` and return its result; kill it on cancellation."""
        ...

    async def close(self) -> None:
        """Release pooled resources."""
        ...


class CappedBuffer:
    """Keeps the first and last ``cap // 2`` bytes of a stream and counts the rest."""

    def __init__(self, cap: int) -> None:
        self.half = max(1, cap // 2)
        self.head = bytearray()
        self.tail = bytearray()
        self.total = 0

    def feed(self, chunk: bytes) -> None:
        self.total += len(chunk)
        room = self.half - len(self.head)
        if room > 0:
            self.head += chunk[:room]
            chunk = chunk[room:]
        if chunk:
            self.tail += chunk
            if len(self.tail) > self.half:
                del self.tail[: len(self.tail) - self.half]

    def text(self) -> str:
        cut = self.total - len(self.head) - len(self.tail)
        head = self.head.decode(errors="replace")
        tail = self.tail.decode(errors="replace")
        if cut > 0:
            return f"{head}\n[... {cut} bytes cut by discover ...]\n{tail}"
        return head + tail


# A node's code may replace any file in its folder by a symbolic link to a file of the user's
# (~/.bashrc, a key, the run database). The framework runs unconfined: it must never write,
# or read for the node, through such a link. It touches the files a node could have replaced
# only through these.

def open_node_file(path: Path, *, write: bool = False) -> int:
    """A descriptor on ``path`` in a node folder, never through a link the node put there.

    Writing removes whatever is at ``path`` first (a link goes, its target is untouched) and
    creates a new file; reading a link raises OSError (ELOOP).
    """
    if write:
        remove_node_file(path)
        return os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW, 0o644)
    return os.open(path, os.O_RDONLY | os.O_NOFOLLOW)


def remove_node_file(path: Path) -> None:
    """Remove what is at ``path`` in a node folder: a file, a link (not its target), a folder."""
    if path.is_dir() and not path.is_symlink():
        shutil.rmtree(path)
    else:
        path.unlink(missing_ok=True)


def clear_for_folder(path: Path) -> Path:
    """``path``, with a link or a file the node left where a folder of the framework's goes
    removed (a ``tmp`` or ``seeds`` link to a folder of the user's would be written into)."""
    if path.is_symlink() or (path.exists() and not path.is_dir()):
        remove_node_file(path)
    return path


def write_node_file(path: Path, text: str) -> None:
    """Write ``text`` (UTF-8) to a file of the framework's own in a node folder (see open_node_file)."""
    with os.fdopen(open_node_file(path, write=True), "w", encoding="utf-8") as f:
        f.write(text)


def read_metrics(workdir: Path) -> tuple[dict[str, Any] | None, str | None]:
    """Parse ``metrics.json`` in ``workdir``: (metrics, None) or (None, why not)."""
    path = workdir / METRICS_FILE
    if path.is_symlink():
        return None, f"{METRICS_FILE} is a link; write the file itself"
    if not path.is_file():
        return None, f"no {METRICS_FILE} written"
    try:
        with os.fdopen(open_node_file(path), "rb") as f:
            raw = f.read(1_000_001)
    except OSError as exc:
        return None, f"{METRICS_FILE} cannot be read ({exc.strerror})"
    if len(raw) > 1_000_000:
        return None, f"{METRICS_FILE} is larger than 1 MB"
    try:
        data = json.loads(raw.decode("utf-8"), parse_constant=lambda c: float(c))
    except RecursionError:
        return None, f"{METRICS_FILE} nests too deeply"
    except (ValueError, UnicodeDecodeError) as exc:  # JSONDecodeError, and integers of over 4300 digits
        return None, f"{METRICS_FILE} is not valid JSON ({str(exc)[:200]})"
    if not isinstance(data, dict):
        return None, f"{METRICS_FILE} must hold a JSON object"
    return {str(k): _storable(v) for k, v in data.items()}, None


def _storable(value: Any) -> Any:
    """A top-level metrics value as the store keeps it: NaN, infinities and integers no float can
    hold become strings, so that the store's JSON stays valid and no reader overflows on them."""
    if isinstance(value, float) and not math.isfinite(value):
        return repr(value)
    if isinstance(value, int) and not isinstance(value, bool):
        try:
            float(value)
        except OverflowError:
            return f"{str(value)[:20]}... ({len(str(value))} digits)"
    return value


_WALK_CAP = 100_000  # entries read of one folder: a node can make millions


def walk_node_folder(root: Path,
                     descend: Callable[[str], bool] = lambda rel: True) -> Iterator[tuple[str, os.DirEntry]]:
    """Each entry under ``root`` as (its path relative to ``root``, the entry): a folder's entries
    in name order, each subfolder's right after it, links never followed, ``descend(rel)`` saying
    whether to go into a folder. A node decides this tree: no recursion (it can nest thousands of
    folders deep) and at most _WALK_CAP entries read of any one folder."""
    stack: list[tuple[str, Iterator[os.DirEntry]]] = []

    def enter(rel: str, path: str) -> None:
        try:
            with os.scandir(path) as it:
                entries = [e for _, e in zip(range(_WALK_CAP), it)]
        except OSError:
            return  # removed meanwhile, or unreadable: nothing under it
        stack.append((rel, iter(sorted(entries, key=lambda e: e.name))))

    enter("", str(root))
    while stack:
        prefix, entries = stack[-1]
        entry = next(entries, None)
        if entry is None:
            stack.pop()
            continue
        rel = prefix + entry.name
        yield rel, entry
        try:
            is_dir = entry.is_dir(follow_symlinks=False)
        except OSError:
            continue
        if is_dir and descend(rel):
            enter(rel + os.sep, entry.path)


_DIR_FLAGS = os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC


def remove_tree(path: Path) -> None:
    """Remove ``path`` and everything under it, however deep a node nested it: one folder open
    at a time, by file descriptor (shutil.rmtree recurses, and a path past PATH_MAX cannot even
    be named); links are removed, never followed."""
    if path.is_symlink() or not path.is_dir():
        path.unlink(missing_ok=True)
        return
    fd, names = os.open(path, _DIR_FLAGS), []  # the open folder, and the names leading to it
    try:
        while True:
            with os.scandir(fd) as it:
                batch = [e for _, e in zip(range(10_000), it)]
            folder = next((e.name for e in batch if e.is_dir(follow_symlinks=False)), None)
            for entry in batch:
                if not entry.is_dir(follow_symlinks=False):
                    os.unlink(entry.name, dir_fd=fd)
            if folder is not None:
                child = os.open(folder, _DIR_FLAGS, dir_fd=fd)
                os.close(fd)
                fd = child
                names.append(folder)
            elif len(batch) == 10_000:
                continue  # more files than one batch: read on
            elif names:
                parent = os.open("..", os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC, dir_fd=fd)
                os.close(fd)
                fd = parent
                os.rmdir(names.pop(), dir_fd=fd)
            else:
                break
    finally:
        os.close(fd)
    path.rmdir()


def copy_tree(source: Path, target: Path, *, skip: Collection[str] = (),
              copy: Callable[[str, str], Any] = shutil.copy2) -> None:
    """Copy the folder ``source`` to ``target`` (made here), links as links, leaving out entries
    named in ``skip`` at any depth; ``copy(src, dst)`` copies a file. Without recursion (see
    walk_node_folder); what lies past the longest path a file can be named by, or cannot be
    read, is left out."""
    target.mkdir(parents=True)

    def made(rel: str) -> bool:  # a folder is made before the walk goes into it
        if os.path.basename(rel) in skip:
            return False
        try:
            (target / rel).mkdir()
        except OSError:
            return False
        return True

    for rel, entry in walk_node_folder(source, made):
        if os.path.basename(rel) in skip or entry.is_dir(follow_symlinks=False):
            continue
        try:
            if entry.is_symlink():
                os.symlink(os.readlink(entry.path), target / rel)
            else:
                copy(entry.path, str(target / rel))
        except OSError:
            continue


def list_artifacts(workdir: Path) -> list[str]:
    """Files the experiment left in its folder, relative paths in name order, at most MAX_ARTIFACTS."""
    out: list[str] = []
    for rel, entry in walk_node_folder(workdir, lambda rel: rel not in ("data", "tmp")):
        if len(out) >= MAX_ARTIFACTS:
            break
        if rel not in _OWN_FILES and entry.is_file(follow_symlinks=False):
            out.append(rel)
    return out


def prepare_workdir(request: ExecRequest, visible: Callable[[int, str], str] | None = None) -> None:
    """Create the node folder, write the script and link the data (workspace/data.py's rule);
    ``visible(index, path)`` says where the node sees a data path (default: where it is)."""
    request.workdir.mkdir(parents=True, exist_ok=True)
    # A re-run (resume, seeds, the final check) finds what an earlier attempt left, links included.
    write_node_file(request.workdir / request.script, request.code)
    remove_node_file(request.workdir / METRICS_FILE)
    clear_for_folder(request.workdir / "tmp").mkdir(exist_ok=True)  # the node's TMPDIR, not a link left there
    link_data(request.workdir, request.data, visible)


def write_outputs(workdir: Path, stdout: str, stderr: str) -> None:
    write_node_file(workdir / "stdout.txt", stdout)
    write_node_file(workdir / "stderr.txt", stderr)
