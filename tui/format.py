"""How runs and nodes read on screen: status symbols and colours, numbers, durations."""

from __future__ import annotations

from rich.text import Text

from tui.data import TreeRow

# (symbol, style) per status; symbols differ as well as colours so a monochrome terminal still tells them apart.
STATUS_STYLE: dict[str, tuple[str, str]] = {
    "pending": ("○", "dim"),
    "running": ("◐", "bold yellow"),
    "good": ("●", "green"),
    "buggy": ("✗", "red"),
    "flagged": ("⚑", "magenta"),
    "failed": ("✖", "dim red"),
    "cancelled": ("⊘", "dim"),
}
PRUNED_STYLE = ("✂", "dim strike")


def metric_text(value: float | None) -> str:
    """A metric in at most six significant digits."""
    return "-" if value is None else f"{value:.6g}"


def duration_text(seconds: float | None) -> str:
    """``42s``, ``3m05s``, ``2h07m``: short enough for a header."""
    if seconds is None:
        return "-"
    seconds = int(seconds)
    if seconds < 60:
        return f"{seconds}s"
    if seconds < 3600:
        return f"{seconds // 60}m{seconds % 60:02d}s"
    return f"{seconds // 3600}h{seconds % 3600 // 60:02d}m"


def node_label(row: TreeRow, *, on_best_path: bool, is_best: bool, hidden_children: int = 0) -> Text:
    """One tree line: symbol, id, operator, metric or status, MCTS statistics, markers."""
    symbol, style = PRUNED_STYLE if row.pruned else STATUS_STYLE.get(row.status, ("?", ""))
    text = Text()
    text.append(f"{symbol} ", style=style if not row.pruned else "dim")
    text.append(f"#{row.id} ", style="bold" if on_best_path else "")
    text.append(f"{row.operator} ", style="cyan" if not row.pruned else "dim")
    if row.metric is not None:
        text.append(metric_text(row.metric), style=style)
    else:
        text.append(row.status, style=style)
    if row.visits is not None:
        q = "" if row.q is None else f" q={row.q:.3g}"
        text.append(f"  n={row.visits}{q}", style="dim")
    if row.pruned:
        text.append("  pruned", style="dim italic")
    if is_best:
        text.append("  ★ best", style="bold yellow")
    if hidden_children:
        text.append(f"  +{hidden_children}", style="dim")
    if on_best_path and not row.pruned:
        text.stylize("on #2a2a00")
    return text
