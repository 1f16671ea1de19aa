"""The best metric found so far, one point per good node in the order the nodes finished.

Kept sorted by finish time with the running best alongside, so that a node finishing,
being rescored or losing its standing (flagged by a reviewer) recomputes only the points
from its place onward, not the whole curve.
"""

from __future__ import annotations

from bisect import bisect_left, insort

Key = tuple[float, int]  # (finish time, node id)


class BestCurve:
    """Best-so-far values over good nodes in finish order."""

    def __init__(self, maximize: bool) -> None:
        self.maximize = maximize
        self._keys: list[Key] = []
        self._metrics: dict[Key, float] = {}
        self._best: list[float] = []  # running best, valid up to _clean
        self._clean = 0
        self.version = 0  # bumped by every change, so a chart redraws only when it must

    def __len__(self) -> int:
        return len(self._keys)

    def add(self, key: Key, metric: float) -> None:
        insort(self._keys, key)
        self._metrics[key] = metric
        self._dirty(bisect_left(self._keys, key))

    def discard(self, key: Key) -> None:
        if key not in self._metrics:
            return
        i = bisect_left(self._keys, key)
        del self._keys[i]
        del self._metrics[key]
        self._dirty(i)

    def _dirty(self, index: int) -> None:
        self._clean = min(self._clean, index)
        self.version += 1

    @property
    def values(self) -> list[float]:
        """The curve; recomputed from the first point that changed since the last read."""
        if self._clean < len(self._keys) or len(self._best) != len(self._keys):
            del self._best[self._clean:]
            best = self._best[-1] if self._best else None
            for key in self._keys[self._clean:]:
                metric = self._metrics[key]
                if best is None or (metric > best if self.maximize else metric < best):
                    best = metric
                self._best.append(best)
            self._clean = len(self._keys)
        return self._best
