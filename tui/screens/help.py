"""Every key the TUI answers to, read from the bindings themselves so it cannot drift."""

from __future__ import annotations

from typing import ClassVar

from rich.table import Table
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import VerticalScroll
from textual.screen import ModalScreen
from textual.widgets import Static

# Keys of the tree widget itself, which are not in our bindings.
TREE_KEYS = [
    ("up / down", "move between nodes"),
    ("enter / space", "open or close a subtree"),
    ("left", "go to the parent"),
    ("shift+left / shift+right", "previous / next sibling"),
    ("tab", "move focus (tree, node pane)"),
]


class HelpScreen(ModalScreen[None]):
    """A modal table of keys; any of escape, q or ? closes it."""

    BINDINGS: ClassVar[list[BindingType]] = [Binding("escape,q,question_mark", "dismiss", "Close")]

    def __init__(self, bindings: list[tuple[str, str]]) -> None:
        super().__init__()
        self.keys = bindings

    def compose(self) -> ComposeResult:
        table = Table(title="discover: keys", show_header=False, box=None, padding=(0, 2))
        table.add_column(style="bold cyan", no_wrap=True, width=26)
        table.add_column(ratio=1)
        for key, description in self.keys + TREE_KEYS:
            table.add_row(key, description)
        with VerticalScroll(id="help-box"):
            yield Static(table)
            yield Static("Commands go to the run through its store, so they work from any terminal; "
                         "a running search applies them within a second.", classes="help-note")

    def action_dismiss(self) -> None:
        self.dismiss(None)
