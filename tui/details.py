"""Everything the node pane shows about one node, read from the store on demand."""

from __future__ import annotations

import difflib
from dataclasses import dataclass, field
from typing import Any

from runs.models import Node
from runs.store import RunStore, StoreError


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
    parent_code = store.node_code(run_id, node.parent_id) if node.parent_id is not None else None
    reviews = [r.model_dump(exclude={"id", "run_id", "node_id"}) for r in store.reviews(run_id, node_id)]
    usage: dict[str, float] = {}
    spent = store.llm_usage(run_id, node_id)
    if spent.calls:
        usage = {"tokens_in": spent.tokens_in, "tokens_out": spent.tokens_out, "cost": spent.cost}
    return NodeDetails(node=node, parent_code=parent_code, reviews=reviews, usage=usage)
