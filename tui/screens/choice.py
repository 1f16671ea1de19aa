"""Small modal questions: quit a live run (stop / background), confirm a command."""

from __future__ import annotations

from typing import ClassVar

from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Horizontal, Vertical
from textual.screen import ModalScreen
from textual.widgets import Button, Label


class ChoiceScreen(ModalScreen[str | None]):
    """A question with buttons; dismisses with the chosen button's id, or None on escape.

    Each choice also has a key: the first letter of its id.
    """

    BINDINGS: ClassVar[list[BindingType]] = [Binding("escape", "choose('')", "Cancel")]

    def __init__(self, question: str, choices: list[tuple[str, str]]) -> None:
        super().__init__()
        self.question = question
        self.choices = choices  # (id, button label)

    def compose(self) -> ComposeResult:
        with Vertical(id="choice-box"):
            yield Label(self.question, id="choice-question")
            with Horizontal(id="choice-buttons"):
                for choice_id, label in self.choices:
                    yield Button(label, id=choice_id, variant="primary" if choice_id == self.choices[0][0] else "default")

    def on_key(self, event) -> None:
        for choice_id, _ in self.choices:
            if event.key == choice_id[0]:
                event.stop()
                self.action_choose(choice_id)
                return

    def on_button_pressed(self, event: Button.Pressed) -> None:
        event.stop()
        self.action_choose(event.button.id or "")

    def action_choose(self, choice: str) -> None:
        self.dismiss(choice or None)


def quit_live_run() -> ChoiceScreen:
    """Asked when the user quits while the run is still searching."""
    return ChoiceScreen(
        "The run is still searching. Stop it (running nodes finish, the report is written) "
        "or leave it running in the background?",
        [("stop", "Stop the run [s]"), ("background", "Leave it running [b]"), ("cancel", "Cancel [c]")],
    )


def confirm(question: str) -> ChoiceScreen:
    """A yes/no question."""
    return ChoiceScreen(question, [("yes", "Yes [y]"), ("no", "No [n]")])
