"""The papers a run used: those its idea was checked against (``discover ideate``) and those the
literature search found for its write-up, each with what the novelty check said of it."""

from __future__ import annotations

from typing import ClassVar

from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.screen import Screen
from textual.widgets import Footer, MarkdownViewer

from runs.display import printable
from runs.models import RunPaper

PURPOSE = {"idea": "the idea was checked against it", "related": "found for the write-up"}


def papers_markdown(papers: list[RunPaper]) -> str:
    """The list as Markdown: the reference, why it is there, the start of its abstract."""
    lines = [f"# Papers this run used ({len(papers)})", ""]
    for rp in papers:
        p = rp.paper
        why = PURPOSE.get(rp.purpose, rp.purpose) + (f"; {rp.note}" if rp.note else "")
        lines += [f"- **{p.reference}** `{p.id}`", f"  *{why}*"]
        if p.abstract:
            abstract = " ".join(p.abstract.split())
            lines.append(f"  {abstract[:400]}{'...' if len(abstract) > 400 else ''}")
        lines.append("")
    return "\n".join(lines)


class PapersScreen(Screen[None]):
    """Shows the run's papers; escape or q goes back to the tree."""

    BINDINGS: ClassVar[list[BindingType]] = [Binding("escape,q", "close", "Back")]

    def __init__(self, papers: list[RunPaper]) -> None:
        super().__init__()
        self.papers = papers

    def compose(self) -> ComposeResult:
        yield MarkdownViewer(printable(papers_markdown(self.papers)), show_table_of_contents=False, id="papers")
        yield Footer()

    def action_close(self) -> None:
        self.dismiss(None)
