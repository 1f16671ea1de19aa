"""discover: tree-search scientific discovery.

``from discovery import run`` starts a search from an idea file; see ``discovery.api``.
Nothing heavy is imported here, so that ``discover --help`` stays instant.
"""

from __future__ import annotations

from typing import Any

__all__ = ["run", "RunResult"]


def __getattr__(name: str) -> Any:
    if name in __all__:
        from discovery import api

        return getattr(api, name)
    raise AttributeError(name)
