"""The run's event log: node started/finished, commands applied, run stopped."""

from __future__ import annotations

from rich.text import Text
from textual.widgets import RichLog

from runs.display import printable
from runs.models import Event

_KIND_STYLE = {"node_finished": "green", "node_started": "yellow", "command": "cyan", "stopping": "magenta",
               "run_finished": "bold blue", "run_crashed": "bold red", "report_failed": "red"}


class EventLog(RichLog):
    """Appends new events; times are offsets from the run's start, so they read the same anywhere."""

    def __init__(self, started_at: float, *, id: str | None = None) -> None:
        super().__init__(id=id, max_lines=500, wrap=False, markup=False, auto_scroll=True)
        self.started_at = started_at

    def add_events(self, events: list[tuple[int, Event]]) -> None:
        """Write one line per event."""
        for _, event in events:
            self.write(event_line(event, self.started_at))


def event_line(event: Event, started_at: float) -> Text:
    offset = max(0.0, event.ts - started_at)
    minutes, seconds = divmod(int(offset), 60)
    hours, minutes = divmod(minutes, 60)
    stamp = f"{hours}:{minutes:02d}:{seconds:02d}" if hours else f"{minutes:02d}:{seconds:02d}"
    line = Text()
    line.append(f"+{stamp} ", style="dim")
    line.append(f"{event.kind:<13} ", style=_KIND_STYLE.get(event.kind, ""))
    if event.node_id is not None:
        line.append(f"#{event.node_id} ", style="bold")
    line.append(printable(event.message))
    return line
