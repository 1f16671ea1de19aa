"""Moves in a search space: sample a point, step a parameter up or down, find a middle."""

from __future__ import annotations

import math
import random

from runs.models import ParamSpec, ParamValue, RangeSpec

STEPS = 8  # a range is crossed in about this many steps


def sample(spec: ParamSpec, rng: random.Random) -> ParamValue:
    """A random value of ``spec``."""
    if isinstance(spec, list):
        return rng.choice(spec)
    if spec.log:
        value = math.exp(rng.uniform(math.log(spec.low), math.log(spec.high)))
    else:
        value = rng.uniform(spec.low, spec.high)
    return _tidy(spec, value)


def neighbours(spec: ParamSpec, value: ParamValue) -> list[tuple[int, ParamValue]]:
    """One step down (-1) and up (+1) from ``value``, as (direction, new value) pairs."""
    if isinstance(spec, list):
        if value in spec:
            i = spec.index(value)
            return [(d, spec[i + d]) for d in (-1, 1) if 0 <= i + d < len(spec)]
        if _numeric(value) and all(_numeric(c) for c in spec):
            below = [c for c in spec if c < value]
            above = [c for c in spec if c > value]
            out = []
            if below:
                out.append((-1, max(below)))
            if above:
                out.append((1, min(above)))
            return out
        return [(1, c) for c in spec]
    out = []
    for d in (-1, 1):
        if spec.log:
            step = (spec.high / spec.low) ** (1 / STEPS)
            new = float(value) * step**d
        else:
            new = float(value) + d * (spec.high - spec.low) / STEPS
        new = _tidy(spec, min(spec.high, max(spec.low, new)))
        if new != value:
            out.append((d, new))
    return out


def between(spec: ParamSpec, a: ParamValue, b: ParamValue) -> ParamValue | None:
    """A value strictly between ``a`` and ``b``, or None when there is none."""
    if isinstance(spec, list):
        if a in spec and b in spec:
            i, j = sorted((spec.index(a), spec.index(b)))
            return spec[(i + j) // 2] if j - i > 1 else None
        return None
    if not (_numeric(a) and _numeric(b)):
        return None
    if spec.log and a > 0 and b > 0:
        mid = math.sqrt(float(a) * float(b))
    else:
        mid = (float(a) + float(b)) / 2
    mid = _tidy(spec, mid)
    return mid if min(a, b) < mid < max(a, b) else None


def direction(spec: ParamSpec, old: ParamValue, new: ParamValue) -> int:
    """+1 when ``new`` lies above ``old`` in the space, -1 below, 0 when not comparable."""
    if isinstance(spec, list) and old in spec and new in spec:
        return (spec.index(new) > spec.index(old)) - (spec.index(new) < spec.index(old))
    if _numeric(old) and _numeric(new):
        return (new > old) - (new < old)
    return 0


def _numeric(v: object) -> bool:
    return isinstance(v, (int, float)) and not isinstance(v, bool)


def _tidy(spec: RangeSpec, value: float) -> ParamValue:
    if spec.integer:
        return int(round(value))
    return float(f"{value:.4g}")
