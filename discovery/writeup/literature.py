"""Papers for a run's write-up: search the literature for its idea and link what is found to the run.

``discover report --literature`` calls this before writing the report; the report then cites
only papers linked to the run (or named by its idea), all of them stored search results.
"""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

from runs.store import RunStore


def queries_for(idea: Any) -> list[str]:
    """Searches for an idea: its title, and the first sentence of its hypothesis."""
    out = [idea.title]
    first = " ".join((idea.hypothesis or "").split()).split(". ")[0][:200]
    if first and first.lower() != idea.title.lower():
        out.append(first)
    return out


async def find_related(root: str | Path, run_id: str, config: Any, *, limit: int = 8) -> tuple[int, list[str]]:
    """Search for the run's idea, link the closest papers to the run ("related"); (papers linked, errors)."""
    from agents.literature.client import LiteratureClient
    from agents.literature.rank import closest

    store = RunStore(root)
    try:
        idea = store.get_run(run_id).idea
        found: dict[str, Any] = {}
        errors: list[str] = []
        async with LiteratureClient(config, store) as client:
            for query in queries_for(idea):
                result = await client.search(query, limit=limit)
                errors += result.errors if not result.answered else []
                for paper in result.papers:
                    found.setdefault(paper.id, paper)
        text = " ".join((idea.title, idea.hypothesis, idea.experiments))
        nearest = [p for p, _ in closest(text, list(found.values()), limit)]
        store.link_papers(run_id, [p.id for p in nearest], "related")
        return len(nearest), errors
    finally:
        store.close()


def link_related(root: str | Path, run_id: str, config: Any, *, limit: int = 8) -> tuple[int, list[str]]:
    """``find_related`` from sync code."""
    return asyncio.run(find_related(root, run_id, config, limit=limit))
