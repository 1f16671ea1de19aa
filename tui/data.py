"""What the TUI knows of one run, kept in step with the store by cheap incremental polls.

The watcher holds a light row per node (no code, no output) and, on each poll, asks the
store only for what changed: rows whose timestamps moved past a watermark, pruning flags
(counted first, fetched only when the count moved), deletions (likewise), new events and
the run row. Widgets receive a ``Changes`` and touch only the nodes it names.

Nothing here imports Textual, so it is tested and benchmarked on its own.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field

from runs.models import Event, NodeLine, Run
from runs.store import RunStore
from tui.curve import BestCurve

# Rows whose timestamps fall within this many seconds of the newest one seen are read
# again on the next poll: a writer may stamp a time a moment before it commits.
_OVERLAP_SECONDS = 2.0
_FINISHED = frozenset({"good", "buggy", "flagged", "failed", "cancelled"})


@dataclass(slots=True)
class TreeRow:
    """The part of a node the tree line and header need."""

    id: int
    parent_id: int | None
    operator: str
    status: str
    metric: float | None
    pruned: bool
    value: float | None = None
    visits: int | None = None
    q: float | None = None
    finished_at: float | None = None
    stamp: float = 0.0  # newest of the node's timestamps

    def signature(self) -> tuple:
        """What, if it changes, changes the node's line."""
        return (self.operator, self.status, self.metric, self.pruned, self.value, self.visits, self.q)

    @property
    def good(self) -> bool:
        return self.status == "good" and self.metric is not None


@dataclass
class Changes:
    """What one poll found; empty lists when nothing moved."""

    added: list[int] = field(default_factory=list)  # parents before children
    changed: list[int] = field(default_factory=list)
    removed: list[int] = field(default_factory=list)
    removed_parents: set[int] = field(default_factory=set)  # nodes that lost a child
    events: list[tuple[int, Event]] = field(default_factory=list)
    run_changed: bool = False
    best_changed: bool = False
    old_best_path: list[int] = field(default_factory=list)
    report_appeared: bool = False

    @property
    def nodes_moved(self) -> bool:
        return bool(self.added or self.changed or self.removed)

    def __bool__(self) -> bool:
        return bool(self.nodes_moved or self.events or self.run_changed or self.report_appeared)


class RunWatcher:
    """The TUI's model of one run, refreshed from the store by ``poll``."""

    def __init__(self, store: RunStore, run_id: str, *, full_sync_every: int = 60) -> None:
        self.store = store
        self.run_id = run_id
        self.run: Run = store.get_run(run_id)
        self.rows: dict[int, TreeRow] = {}
        self.children: dict[int | None, list[int]] = {}
        self.counts: Counter[str] = Counter()
        self.best_id: int | None = None
        # Pruned nodes stay in the curve: it records what the search found when, not what is open now.
        self.curve = BestCurve(store.get_run(run_id).idea.metric.direction == "maximize")
        self.last_event_id = 0
        self.paused = False
        self.report_path = store.run_dir(run_id) / "report" / "report.md"
        self.report_exists = self.report_path.exists()
        # A timestamp-only watermark can miss a change written without a new timestamp (a
        # value estimate set later): a full comparison every so many polls bounds that delay.
        self.full_sync_every = full_sync_every
        self._polls = 0
        self._watermark = 0.0
        self._pruned_count = 0
        self._data_version: int | None = None
        self._load()

    # -- reading ------------------------------------------------------------------------------

    @property
    def maximize(self) -> bool:
        return self.run.idea.metric.direction == "maximize"

    def better(self, a: float, b: float) -> bool:
        return self.run.idea.metric.better(a, b)

    def path_to(self, node_id: int | None) -> list[int]:
        """Ids from a root down to ``node_id``; empty for None or an unknown node."""
        path: list[int] = []
        while node_id is not None and node_id in self.rows:
            path.append(node_id)
            node_id = self.rows[node_id].parent_id
        path.reverse()
        return path

    def best_path(self) -> list[int]:
        return self.path_to(self.best_id)

    @property
    def in_flight(self) -> int:
        return self.counts["pending"] + self.counts["running"]

    @property
    def finished(self) -> int:
        return sum(self.counts[s] for s in _FINISHED if s != "cancelled")

    @property
    def live(self) -> bool:
        return self.run.status == "running"

    # -- loading and polling ------------------------------------------------------------------

    def _select(self, *, changed_since: float | None = None, pruned: bool | None = None) -> list[TreeRow]:
        return [_tree_row(line) for line in self.store.node_lines(self.run_id, changed_since=changed_since,
                                                                  pruned=pruned)]

    def _load(self) -> None:
        rows = self._select()
        for row in rows:
            self._insert(row)
        self._recompute_best()
        for row in rows:
            self._curve_update(None, row)
        self._pruned_count = sum(1 for r in rows if r.pruned)
        self._watermark = max((r.stamp for r in rows), default=0.0)
        self.paused = self._read_paused()
        self._data_version = self.store.data_version()
        self.last_event_id = self.store.last_event_id(self.run_id)

    def backlog(self, limit: int = 200) -> list[tuple[int, Event]]:
        """The last ``limit`` events up to the load: the log opens on these, not on the whole history."""
        return self.store.recent_events(self.run_id, up_to_id=self.last_event_id, limit=limit)

    def poll(self) -> Changes:
        """Bring the model up to date with the store and say what moved."""
        self._polls += 1
        # A run that has ended gets no late values: its changes all come with a data_version bump.
        full = self.live and self.full_sync_every > 0 and self._polls % self.full_sync_every == 0
        changes = Changes()
        # The write-up is a file written after the run's last database write: look for it first.
        if not self.report_exists and self.report_path.exists():
            self.report_exists = changes.report_appeared = True
        version = self.store.data_version()
        if version == self._data_version and not full:
            return changes
        self._data_version = version
        old_best = self.best_id
        old_path = self.best_path()

        run = self.store.get_run(self.run_id)
        if run != self.run:
            self.run, changes.run_changed = run, True
        paused = self._read_paused()
        if paused != self.paused:
            self.paused, changes.run_changed = paused, True

        fresh = self._select() if full else self._select(changed_since=self._watermark - _OVERLAP_SECONDS)
        fresh_ids = {r.id for r in fresh}
        pruned_count = self.store.count_pruned(self.run_id)
        if pruned_count != self._pruned_count and not full:
            # Pruning rewrites the flag without a new timestamp; fetch the flagged rows we have not seen flagged.
            known = {i for i, r in self.rows.items() if r.pruned}
            fresh += [r for r in self._select(pruned=True) if r.id not in known and r.id not in fresh_ids]
        self._pruned_count = pruned_count

        for row in fresh:
            self._watermark = max(self._watermark, row.stamp)
            old = self.rows.get(row.id)
            if old is None:
                self._insert(row)
                changes.added.append(row.id)
            elif old.signature() != row.signature() or old.parent_id != row.parent_id:
                self._replace(old, row)
                changes.changed.append(row.id)
            else:
                continue
            self._curve_update(old, row)
        # Nodes are deleted only rarely (a selection the agent had nothing for): the count says when.
        if full or sum(self.store.count_nodes(self.run_id).values()) != len(self.rows):
            present = {r.id for r in fresh} if full else self.store.node_ids(self.run_id)
            for node_id in sorted(set(self.rows) - present, reverse=True):
                self._curve_update(self.rows[node_id], None)
                if self.rows[node_id].parent_id is not None:
                    changes.removed_parents.add(self.rows[node_id].parent_id)
                self._delete(node_id)
                changes.removed.append(node_id)
        changes.added.sort()

        if changes.added or changes.changed or changes.removed:
            self._update_best(changes)
        if self.best_id != old_best:
            changes.best_changed, changes.old_best_path = True, old_path

        changes.events = self.store.events(self.run_id, after_id=self.last_event_id, limit=500)
        if changes.events:
            self.last_event_id = changes.events[-1][0]
        return changes

    # -- bookkeeping --------------------------------------------------------------------------

    def _read_paused(self) -> bool:
        return self.store.paused(self.run_id)

    def _insert(self, row: TreeRow) -> None:
        self.rows[row.id] = row
        self.children.setdefault(row.parent_id, []).append(row.id)
        self.counts[row.status] += 1

    def _replace(self, old: TreeRow, row: TreeRow) -> None:
        if old.parent_id != row.parent_id:
            self.children[old.parent_id].remove(old.id)
            self.children.setdefault(row.parent_id, []).append(row.id)
        self.counts[old.status] -= 1
        self.counts[row.status] += 1
        self.rows[row.id] = row

    def _delete(self, node_id: int) -> None:
        row = self.rows.pop(node_id)
        self.children.get(row.parent_id, []).remove(node_id)
        self.children.pop(node_id, None)
        self.counts[row.status] -= 1

    def _recompute_best(self) -> None:
        self.best_id = None
        for row in self.rows.values():
            self._consider(row)

    def _consider(self, row: TreeRow) -> None:
        if row.good and not row.pruned:
            best = self.rows.get(self.best_id) if self.best_id is not None else None
            if best is None or self.better(row.metric, best.metric):  # type: ignore[arg-type]
                self.best_id = row.id

    def _update_best(self, changes: Changes) -> None:
        best = self.rows.get(self.best_id) if self.best_id is not None else None
        if best is None or not best.good or best.pruned:
            self._recompute_best()  # the best node lost its standing: rare, so a scan is fine
        else:
            for node_id in changes.added + changes.changed:
                self._consider(self.rows[node_id])

    def _curve_update(self, old: TreeRow | None, new: TreeRow | None) -> None:
        old_point = (_finish_order(old), old.metric) if old is not None and old.good else None
        new_point = (_finish_order(new), new.metric) if new is not None and new.good else None
        if old_point != new_point:
            if old_point:
                self.curve.discard(old_point[0])
            if new_point:
                self.curve.add(new_point[0], new_point[1])  # type: ignore[arg-type]

    @property
    def best_curve(self) -> list[float]:
        """Best metric so far, one point per good node, in finish order."""
        return self.curve.values


def _tree_row(line: NodeLine) -> TreeRow:
    stamp = line.updated_at or max(line.created_at or 0.0, line.started_at or 0.0, line.finished_at or 0.0)
    return TreeRow(id=line.id, parent_id=line.parent_id, operator=line.operator, status=line.status,
                   metric=line.metric, pruned=line.pruned, value=line.value, visits=line.visits, q=line.q,
                   finished_at=line.finished_at, stamp=stamp)


def _finish_order(row: TreeRow) -> tuple[float, int]:
    return (row.finished_at or row.stamp, row.id)
