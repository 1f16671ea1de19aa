"""Steering a run: the TUI writes command rows that the orchestrator polls, and forks runs.

The writer opens its own (writable) connection only when the first command is sent, so
looking at a run on a read-only disk works until the user tries to steer it.
"""

from __future__ import annotations

from pathlib import Path

from runs.store import RunStore, StoreError

NODE_COMMANDS = ("prune", "expand")
RUN_COMMANDS = ("pause", "resume", "stop")


class CommandError(Exception):
    """A command could not be sent; the message is one line for the status bar."""


class CommandWriter:
    """Writes commands for one run into the store under ``root``."""

    def __init__(self, root: str | Path, run_id: str) -> None:
        self.root = Path(root)
        self.run_id = run_id
        self._store: RunStore | None = None

    def _writer(self) -> RunStore:
        if self._store is None:
            try:
                self._store = RunStore(self.root)
            except StoreError as exc:
                raise CommandError(str(exc)) from exc
        return self._store

    def send(self, kind: str, node_id: int | None = None) -> int:
        """Queue a command; returns its row id."""
        if kind not in NODE_COMMANDS + RUN_COMMANDS:
            raise CommandError(f"unknown command {kind!r}")
        if kind in NODE_COMMANDS and node_id is None:
            raise CommandError(f"{kind}: select a node first")
        return self._writer().add_command(self.run_id, kind, node_id if kind in NODE_COMMANDS else None)

    def fork(self, node_id: int) -> str:
        """Create a new run from ``node_id`` (not started); returns its id."""
        try:
            from runs.fork import fork_run
        except ImportError as exc:
            raise CommandError("fork is not available in this version of discover") from exc
        try:
            return fork_run(self._writer(), self.run_id, node_id)
        except (StoreError, ValueError) as exc:
            raise CommandError(f"fork failed: {exc}") from exc

    def close(self) -> None:
        if self._store is not None:
            self._store.close()
            self._store = None
