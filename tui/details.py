"""Everything the node pane shows about one node, read from the store on demand.

Reviews and LLM usage live in tables other parts of the project add over time; they are
shown when those tables exist and have ``run_id``/``node_id`` columns, and left out otherwise.
"""

from __future__ import annotations

import difflib
from dataclasses import dataclass, field
from typing import Any

from runs.models import Node
from runs.store import RunStore, StoreError

_REVIEW_TABLES = ("reviews",)
_USAGE_TABLES = ("llm_calls",)


@dataclass
class NodeDetails:
    """A node with its parent's code, its reviews and what its LLM calls used."""

    node: Node
    parent_code: str | None = None
    reviews: list[dict[str, Any]] = field(default_factory=list)
    usage: dict[str, float] = field(default_factory=dict)  # summed token and cost columns

    @property
    def diff(self) -> str:
        """The node's code against its parent's, as a unified diff ('' for a draft)."""
        if self.parent_code is None or self.node.code is None:
            return ""
        return "".join(difflib.unified_diff(
            self.parent_code.splitlines(keepends=True), self.node.code.splitlines(keepends=True),
            fromfile=f"node {self.node.parent_id}", tofile=f"node {self.node.id}",
        ))


def load_details(store: RunStore, run_id: str, node_id: int) -> NodeDetails | None:
    """Read one node in full; None when it is gone (a selection that was withdrawn)."""
    try:
        node = store.get_node(run_id, node_id)
    except StoreError:
        return None
    parent_code = None
    if node.parent_id is not None:
        row = store.db.execute("select code from nodes where run_id = ? and id = ?",
                               [run_id, node.parent_id]).fetchone()
        parent_code = row[0] if row else None
    tables = set(store.db.table_names())
    reviews: list[dict[str, Any]] = []
    for table in _REVIEW_TABLES:
        if table in tables and _has_keys(store, table):
            reviews += [dict(r) for r in store.db[table].rows_where("run_id = ? and node_id = ?", [run_id, node_id])]
    usage: dict[str, float] = {}
    for table in _USAGE_TABLES:
        if table in tables and _has_keys(store, table):
            numeric = [c for c in store.db[table].columns_dict if "token" in c or "cost" in c]
            if numeric:
                sums = ", ".join(f"sum({c})" for c in numeric)
                row = store.db.execute(f"select {sums} from {table} where run_id = ? and node_id = ?",
                                       [run_id, node_id]).fetchone()
                usage.update({c: v for c, v in zip(numeric, row) if v is not None})
    return NodeDetails(node=node, parent_code=parent_code, reviews=reviews, usage=usage)


def _has_keys(store: RunStore, table: str) -> bool:
    columns = store.db[table].columns_dict
    return "run_id" in columns and "node_id" in columns
