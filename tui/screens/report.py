"""The run's write-up, rendered as Markdown."""

from __future__ import annotations

from pathlib import Path
from typing import ClassVar

from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.screen import Screen
from textual.widgets import Footer, MarkdownViewer

from runs.display import printable


class ReportScreen(Screen[None]):
    """Shows ``report.md``; escape or q goes back to the tree."""

    BINDINGS: ClassVar[list[BindingType]] = [Binding("escape,q", "close", "Back")]

    def __init__(self, path: Path) -> None:
        super().__init__()
        self.path = path

    def compose(self) -> ComposeResult:
        # The write-up quotes model replies and experiment output.
        text = printable(self.path.read_text(encoding="utf-8", errors="replace"))
        yield MarkdownViewer(text, show_table_of_contents=False, id="report")
        yield Footer()

    def action_close(self) -> None:
        self.dismiss(None)
