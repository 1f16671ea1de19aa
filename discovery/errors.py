"""Which exceptions are the user's bad input (one line, exit 2) rather than our bugs."""

from __future__ import annotations

import sqlite3


def user_message(exc: BaseException) -> str | None:
    """The one-line message for a bad-input error, or None for anything else."""
    from agents.llm import ModelCheckError
    from discovery.config import MODEL_FLAGS, ConfigError
    from discovery.idea import IdeaError
    from runs.store import StoreError

    if isinstance(exc, ModelCheckError):
        return exc.named(MODEL_FLAGS)  # the setting at fault, as the flag that sets it
    if isinstance(exc, (ConfigError, IdeaError, StoreError)):
        return str(exc)
    if isinstance(exc, sqlite3.DatabaseError) and any(
            why in str(exc) for why in ("malformed", "not a database", "encrypted")):
        return f"the run database is damaged ({exc})"  # found past the check made when it was opened
    return None
