"""Durations as people write them: ``90``, ``90s``, ``5m``, ``1.5h``, ``2d``."""

from __future__ import annotations

import re

_UNITS = {"": 1.0, "s": 1.0, "m": 60.0, "min": 60.0, "h": 3600.0, "d": 86400.0}
_PATTERN = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*(s|m|min|h|d)?\s*$")


class DurationError(ValueError):
    """Not a duration."""


def parse_duration(value: object) -> float:
    """Seconds in ``value``: a positive number (seconds) or a string with a unit."""
    if isinstance(value, bool):
        raise DurationError(f"{value!r} is not a duration")
    if isinstance(value, (int, float)):
        seconds = float(value)
    else:
        match = _PATTERN.match(str(value))
        if not match:
            raise DurationError(f"{value!r} is not a duration (try 90, 90s, 5m, 2h)")
        seconds = float(match.group(1)) * _UNITS[match.group(2) or ""]
    if seconds <= 0:
        raise DurationError(f"{value!r} must be longer than zero")
    return seconds


def format_duration(seconds: float) -> str:
    """A short human form: ``42s``, ``3m05s``, ``2h10m``."""
    seconds = max(0.0, seconds)
    if seconds < 60:
        return f"{seconds:.1f}s" if seconds < 10 else f"{seconds:.0f}s"
    minutes, secs = divmod(int(seconds), 60)
    if minutes < 60:
        return f"{minutes}m{secs:02d}s"
    hours, minutes = divmod(minutes, 60)
    return f"{hours}h{minutes:02d}m"
