"""What a written number claims, checked against the run's numbers sorted by what they measure.

"We ran 12 seeds" claims a number of seeds: it is true only when some node was repeated
over 12 seeds, not because some node has id 12 or took 12 seconds. The words around a
number say what it claims:

- ``node 12``, ``nodes 3 and 4``, ``#12``, ``parent 3``: a node id (the node must exist);
- ``12 seeds``, ``5 finished nodes``, ``3 of the 8 nodes``, ``2 workers``, ``4 valid``: a count
  of that kind (nodes, seeds, steps, workers, calls, tokens);
- ``40 seconds``, ``1.5 min``, ``3m05s``: a duration; ``$0.02``, ``0.02 USD``: a cost;
- ``depth 2``: a depth; ``LR = 0.3``, ``LR 0.1 -> 0.3``: a value that parameter took;
- anything else: a value. In a sentence that names nodes, a value (or a parameter, a depth, a
  node's run time) must belong to one of the named nodes, or be a statistic of the whole run
  (a difference, a mean, a margin); in a sentence that names none it may be any value recorded.

Quoted stored text (a plan, an error line, in backticks or double quotes) is a quotation,
not a claim: its numbers are skipped when the quote is found verbatim in the store.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field

from reviewers.grounding import REL_TOL, KnownNumbers, Mention, extract_numbers

_ADJ = (r"(?:random|different|more|other|extra|valid|good|buggy|failed|flagged|finished|distinct|independent|"
        r"parallel|concurrent|debug|draft|improve|tune|ablate|ablation|top|best|new|total|additional|separate|"
        r"successful|unsuccessful|working|evaluated|completed|remaining|child|fresh|full|final|held-out|training|"
        r"llm|model|input|output|prompt|completion|search|experiment|further|consecutive|repeated|seed|unique|"
        r"chained|whole|rerun|re-run|evaluation|python|expanded|executed|pruned|cancelled|invalid)")
_NOUNS = {
    "nodes": r"nodes?|experiments?|drafts?|children|child|leaves|leaf|candidates?|improvements?|ablations?|"
             r"variants?|configurations?|trials?|scripts?|programs?",
    "seeds": r"seeds?|repeats?|repetitions?|re-?runs?|runs",
    "steps": r"steps?|moves?|hops?|generations?|levels?|rounds?",
    "workers": r"workers?|slots?",
    "calls": r"calls?|requests?|completions?",
    "tokens": r"tokens?",
}
_STATUS = r"(?:valid|good|buggy|failed|flagged|cancelled|pruned|finished|invalid)\b"
_NOUN = "|".join(f"(?P<{kind}>{pattern})" for kind, pattern in _NOUNS.items())
_COUNT_AFTER = re.compile(rf"^\s*(?:{_ADJ}[\s-]+){{0,2}}(?:{_NOUN})\b", re.IGNORECASE)
_STATUS_AFTER = re.compile(rf"^\s*{_STATUS}", re.IGNORECASE)
_OF_COUNT = re.compile(rf"^\s*(?:out\s+)?of\s+(?:the\s+|its\s+|all\s+|a\s+total\s+of\s+)?[\d,]+\s+"
                       rf"(?:{_ADJ}[\s-]+){{0,2}}(?:(?:{_NOUN})\b|{_STATUS})", re.IGNORECASE)
_ID_BEFORE = re.compile(r"(?:\b(?:nodes?|parents?|children|child)\s+(?:#\s*)?|#)$", re.IGNORECASE)
_ID_LIST = re.compile(r"^\s*(?:,\s*(?:and\s+|or\s+)?|and\s+|or\s+|&\s*|/\s*|to\s+|-|–)\s*(?:#\s*)?(?:nodes?\s+)?$",
                      re.IGNORECASE)
_DEPTH_BEFORE = re.compile(r"\bdepths?\s*(?:of\s+|=\s*|:\s*)?$", re.IGNORECASE)
_UNITS = {"ms": 0.001, "millisecond": 0.001, "s": 1.0, "sec": 1.0, "second": 1.0, "min": 60.0, "minute": 60.0,
          "h": 3600.0, "hr": 3600.0, "hour": 3600.0, "day": 86400.0}
_UNIT_AFTER = re.compile(r"^\s*(milliseconds?|ms|seconds?|secs?|s|minutes?|mins?|min|hours?|hrs?|h|days?)\b",
                         re.IGNORECASE)
_COST_BEFORE = re.compile(r"(?:\$|\bUSD\s?|\bUS\$)$")
_COST_AFTER = re.compile(r"^\s*(?:USD|US\s+dollars?|dollars?)\b", re.IGNORECASE)
_PARAM_LINK = r"\s*(?:=|:=|:|->|→|\bof\b|\bto\b|\bwas\b|\bis\b|\bat\b|\bfrom\b|\bset\s+to\b|\bequal\s+to\b)?\s*$"
_PARAM_NEXT = re.compile(r"^\s*(?:->|→|to|and|,|/|then|instead\s+of|rather\s+than|vs\.?|versus)\s*$",
                         re.IGNORECASE)
# Durations as discover prints them: 3m05s, 2h10m (and with spaces).
_COMPOUND = re.compile(r"(?<![\w.])(\d+)\s?([hm])\s?(\d{1,2})\s?([ms])(?![\w])")
_QUOTE = re.compile(r"`([^`\n]+)`|\"([^\"\n]+)\"|“([^”\n]+)”")


@dataclass
class NodeNumbers:
    """What the store recorded about one node."""

    values: list[float] = field(default_factory=list)  # metric, metrics.json, parameters, repeats, held-out...
    params: dict[str, float] = field(default_factory=dict)  # numeric parameters by name
    seconds: list[float] = field(default_factory=list)  # its execution time
    depth: int | None = None
    parent: int | None = None
    has_metric: bool = False  # values[0] is the node's metric


@dataclass(frozen=True)
class Claim:
    """One written number and what its words say it is."""

    mention: Mention
    kind: str  # id, count, duration, cost, depth, param, value
    key: str = ""  # count: nodes/seeds/...; param: its name
    scale: float = 1.0  # duration: seconds per unit written
    window: float = 0.0  # compound durations: the printed value floors the seconds


class Record:
    """A run's numbers sorted by what they measure, for checking text claim by claim.

    ``nodes``: per node; ``derived``: statistics of the run not tied to one node (differences,
    means, margins, settings); ``counts``: by kind (nodes, seeds, steps, workers, calls,
    tokens); ``durations`` of the run in seconds (node run times come from ``nodes``);
    ``costs`` in USD; ``params``: every value each parameter took or could take; ``other``:
    further numbers that may be quoted (the idea's text, plans); ``texts``: stored text that
    may be quoted verbatim.
    """

    def __init__(self, nodes: Mapping[int, NodeNumbers], *, derived: Iterable[float] = (),
                 counts: Mapping[str, Iterable[float]] | None = None, durations: Iterable[float] = (),
                 costs: Iterable[float] = (), params: Mapping[str, Iterable[float]] | None = None,
                 other: Iterable[float] = (), texts: Iterable[str] = ()) -> None:
        self.nodes = dict(nodes)
        self.derived = list(derived)
        self.counts = {k: [float(v) for v in vs] for k, vs in (counts or {}).items()}
        self.durations = list(durations)
        self.costs = KnownNumbers(costs)
        self.params = {k: list(vs) for k, vs in (params or {}).items()}
        self.other = list(other)
        self._corpus = "\n".join(" ".join(t.split()) for t in texts if t)
        names = sorted((n for n in self.params if len(n) >= 2), key=len, reverse=True)
        self._param_before = re.compile(
            r"(?<![\w])`?(" + "|".join(map(re.escape, names)) + r")`?" + _PARAM_LINK) if names else None
        self._cache: dict[object, KnownNumbers] = {}

    # -- the sets each kind of claim is checked against ----------------------------------------------

    def _known(self, key: object, values: Iterable[float]) -> KnownNumbers:
        if key not in self._cache:
            self._cache[key] = KnownNumbers(values)
        return self._cache[key]

    def _all_counts(self) -> list[float]:
        return [v for vs in self.counts.values() for v in vs]

    def _all_seconds(self) -> list[float]:
        return self.durations + [s for n in self.nodes.values() for s in n.seconds]

    def _strict_derived(self) -> list[float]:
        """Run statistics that are not also some node's metric: a mean over one node is that node's
        value, so it must not let "node 3 reached 0.85" stand for node 4's 0.85."""
        if "strict" not in self._cache:
            metrics = KnownNumbers(n.values[0] for n in self.nodes.values() if n.values and n.has_metric)
            self._cache["strict"] = KnownNumbers(
                d for d in self.derived if (near := metrics.nearest(abs(d))) is None
                or abs(near - abs(d)) > 1e-9 * max(1.0, abs(d)))
        return self._cache["strict"].values

    def _all_values(self) -> KnownNumbers:
        if "all" not in self._cache:
            values = [v for n in self.nodes.values() for v in n.values]
            values += self.derived + self.other + self._all_counts() + self._all_seconds()
            values += [v for vs in self.params.values() for v in vs]
            values += [float(n.depth) for n in self.nodes.values() if n.depth is not None]
            self._cache["all"] = KnownNumbers(values)
        return self._cache["all"]

    # -- checking --------------------------------------------------------------------------------

    def check_sentence(self, sentence: str, ignore: Iterable[str] = (),
                       rel_tol: float = REL_TOL) -> tuple[int, list[Mention], list[str]]:
        """(numbers checked, the unsupported ones, why each fails) for one sentence."""
        claims = self.claims(sentence, ignore)
        named = sorted({int(c.mention.value) for c in claims if c.kind == "id" and self._is_node(c.mention)})
        bad: list[Mention] = []
        reasons: list[str] = []
        for claim in claims:
            why = self._refute(claim, named, rel_tol)
            if why is not None:
                bad.append(claim.mention)
                reasons.append(why)
        return len(claims), bad, reasons

    def claims(self, sentence: str, ignore: Iterable[str] = ()) -> list[Claim]:
        """Every number in ``sentence`` with what it claims."""
        text = self._mask_quotes(sentence)
        claims: list[Claim] = []
        for m in _COMPOUND.finditer(text):
            big, small = int(m.group(1)), int(m.group(3))
            hours = m.group(2) == "h"
            if hours and m.group(4) != "m":
                continue
            seconds = big * 3600 + small * 60 if hours else big * 60 + small
            mention = Mention(text=m.group(0), value=float(seconds), decimals=0, significant=9,
                              start=m.start(), end=m.end())
            claims.append(Claim(mention, "duration", window=60.0 if hours else 1.0))
            text = text[:m.start()] + " " * (m.end() - m.start()) + text[m.end():]
        previous: Claim | None = None
        for mention in extract_numbers(text, ignore):
            claim = self._classify(text, mention, previous)
            claims.append(claim)
            previous = claim
        return sorted(claims, key=lambda c: c.mention.start)

    def _mask_quotes(self, sentence: str) -> str:
        if not self._corpus:
            return sentence

        def mask(m: re.Match[str]) -> str:
            inner = next(g for g in m.groups() if g is not None)
            quoted = " ".join(inner.split())
            return " " * len(m.group(0)) if quoted and quoted in self._corpus else m.group(0)

        return _QUOTE.sub(mask, sentence)

    def _classify(self, text: str, m: Mention, previous: Claim | None) -> Claim:
        before, after = text[:m.start], text[m.end:]
        integer = m.decimals == 0 and "e" not in m.text.lower() and not m.percent
        tail = m.text[len(m.text.rstrip("smhinx×")):].lower() if not m.percent else ""
        if integer and _ID_BEFORE.search(before):
            return Claim(m, "id")
        if tail in ("s", "ms", "min", "h"):
            return Claim(m, "duration", scale=_UNITS[tail])
        unit = _UNIT_AFTER.match(after) if not m.percent else None
        if unit:
            word = unit.group(1).lower()
            word = word[:-1] if word.endswith("s") and word not in ("s", "ms") else word
            word = {"secs": "sec", "hrs": "hr", "mins": "min"}.get(word, word)
            return Claim(m, "duration", scale=_UNITS.get(word, 1.0))
        if _COST_BEFORE.search(before) or _COST_AFTER.match(after):
            return Claim(m, "cost")
        if integer:
            count = _COUNT_AFTER.match(after) or _OF_COUNT.match(after)
            if count:
                kind = next((k for k in _NOUNS if count.groupdict().get(k)), "nodes")
                return Claim(m, "count", kind)
            if _STATUS_AFTER.match(after):
                return Claim(m, "count", "nodes")
            if previous is not None and previous.kind == "id" and _ID_LIST.match(text[previous.mention.end:m.start]):
                return Claim(m, "id")
        if _DEPTH_BEFORE.search(before) and integer:
            return Claim(m, "depth")
        if self._param_before is not None:
            param = self._param_before.search(before)
            if param:
                return Claim(m, "param", param.group(1))
        if previous is not None and previous.kind == "param" and _PARAM_NEXT.match(text[previous.mention.end:m.start]):
            return Claim(m, "param", previous.key)
        return Claim(m, "value")

    def _is_node(self, m: Mention) -> bool:
        return m.value == int(m.value) and int(m.value) in self.nodes

    def _refute(self, claim: Claim, named: list[int], rel_tol: float) -> str | None:
        """None when the record backs ``claim``, else why not."""
        m, kind = claim.mention, claim.kind
        where = f"node{'s' if len(named) > 1 else ''} {', '.join(map(str, named))}"
        if kind == "id":
            return None if self._is_node(m) else f"there is no node {m.text}"
        if kind == "count":
            known = self._known(("count", claim.key), self.counts.get(claim.key, []))
            return None if known.supports(m, rel_tol) else f"not a recorded number of {claim.key}"
        if kind == "duration":
            seconds = self.durations + [s for i in named for s in self.nodes[i].seconds] if named \
                else self._all_seconds()
            if claim.window:
                low, high = m.value - claim.window / 2, m.value + claim.window
                return None if any(low <= s <= high for s in seconds) else "not a recorded duration"
            if claim.scale == 1.0 and m.decimals == 0 and m.value >= 10:
                # Whole seconds ("20s") are rounded to the second, as discover prints durations.
                return None if any(abs(s - m.value) <= 0.5 + 1e-9 for s in seconds) else "not a recorded duration"
            known = self._known(("seconds", tuple(named), claim.scale), [s / claim.scale for s in seconds])
            return None if known.supports(m, rel_tol) else (
                f"not a recorded duration (nor a run time of {where})" if named else "not a recorded duration")
        if kind == "cost":
            return None if self.costs.supports(m, rel_tol) else "not a recorded cost"
        if kind == "depth":
            depths = [self.nodes[i].depth for i in named] if named else [n.depth for n in self.nodes.values()]
            known = self._known(("depth", tuple(named)), [float(d) for d in depths if d is not None])
            return None if known.supports(m, rel_tol) else (
                f"not the depth of {where}" if named else "no node is at that depth")
        if kind == "param":
            if named:
                nodes = [self.nodes[i] for i in named]
                nodes += [self.nodes[n.parent] for n in nodes if n.parent in self.nodes]
                values = [n.params[claim.key] for n in nodes if claim.key in n.params]
            else:
                values = self.params.get(claim.key, [])
            known = self._known(("param", claim.key, tuple(named)), values)
            return None if known.supports(m, rel_tol) else (
                f"not a value {claim.key} took in {where}" if named else f"not a value {claim.key} took")
        if named:
            integer = m.decimals == 0 and not m.percent
            values = [v for i in named for v in self.nodes[i].values] + self._strict_derived()
            if integer:
                values += self._all_counts()
            known = self._known(("value", tuple(named), integer), values)
            return None if known.supports(m, rel_tol) else f"not a recorded value of {where} (nor a run statistic)"
        return None if self._all_values().supports(m, rel_tol) else "not recorded"
