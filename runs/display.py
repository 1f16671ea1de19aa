"""Stored text from untrusted sources, made safe to show in a terminal.

Experiment output, model replies, metric names and error messages reach the store as
written. Shown raw, an escape sequence in a node's stdout would act on the user's terminal
(clear it, retitle it, write the clipboard with OSC 52) and break the TUI's layout, and a
bidirectional override in code would hide what the code does. The TUI and ``discover show``
pass such text through ``printable`` first.
"""

from __future__ import annotations

import re

# C0 controls but tab and newline, DEL, C1 controls (U+009B is a CSI to some terminals), and
# the bidirectional embeddings, overrides and isolates ("Trojan Source").
_UNSAFE = re.compile("[\x00-\x08\x0b-\x1f\x7f-\x9f\u202a-\u202e\u2066-\u2069]")
_PICTURES = {c: chr(0x2400 + c) for c in range(0x20) if c not in (9, 10)} | {0x7F: "\u2421"}
_PICTURES |= {c: f"\\x{c:02x}" for c in range(0x80, 0xA0)}
_PICTURES |= {c: f"<U+{c:04X}>" for c in (*range(0x202A, 0x202F), *range(0x2066, 0x206A))}


def printable(text: str) -> str:
    """``text`` as it should be shown: of a line with carriage returns (a progress bar), its last
    redraw; every other control character or bidirectional override as a visible placeholder
    (ESC becomes ␛) instead of something the terminal acts on."""
    if not _UNSAFE.search(text):
        return text
    if "\r" in text:
        text = "\n".join(_last_redraw(line) for line in text.split("\n"))
    return text.translate(_PICTURES)


def _last_redraw(line: str) -> str:
    parts = [p for p in line.split("\r") if p]
    return parts[-1] if parts else ""
