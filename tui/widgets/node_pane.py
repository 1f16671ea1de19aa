"""The selected node in full: overview, code, output and the diff against its parent."""

from __future__ import annotations

import json

from rich.console import Group, RenderableType
from rich.syntax import Syntax
from rich.table import Table
from rich.text import Text
from textual.app import ComposeResult
from textual.containers import Vertical, VerticalScroll
from textual.widgets import Static, TabbedContent, TabPane

from runs.display import printable
from tui.details import NodeDetails
from tui.format import PRUNED_STYLE, STATUS_STYLE, metric_text

TABS = (("overview", "Overview"), ("code", "Code"), ("output", "Output"), ("diff", "Diff"))
_THEME = "ansi_dark"  # follows the terminal's own colours, and stays stable in snapshots


class NodePane(Vertical):
    """Tabs for one node; ``show`` swaps the content and keeps the open tab."""

    def __init__(self, *, id: str | None = None) -> None:
        super().__init__(id=id)
        self.details: NodeDetails | None = None

    def compose(self) -> ComposeResult:
        with TabbedContent(initial="overview"):
            for pane_id, title in TABS:
                with TabPane(title, id=pane_id), VerticalScroll():
                    yield Static("Select a node in the tree.", id=f"{pane_id}-body", markup=False)

    def open_tab(self, pane_id: str) -> None:
        """Switch to one of ``overview``, ``code``, ``output``, ``diff``."""
        self.query_one(TabbedContent).active = pane_id

    def show(self, details: NodeDetails | None) -> None:
        """Render ``details`` into every tab (None: the node is gone)."""
        self.details = details
        if details is None:
            for pane_id, _ in TABS:
                self.query_one(f"#{pane_id}-body", Static).update("This node is no longer in the store.")
            return
        self.query_one("#overview-body", Static).update(overview(details))
        self.query_one("#code-body", Static).update(code_view(details))
        self.query_one("#output-body", Static).update(output_view(details))
        self.query_one("#diff-body", Static).update(diff_view(details))


def overview(details: NodeDetails) -> RenderableType:
    """Status, plan, metrics, parameters, value estimate, reviews, usage, error."""
    n = details.node
    symbol, style = PRUNED_STYLE if n.pruned else STATUS_STYLE.get(n.status.value, ("?", ""))
    title = Text()
    title.append(f"{symbol} node {n.id}", style="bold")
    title.append(f"  {n.operator}", style="cyan")
    title.append(f"  {n.status.value}", style=style)
    if n.pruned:
        title.append("  (pruned)", style="dim")
    facts = Table.grid(padding=(0, 2))
    facts.add_column(style="bold")
    facts.add_column()
    facts.add_row("parent", "-" if n.parent_id is None else f"#{n.parent_id}")
    facts.add_row("depth", str(n.depth))
    facts.add_row("metric", metric_text(n.metric))
    if n.exec_seconds is not None:
        facts.add_row("ran", f"{n.exec_seconds:.2f}s" + ("  (timed out)" if n.timed_out else "")
                      + (f"  exit {n.exit_code}" if n.exit_code is not None else ""))
    if n.attempts > 1:
        facts.add_row("attempts", str(n.attempts))
    visits, q = getattr(n, "visits", None), getattr(n, "q", None)
    if visits is not None:
        facts.add_row("visits", f"{visits}" + ("" if q is None else f"   value q={q:.4g}"))
    if n.value is not None:
        facts.add_row("value estimate", f"{n.value:.3f}")
    explanation = getattr(n, "value_explanation", None)
    if explanation:
        facts.add_row("why", Text(printable(str(explanation))))
    for key, amount in details.usage.items():
        facts.add_row(key.replace("_", " "), f"{amount:.4f}" if "cost" in key else f"{amount:g}")
    parts: list[RenderableType] = [title, Text(), facts, Text(), Text("plan", style="bold underline"),
                                   Text(printable(n.plan or "(no plan yet)"))]
    if n.params:
        parts += [Text(), Text("params", style="bold underline"), Text(json.dumps(n.params, sort_keys=True))]
    if n.metrics:
        table = Table.grid(padding=(0, 2))
        table.add_column(style="bold")
        table.add_column()
        for key in sorted(n.metrics):
            value = n.metrics[key]
            # A metric's name and value are the experiment's: cells given as text, never read as markup.
            value_text = metric_text(value) if isinstance(value, float) else json.dumps(value)
            table.add_row(Text(printable(key)), Text(printable(value_text)))
        parts += [Text(), Text("metrics", style="bold underline"), table]
    if details.reviews:
        parts += [Text(), Text("reviews", style="bold underline")]
        for review in details.reviews:
            shown = {k: v for k, v in review.items() if k not in ("id", "run_id", "node_id")}
            parts.append(Text(printable(" · " + ", ".join(f"{k}: {v}" for k, v in shown.items()))))
    if n.error:
        parts += [Text(), Text("error", style="bold underline red"), Text(printable(n.error), style="red")]
    return Group(*parts)


def code_view(details: NodeDetails) -> RenderableType:
    code = details.node.code
    if not code:
        return Text("No code yet." if details.node.status.value in ("pending",) else "No code.", style="dim")
    return Syntax(printable(code), "python", theme=_THEME, line_numbers=True, word_wrap=False)


def output_view(details: NodeDetails) -> RenderableType:
    n = details.node
    parts: list[RenderableType] = [Text("stdout (tail)", style="bold underline"),
                                   Text(printable(n.stdout_tail).rstrip() or "(empty)")]
    parts += [Text(), Text("stderr (tail)", style="bold underline"),
              Text(printable(n.stderr_tail).rstrip() or "(empty)", style="red" if n.stderr_tail.strip() else "")]
    return Group(*parts)


def diff_view(details: NodeDetails) -> RenderableType:
    if details.node.parent_id is None:
        return Text("A draft: no parent to compare with.", style="dim")
    diff = details.diff
    if not diff:
        return Text("Same code as the parent." if details.node.code else "No code yet.", style="dim")
    return Syntax(printable(diff), "diff", theme=_THEME, word_wrap=False)
