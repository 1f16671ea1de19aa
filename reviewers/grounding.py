"""The number-grounding check: every number a write-up states must be one the store recorded.

A written number matches a recorded one when the recorded value, rounded to the digits the
text shows, gives the written value (0.8133 and 81.3% both match 0.813333), or when the two
agree within a small relative tolerance. A rounded number must keep at least two significant
digits: "1" does not stand for 0.9667, and "3 minutes" does not stand for 3.4 minutes. Signs
are ignored, so "a drop of 0.12" matches a recorded difference of -0.12.

Against a ``Record`` (the run's numbers sorted by what they measure) each number is checked
for what its words claim: "node 12" must name a node; "12 seeds" must be a recorded number
of seeds, not any 12 the store holds; "40 seconds" a recorded duration; "`LR` = 0.3" a value
that parameter took; and a value in a sentence that names nodes must be one of those nodes'
values (or a statistic of the run), not another node's. A ``KnownNumbers`` bag checks only
that the number exists somewhere.

Pure functions, no I/O: the caller supplies the recorded numbers.
"""

from __future__ import annotations

import bisect
import math
import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from reviewers.claims import Record

# A number not glued to a word or another number: skips identifiers (L2, H100, conv2d),
# version strings (3.11.2) and ordinals (1st). A unit suffix (s, ms, min, h, x) is allowed.
_NUMBER = re.compile(
    r"(?<![\w.])(?P<num>(?:\d{1,3}(?:,\d{3})+|\d+)(?:\.\d+)?|\.\d+)(?P<exp>[eE][-+]?\d+)?"
    r"(?!\.\d)(?P<tail>\s*(?:%|percent\b|per\s+cent\b)|(?:s|ms|min|h|x|×)(?!\w))?(?!\w)"
)
# Numbers that name a figure, table or section, or a markdown list item, are not claims.
_REFERENCE = re.compile(r"(?:\b(?:Figure|Fig\.|Table|Section|Eq\.|Equation|Appendix)\s*)$", re.IGNORECASE)
# A sentence ends at . ! or ? before a capital, a digit or an opening mark; not after "et al.", "e.g."...
_SENTENCE_END = re.compile(r"(?<=[.!?])(?<!\bal\.)(?<!\be\.g\.)(?<!\bi\.e\.)(?<!\bvs\.)(?<!\bcf\.)(?<!\bFig\.)"
                           r"[\"')\]]*\s+(?=[A-Z0-9(`*\"\[])")
_LIST_MARK = re.compile(r"^\s*(?:[-*+]|\d+[.)])\s+")
EXACT = 1e-9
REL_TOL = 1e-6  # float noise between a stored value and the same value recomputed


@dataclass(frozen=True)
class Mention:
    """One number written in a text."""

    text: str  # as written, e.g. "81.3%"
    value: float  # the absolute value written (81.3 for "81.3%")
    decimals: int  # digits shown after the point (negative for 1.2e3-style exponents)
    significant: int  # significant digits shown
    percent: bool = False
    start: int = 0
    end: int = 0


@dataclass
class SentenceCheck:
    """A sentence and the numbers in it that no recorded number backs."""

    sentence: str
    unsupported: list[Mention] = field(default_factory=list)
    reasons: list[str] = field(default_factory=list)  # why each unsupported number fails, same order

    @property
    def ok(self) -> bool:
        return not self.unsupported


@dataclass
class GroundingReport:
    """The outcome of checking a text: how many numbers, which sentences fail."""

    checked: int = 0  # numbers looked at
    failures: list[SentenceCheck] = field(default_factory=list)
    dropped: list[str] = field(default_factory=list)  # sentences removed because they kept failing
    rewritten: bool = False  # the text was asked for again once

    @property
    def ok(self) -> bool:
        return not self.failures

    def merge(self, other: GroundingReport) -> GroundingReport:
        return GroundingReport(checked=self.checked + other.checked, failures=self.failures + other.failures,
                               dropped=self.dropped + other.dropped, rewritten=self.rewritten or other.rewritten)


class KnownNumbers:
    """The recorded numbers, sorted by absolute value for interval look-ups."""

    def __init__(self, values: Iterable[float]) -> None:
        clean = {abs(float(v)) for v in values if _is_number(v)}
        self._sorted = sorted(clean)

    def __len__(self) -> int:
        return len(self._sorted)

    @property
    def values(self) -> list[float]:
        """The recorded values, ascending (absolute values)."""
        return list(self._sorted)

    def nearest(self, value: float) -> float | None:
        """The recorded value closest to ``value`` (None when there are none)."""
        if not self._sorted:
            return None
        i = bisect.bisect_left(self._sorted, value)
        near = [self._sorted[j] for j in (i - 1, i) if 0 <= j < len(self._sorted)]
        return min(near, key=lambda k: abs(k - value))

    def any_in(self, low: float, high: float) -> list[float]:
        """Recorded values within [low, high], at most a few."""
        i = bisect.bisect_left(self._sorted, low)
        out = []
        while i < len(self._sorted) and self._sorted[i] <= high and len(out) < 8:
            out.append(self._sorted[i])
            i += 1
        return out

    def supports(self, mention: Mention, rel_tol: float = REL_TOL) -> bool:
        """True when some recorded number, rounded as the text shows it, gives the mention."""
        candidates = [(mention.value, mention.decimals)]
        if mention.percent:
            # 81.3% may be a fraction recorded as 0.813..., or a value recorded in percent already.
            candidates.append((mention.value / 100.0, mention.decimals + 2))
        for value, decimals in candidates:
            close = max(EXACT * max(1.0, value), rel_tol * value)
            nearest = self.nearest(value)
            if nearest is not None and abs(nearest - value) <= close:
                return True
            # Rounded to the digits shown (ties either way), keeping two significant digits at least.
            half = 0.5 * 10.0 ** (-decimals) * (1 + 1e-9)
            if mention.significant >= 2 and self.any_in(value - half, value + half):
                return True
        return False


def extract_numbers(text: str, ignore: Iterable[str] = ()) -> list[Mention]:
    """Every number written in ``text`` that states a quantity (not ids in ``ignore``, not refs)."""
    masked = text
    for word in sorted((w for w in ignore if w), key=len, reverse=True):
        masked = masked.replace(word, " " * len(word))
    out: list[Mention] = []
    for m in _NUMBER.finditer(masked):
        if _REFERENCE.search(masked[max(0, m.start() - 20):m.start()]):
            continue
        line_start = masked.rfind("\n", 0, m.start()) + 1
        if _LIST_MARK.match(masked[line_start:m.end() + 2]) and masked[line_start:m.start()].strip() == "" \
                and masked[m.end():m.end() + 1] in (".", ")"):
            continue  # "1. first step" in a numbered list
        num = m["num"].replace(",", "")
        exp = m["exp"] or ""
        tail = (m["tail"] or "").strip().lower()
        try:
            value = abs(float(num + exp))
        except ValueError:
            continue
        if not math.isfinite(value):
            continue
        decimals = len(num.split(".")[1]) if "." in num else 0
        if exp:
            decimals -= int(exp[1:])
        digits = num.replace(".", "").lstrip("0")
        if "." not in num:
            digits = digits.rstrip("0") or digits  # 600 shows one significant digit, 1,000 too
        significant = max(1, len(digits))
        out.append(Mention(text=m.group(0).strip(), value=value, decimals=decimals, significant=significant,
                           percent=tail in ("%", "percent", "per cent") or tail.startswith("per"),
                           start=m.start(), end=m.end()))
    return out


def split_sentences(text: str) -> list[str]:
    """Sentences of a paragraph (list items and lines count as their own units)."""
    units: list[str] = []
    for line in text.splitlines():
        if not line.strip():
            continue
        units.extend(s for s in _SENTENCE_END.split(line.strip()) if s.strip())
    return units


def check_text(text: str, known: KnownNumbers | Record, *, ignore: Iterable[str] = (),
               rel_tol: float = REL_TOL) -> GroundingReport:
    """Check every sentence of ``text``; the report lists those with unsupported numbers."""
    ignore = list(ignore)
    report = GroundingReport()
    for sentence in split_sentences(text):
        checked, bad, reasons = _check_sentence(sentence, known, ignore, rel_tol)
        report.checked += checked
        if bad:
            report.failures.append(SentenceCheck(sentence=sentence, unsupported=bad, reasons=reasons))
    return report


def drop_unsupported(text: str, known: KnownNumbers | Record, *,
                     ignore: Iterable[str] = ()) -> tuple[str, GroundingReport]:
    """``text`` without the sentences whose numbers the store cannot back; paragraphs kept."""
    ignore = list(ignore)
    report = GroundingReport()

    def failing(sentence: str) -> bool:
        checked, bad, _ = _check_sentence(sentence, known, ignore, REL_TOL)
        report.checked += checked
        return bool(bad)

    kept, report.dropped = drop_sentences(text, failing)
    return kept, report


def drop_sentences(text: str, failing: Callable[[str], bool]) -> tuple[str, list[str]]:
    """``text`` without the sentences ``failing`` rejects (paragraphs and list items kept); and those dropped."""
    dropped: list[str] = []
    paragraphs = []
    for para in re.split(r"\n\s*\n", text.strip()):
        kept_lines = []
        for line in para.splitlines():
            if not line.strip():
                continue
            mark = _LIST_MARK.match(line)
            prefix = mark.group(0) if mark else ""
            body = line[len(prefix):] if prefix else line.strip()
            kept = []
            for sentence in (s for s in _SENTENCE_END.split(body.strip()) if s.strip()):
                if failing(sentence):
                    dropped.append(sentence)
                else:
                    kept.append(sentence)
            if kept:
                kept_lines.append(prefix + " ".join(kept))
        if kept_lines:
            paragraphs.append("\n".join(kept_lines))
    return "\n\n".join(paragraphs), dropped


def _check_sentence(sentence: str, known: KnownNumbers | Record, ignore: list[str],
                    rel_tol: float) -> tuple[int, list[Mention], list[str]]:
    """(numbers checked, the unsupported ones, why each fails)."""
    if not isinstance(known, KnownNumbers):  # a reviewers.claims.Record: checked claim by claim
        return known.check_sentence(sentence, ignore, rel_tol)
    mentions = extract_numbers(sentence, ignore)
    bad = [m for m in mentions if not known.supports(m, rel_tol)]
    return len(mentions), bad, ["not recorded"] * len(bad)


def describe_failures(report: GroundingReport, limit: int = 12) -> str:
    """The failing sentences and their numbers, as lines to show a model or a person."""
    lines = []
    for f in report.failures[:limit]:
        if f.reasons and any(r != "not recorded" for r in f.reasons):
            why = "; ".join(f"{m.text}: {r}" for m, r in zip(f.unsupported, f.reasons))
            lines.append(f"- \"{f.sentence}\" ({why})")
            continue
        nums = ", ".join(m.text for m in f.unsupported)
        lines.append(f"- \"{f.sentence}\" (not recorded: {nums})")
    if len(report.failures) > limit:
        lines.append(f"- ... and {len(report.failures) - limit} more")
    return "\n".join(lines)


def _is_number(v: object) -> bool:
    return isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(float(v))
