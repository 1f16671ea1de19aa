"""Which exceptions are the user's bad input (one line, exit 2) rather than our bugs."""

from __future__ import annotations


def user_message(exc: BaseException) -> str | None:
    """The one-line message for a bad-input error, or None for anything else."""
    from agents.llm import ModelCheckError
    from discovery.config import ConfigError
    from discovery.idea import IdeaError
    from runs.store import StoreError

    if isinstance(exc, (ConfigError, IdeaError, StoreError, ModelCheckError)):
        return str(exc)
    return None
