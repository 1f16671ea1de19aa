"""Seeded finish order for the search benchmark: K-worker runs that pair across policies.

With K workers the engine picks each next node when one finishes, so a run depends on the
order its nodes finish in. The benchmark's scripts all take a few milliseconds, so that
order, and with it the whole run, was decided by the machine's timing: two runs of one
policy on one seed differed as much as two policies did, and a paired comparison paired
nothing. Here each node is given a duration drawn from the run's seed and its id (uniform
in ``durations``, virtual: nobody sleeps), and finishes in the order of those durations:

- a node's script runs at once, but ``finish`` holds its result until every node the engine
  has in flight is either holding too or is this one, and this one's virtual end is the
  earliest: the engine then sees one node finish at a time, always the same one;
- proposals are asked for in node-id order (``turn``), so the scripted scientist, which
  draws from one random stream, answers the same node with the same move.

The engine is not changed: the bench's workspace calls ``start``/``finish``, its engine
subclass calls ``turn``/``proposed`` and tells the order which nodes are in flight.
"""

from __future__ import annotations

import asyncio
import random
from collections.abc import Callable


class SeededOrder:
    """Releases finished nodes in the order of seeded virtual durations (see the module docstring)."""

    def __init__(self, in_flight: Callable[[], set[int]], durations: tuple[float, float] = (1.0, 3.0)) -> None:
        self.in_flight = in_flight
        self.durations = durations
        self.now = 0.0  # the virtual time of the last release
        self.ends: dict[int, float] = {}  # started, not released: virtual end
        self.done: set[int] = set()  # of those, the ones whose script has ended
        self.asked: set[int] = set()  # nodes whose proposal is over (or that need none)
        self._event = asyncio.Event()

    def poke(self) -> None:
        """Something changed (here, or in the engine's in-flight set): waiters look again."""
        event, self._event = self._event, asyncio.Event()
        event.set()

    async def _until(self, ready: Callable[[], bool]) -> None:
        while not ready():
            await self._event.wait()

    def start(self, node_id: int, seed: int) -> None:
        """A node's script is about to run: draw its virtual duration."""
        duration = random.Random(f"{seed}:{node_id}:duration").uniform(*self.durations)
        self.ends[node_id] = self.now + duration
        self.asked.add(node_id)  # it runs, so it asks nothing more (the baseline never asked)
        self.poke()

    async def finish(self, node_id: int) -> None:
        """Return when ``node_id`` is the node to finish next."""
        self.done.add(node_id)
        self.poke()
        try:
            await self._until(lambda: self._next() == node_id)
        except asyncio.CancelledError:  # cancelled while held: it must not hold the others
            self.drop(node_id)
            raise
        self.now = self.ends.pop(node_id)
        self.done.discard(node_id)
        self.poke()

    async def turn(self, node_id: int) -> None:
        """Wait until every in-flight node with a smaller id has had its proposal."""
        await self._until(lambda: all(i in self.asked for i in self.in_flight() if i < node_id))

    def drop(self, node_id: int) -> None:
        """``node_id`` will not finish through ``finish`` (cancelled, or its execution failed)."""
        self.ends.pop(node_id, None)
        self.done.discard(node_id)
        self.poke()

    def proposed(self, node_id: int) -> None:
        """``node_id``'s proposal is over (whatever came of it)."""
        self.asked.add(node_id)
        self.poke()

    def _next(self) -> int | None:
        flying = self.in_flight()
        if not flying <= set(self.ends):
            return None  # a node is still being proposed, or finishing after its release
        first = min(self.ends, key=lambda i: (self.ends[i], i))
        return first if first in self.done else None
