"""Everything the write-up may say about a run, read once from the store.

The write-up states nothing that is not here, and every number here comes from the store
or is computed from stored numbers (counts, differences, means). ``Facts.numbers`` is the
set the grounding check compares model-written text against; ``digest`` is what the model
reads. Both are built from the same values, so a number the model saw is always accepted.
"""

from __future__ import annotations

import json
import math
import statistics
from collections import Counter, defaultdict
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from agents.literature.bibtex import cite_keys
from reviewers.checklist import bugs_fixed
from reviewers.claims import NodeNumbers, Record
from reviewers.grounding import extract_numbers
from runs.models import Node, NodeStatus, Paper, Run
from runs.store import RunStore

TOP = 10  # nodes in the results table
_SEED_TOP = 20  # nodes whose repeats and held-out scores are looked up
_CURVE_CAP = 200  # numbers kept from one list-valued metric (a learning curve)
PAPERS = 10  # stored papers the write-up may cite


@dataclass(frozen=True)
class Repeats:
    """A node's metric over several seeds (its own run included when the store has it)."""

    values: list[float]

    @property
    def n(self) -> int:
        return len(self.values)

    @property
    def mean(self) -> float:
        return statistics.fmean(self.values)

    @property
    def std(self) -> float:
        return statistics.stdev(self.values) if len(self.values) > 1 else 0.0


@dataclass
class OperatorStats:
    """How one operator (or one depth) did."""

    count: int = 0
    good: int = 0
    metrics: list[float] = field(default_factory=list)


@dataclass
class Facts:
    """A finished (or running) run as the write-up sees it."""

    run: Run
    nodes: list[Node]  # without code and output, id order
    by_id: dict[int, Node]
    ranked: list[Node]  # good, unpruned nodes with a metric, best first
    best: Node | None  # in full (code and output)
    first_draft: Node | None
    path: list[Node]  # root draft -> best
    counts: dict[str, int]
    operators: dict[str, OperatorStats]
    depths: dict[int, OperatorStats]
    repeats: dict[int, Repeats]
    holdout: dict[int, float]
    failure_reasons: list[tuple[str, int]]
    buggy_fixed: int
    buggy_total: int
    flagged: list[Node]
    node_reviews: dict[int, list[dict[str, Any]]]
    llm_usage: dict[str, float]
    best_curve: list[tuple[int, float, float]]  # (nodes finished, seconds of search, best so far)
    run_dir: Path
    node_dir_of: Any  # callable node id -> Path
    best_found: tuple[int, float] | None = None  # (nodes finished, seconds of search) when the best finished
    headline: list[tuple[str, float | int | str]] = field(default_factory=list)
    numbers: list[float] = field(default_factory=list)
    record: Record | None = None  # the same numbers sorted by what they measure (reviewers.claims)
    papers: list[Paper] = field(default_factory=list)  # stored papers found for the idea: the only ones citable
    paper_notes: dict[str, str] = field(default_factory=dict)  # paper id -> what the novelty check said of it
    cite_keys: dict[str, str] = field(default_factory=dict)  # paper id -> citation key
    task: Any = None  # discovery.tasks.results.TaskResult of a dataset task: validation vs test, rank

    @property
    def search_cost(self) -> float:
        """USD the search's model calls cost (the run's total less what its reports cost)."""
        return self.llm_usage.get("cost", self.run.cost) if self.llm_usage else self.run.cost

    @property
    def metric_name(self) -> str:
        return self.run.idea.metric.name

    @property
    def maximize(self) -> bool:
        return self.run.idea.metric.direction == "maximize"

    @property
    def gain(self) -> float | None:
        """Best minus first valid draft (signed as the metric goes)."""
        if self.best is None or self.first_draft is None or self.best.metric is None or self.first_draft.metric is None:
            return None
        return self.best.metric - self.first_draft.metric

    def node_dir(self, node_id: int) -> Path:
        return self.node_dir_of(node_id)

    def ignore_words(self) -> list[str]:
        """Strings whose digits are names, not quantities (the run id, the metric's name, citation keys)."""
        words = [self.run.id, self.metric_name, *self.run.idea.search_space, *self.cite_keys.values()]
        words += [p.title for p in self.papers]
        return words + [k for n in self.ranked[:TOP] for k in n.metrics]

    @property
    def papers_from_idea(self) -> bool:
        """The idea names papers it was checked against (it came from ``discover ideate``)."""
        return any(p.id in self.run.idea.papers for p in self.papers)


def ranked(run: Run, nodes: list[Node]) -> list[Node]:
    """Valid nodes, best first; among equal metrics the older node first, as the search picks its best."""
    return run.idea.metric.rank(nodes)


class SearchClock:
    """Maps a wall-clock time to seconds of search, the clock of ``Run.elapsed`` ("time searching").

    ``elapsed`` counts only the time an orchestrator was searching, over all its sessions, and
    is stored together with the heartbeat or the finish time; so the end of the last session
    is ``elapsed`` seconds of search, and each earlier moment is that less the wall time since,
    less the pauses between sessions (a stopped or crashed run waiting for ``discover resume``).
    """

    def __init__(self, run: Run, pauses: list[tuple[float, float]] = ()) -> None:  # type: ignore[assignment]
        self.elapsed = max(0.0, run.elapsed)
        self.end = run.finished_at or run.heartbeat or (run.created_at + self.elapsed)
        self.pauses = [(a, b) for a, b in pauses if b > a]

    def seconds(self, wall: float) -> float:
        """Seconds of search at wall-clock time ``wall``, within [0, elapsed]."""
        paused = sum(min(b, self.end) - max(a, wall) for a, b in self.pauses if b > wall and a < self.end)
        return min(self.elapsed, max(0.0, self.elapsed - (self.end - wall) + paused))


def best_so_far(run: Run, nodes: list[Node], clock: SearchClock | None = None) -> list[tuple[int, float, float]]:
    """(nodes finished, seconds of search, best metric) after each finished node."""
    clock = clock or SearchClock(run)
    better = run.idea.metric.better
    finished = sorted((n for n in nodes if n.finished_at is not None), key=lambda n: n.finished_at or 0)
    points: list[tuple[int, float, float]] = []
    best: float | None = None
    for i, n in enumerate(finished, 1):
        if n.status == NodeStatus.good and n.metric is not None and not n.pruned and (
                best is None or better(n.metric, best)):
            best = n.metric
        if best is not None:
            points.append((i, clock.seconds(n.finished_at or 0), best))
    return points


def best_found(nodes: list[Node], best: Node | None, clock: SearchClock) -> tuple[int, float] | None:
    """(nodes finished, seconds of search) when the best node itself finished."""
    if best is None or best.finished_at is None:
        return None
    done = sum(1 for n in nodes if n.finished_at is not None and n.finished_at <= best.finished_at)
    return done, clock.seconds(best.finished_at)


def collect(store: RunStore, run_id: str) -> Facts:
    """Read the run, its nodes, evaluations, reviews and LLM usage; compute the statistics."""
    run = store.get_run(run_id)
    nodes = store.nodes(run_id, with_code=False)
    by_id = {n.id: n for n in nodes}
    order = ranked(run, nodes)
    best_id = run.best_node_id if run.best_node_id in by_id and by_id[run.best_node_id].status == NodeStatus.good \
        else (order[0].id if order else None)
    best = store.get_node(run_id, best_id) if best_id is not None else None
    drafts = [n for n in nodes if n.operator == "draft" and n.status == NodeStatus.good and n.metric is not None]
    first = min(drafts, key=lambda n: n.id) if drafts else None
    path: list[Node] = []
    if best is not None:
        cur: Node | None = by_id[best.id]
        while cur is not None:
            path.append(cur)
            cur = by_id.get(cur.parent_id) if cur.parent_id is not None else None
        path.reverse()
    counts = Counter(n.status.value for n in nodes)
    operators: dict[str, OperatorStats] = defaultdict(OperatorStats)
    depths: dict[int, OperatorStats] = defaultdict(OperatorStats)
    for n in nodes:
        for stats in (operators[n.operator], depths[n.depth]):
            stats.count += 1
            if n.status == NodeStatus.good and n.metric is not None:
                stats.good += 1
                stats.metrics.append(n.metric)
    wanted = {n.id for n in order[:_SEED_TOP]} | ({best_id} if best_id else set())
    repeats, holdout = _evaluations(store, run_id, wanted, by_id)
    reasons = Counter()
    for n in nodes:
        if n.status in (NodeStatus.buggy, NodeStatus.failed, NodeStatus.flagged):
            reasons[(n.error or n.status.value).strip().splitlines()[0][:120] if (n.error or "").strip()
                    else n.status.value] += 1
    fixed, total = bugs_fixed(nodes)
    clock = SearchClock(run, store.pauses(run_id))
    facts = Facts(
        run=run, nodes=nodes, by_id=by_id, ranked=order, best=best, first_draft=first, path=path,
        counts=dict(counts), operators=dict(operators), depths=dict(depths), repeats=repeats, holdout=holdout,
        failure_reasons=reasons.most_common(10), buggy_fixed=fixed, buggy_total=total,
        flagged=[n for n in nodes if n.status == NodeStatus.flagged],
        node_reviews=_node_reviews(store, run_id), llm_usage=_llm_usage(store, run_id),
        best_curve=best_so_far(run, nodes, clock), best_found=best_found(nodes, best, clock),
        run_dir=store.run_dir(run_id),
        node_dir_of=lambda i, _s=store, _r=run_id: _s.node_dir(_r, i),
    )
    facts.papers, facts.paper_notes = _papers(store, run)
    facts.cite_keys = cite_keys(facts.papers)
    if run.idea.task is not None:
        from discovery.tasks.results import task_result

        facts.task = task_result(store, run_id)
    facts.headline = _headline(facts)
    facts.numbers = _numbers(facts)
    facts.record = _record(facts)
    return facts


def _papers(store: RunStore, run: Run) -> tuple[list[Paper], dict[str, str]]:
    """The stored papers the run used: those the idea names first, then the closest of those linked to it."""
    from agents.literature.rank import closest

    links = store.run_papers(run.id)
    notes = {link.paper.id: link.note for link in links if link.note}
    ideas = [link.paper for link in links if link.purpose == "idea"]
    others = {link.paper.id: link.paper for link in links if link.paper.id not in {p.id for p in ideas}}
    idea = run.idea
    text = " ".join((idea.title, idea.hypothesis, idea.experiments))
    ranked = [p for p, _ in closest(text, list(others.values()), PAPERS)]
    return (ideas + ranked)[:max(PAPERS, len(ideas))], notes


def _evaluations(store: RunStore, run_id: str, wanted: set[int], by_id: dict[int, Node],
                 ) -> tuple[dict[int, Repeats], dict[int, float]]:
    seeds: dict[int, list[float]] = defaultdict(list)
    holdout: dict[int, float] = {}
    for e in store.evaluations(run_id):
        if e.node_id not in wanted or e.metric is None or e.status != NodeStatus.good:
            continue
        if e.kind == "seed":
            seeds[e.node_id].append(float(e.metric))
        elif e.kind == "holdout":
            holdout[e.node_id] = float(e.metric)
    repeats = {}
    for node_id, values in seeds.items():
        own = by_id[node_id].metric if node_id in by_id else None
        # The node's own run is a repeat too, unless a re-run used the very same seed and value.
        all_values = ([own] if own is not None and own not in values else []) + values
        repeats[node_id] = Repeats(all_values)
    return repeats, holdout


def _node_reviews(store: RunStore, run_id: str) -> dict[int, list[dict[str, Any]]]:
    out: dict[int, list[dict[str, Any]]] = defaultdict(list)
    for row in store.reviews(run_id):
        if row.node_id is None:
            continue
        review = row.model_dump(exclude={"run_id", "node_id", "id"})
        out[row.node_id].append({k: v for k, v in review.items() if v not in (None, [], "")})
    return dict(out)


WRITEUP_ROLES = ("writeup", "writeup_rewrite", "writeup_review", "meta_review")


def _llm_usage(store: RunStore, run_id: str) -> dict[str, float]:
    """Calls, tokens and cost of the search's own model calls (the report's calls left out, so that
    writing the report does not change the facts it is written from)."""
    usage = store.llm_usage(run_id, exclude_roles=WRITEUP_ROLES)
    return {k: float(v) for k, v in usage.model_dump().items()} if usage.calls else {}


# -- the numbers the text may use ------------------------------------------------------------

def _headline(f: Facts) -> list[tuple[str, float | int | str]]:
    """Labelled facts for the model's digest; every number in it is also in ``numbers``."""
    run, cfg = f.run, f.run.config
    h: list[tuple[str, float | int | str]] = [
        ("metric", f"{f.metric_name} ({run.idea.metric.direction})"),
        ("nodes", len(f.nodes)),
        *((f"nodes {status}", count) for status, count in sorted(f.counts.items())),
        ("node budget", cfg.budget), ("parallel workers", cfg.workers), ("search policy", cfg.policy),
        ("agent", run.agent), ("time searching (seconds)", run.elapsed),
        ("time searching (minutes)", run.elapsed / 60),
    ]
    exec_total = sum(n.exec_seconds or 0 for n in f.nodes)
    if exec_total:
        h.append(("total execution time of all nodes (seconds)", exec_total))
    if f.search_cost:
        h.append(("LLM cost of the search (USD)", f.search_cost))
    for key, value in f.llm_usage.items():
        h.append((f"LLM calls of the search: {key}", value))
    if f.best is not None and f.best.metric is not None:
        b = f.best
        h += [("best node", b.id), (f"best {f.metric_name}", b.metric), ("best node operator", b.operator),
              ("best node depth", b.depth)]
        if b.exec_seconds is not None:
            h.append(("best node run time (seconds)", b.exec_seconds))
        for k, v in sorted(b.params.items()):
            h.append((f"best node parameter {k}", v if not isinstance(v, bool) else str(v)))
        for k, v in sorted(b.metrics.items()):
            if _num(v) and k != f.metric_name:
                h.append((f"best node also reported {k}", v))
        gap = _train_gap(f.metric_name, b.metrics)
        if gap is not None:
            h.append((f"best node train minus validation gap ({gap[0]} - {f.metric_name})", gap[1]))
        if f.best_found is not None:
            h += [("nodes finished when the best was found", f.best_found[0]),
                  ("seconds of search when the best was found", f.best_found[1])]
        runner = next((n for n in f.ranked if n.id != b.id), None)
        if runner is not None and runner.metric is not None:
            h += [("runner-up node", runner.id),
                  ("margin of the best over the runner-up", abs(b.metric - runner.metric))]
    if f.first_draft is not None and f.gain is not None:
        h += [("first valid draft", f.first_draft.id), (f"first valid draft {f.metric_name}", f.first_draft.metric)]
        h.append((f"best minus first draft {f.metric_name}", f.gain))
        if f.first_draft.metric:
            h.append(("relative change from first draft (percent)", 100 * f.gain / abs(f.first_draft.metric)))
    for node_id, rep in sorted(f.repeats.items()):
        h += [(f"node {node_id} repeats (seeds)", rep.n), (f"node {node_id} mean over seeds", rep.mean),
              (f"node {node_id} std over seeds", rep.std)]
    for node_id, value in sorted(f.holdout.items()):
        h.append((f"node {node_id} held-out {f.metric_name}", value))
        metric = f.by_id[node_id].metric if node_id in f.by_id else None
        if metric is not None:
            h.append((f"node {node_id} held-out minus validation", value - metric))
    for op, s in sorted(f.operators.items()):
        h.append((f"operator {op}: nodes", s.count))
        h.append((f"operator {op}: valid", s.good))
        if s.metrics:
            h.append((f"operator {op}: best {f.metric_name}", max(s.metrics) if f.maximize else min(s.metrics)))
            h.append((f"operator {op}: mean {f.metric_name}", statistics.fmean(s.metrics)))
    if f.task is not None:
        h += _task_headline(f.task)
    h.append(("deepest node depth", max(f.depths, default=0)))
    if f.buggy_total:
        h += [("buggy nodes", f.buggy_total), ("buggy nodes later fixed by debugging", f.buggy_fixed)]
    if f.flagged:
        h.append(("nodes flagged invalid by a reviewer", len(f.flagged)))
    return h


def _task_headline(t: Any) -> list[tuple[str, float | int | str]]:
    h: list[tuple[str, float | int | str]] = []
    if t.validation is not None:
        h += [(f"chosen node's {t.metric} on the framework's hidden validation split", t.validation),
              ("hidden validation rows", t.validation_rows or 0)]
    if t.self_reported is not None:
        h.append((f"chosen node's own estimate of {t.metric}", t.self_reported))
    if t.test is not None:
        h.append((f"chosen node's test {t.metric} on the private answers", t.test))
        if t.validation is not None:
            h.append(("test minus validation", t.test - t.validation))
    if t.standing:
        s = t.standing
        h += [("leaderboard rank", s["rank"]), ("leaderboard entries, this one included", s["of"]),
              ("share of leaderboard entries beaten (percent)", 100 * s["beats"]), ("medal", s["medal"])]
    return h


def _numbers(f: Facts) -> list[float]:
    """Every number the store holds about the run, plus the statistics computed from them."""
    out: list[float] = []
    add = out.append
    for _, v in f.headline:
        if _num(v):
            add(float(v))
    run, cfg = f.run, f.run.config
    for v in (*cfg.model_dump().values(), run.elapsed, run.cost, f.search_cost, run.idea.time_limit,
              run.idea.gpus_per_node):
        if _num(v):
            add(float(v))
    for seconds in (run.elapsed,):
        add(seconds / 60)
        add(seconds / 3600)
    idea = run.idea
    for text in (idea.title, idea.hypothesis, idea.experiments, idea.body):
        out.extend(m.value for m in extract_numbers(text or ""))
    for spec in idea.search_space.values():
        values = spec if isinstance(spec, list) else [spec.low, spec.high]
        out.extend(float(v) for v in values if _num(v))
    for n in f.nodes:
        for v in (n.id, n.parent_id, n.depth, n.metric, n.exec_seconds, n.attempts, n.debug_depth, n.value,
                  n.exit_code):
            if _num(v):
                add(float(v))
        if n.exec_seconds:
            add(n.exec_seconds / 60)
        for v in n.params.values():
            if _num(v):
                add(float(v))
        _flatten(n.metrics, out)
    for rep in f.repeats.values():
        out.extend(rep.values)
        out += [rep.mean, rep.std, min(rep.values), max(rep.values), float(rep.n)]
    out.extend(f.holdout.values())
    for s in [*f.operators.values(), *f.depths.values()]:
        out += [float(s.count), float(s.good)]
        if s.metrics:
            out += [max(s.metrics), min(s.metrics), statistics.fmean(s.metrics)]
    out += [float(c) for c in f.counts.values()] + [float(c) for _, c in f.failure_reasons]
    # Stored text the report and the digest quote: plans of the nodes shown, first lines of errors.
    for n in {n.id: n for n in [*f.ranked[:TOP], *f.path]}.values():
        out.extend(m.value for m in extract_numbers(n.plan))
    for reason, _ in f.failure_reasons:
        out.extend(m.value for m in extract_numbers(reason))
    exec_times = [n.exec_seconds for n in f.nodes if n.exec_seconds is not None]
    if exec_times:
        out += [sum(exec_times), statistics.fmean(exec_times), max(exec_times)]
    out += [float(len(f.nodes)), float(f.buggy_total), float(f.buggy_fixed), float(len(f.flagged)),
            float(len(f.path)), float(len(f.ranked))]
    out.extend(v for v in f.llm_usage.values())
    for i, seconds, value in f.best_curve:
        out += [float(i), seconds, seconds / 60, value]
    return [v for v in out if math.isfinite(v)]


def _record(f: Facts) -> Record:
    """The run's numbers by what they measure, so that "12 seeds" is checked against numbers of seeds."""
    run, cfg = f.run, f.run.config
    nodes: dict[int, NodeNumbers] = {}
    params: dict[str, list[float]] = defaultdict(list)
    for n in f.nodes:
        numbers = NodeNumbers(depth=n.depth, parent=n.parent_id,
                              seconds=[n.exec_seconds] if n.exec_seconds is not None else [])
        values = numbers.values
        numbers.has_metric = n.metric is not None  # first in values
        for v in (n.metric, n.value, n.exit_code, n.attempts, n.debug_depth):
            if _num(v):
                values.append(float(v))
        _flatten(n.metrics, values)
        for k, v in n.params.items():
            if _num(v):
                numbers.params[k] = float(v)
                params[k].append(float(v))
                values.append(float(v))
        rep = f.repeats.get(n.id)
        if rep is not None:
            values += [*rep.values, rep.mean, rep.std, min(rep.values), max(rep.values)]
        if n.id in f.holdout:
            values.append(f.holdout[n.id])
            if n.metric is not None:
                values.append(f.holdout[n.id] - n.metric)
        nodes[n.id] = numbers
    if f.best is not None and f.best.id in nodes:
        gap = train_gap(f)
        if gap is not None:
            nodes[f.best.id].values.append(gap[1])
    for name, spec in run.idea.search_space.items():
        choices = spec if isinstance(spec, list) else [spec.low, spec.high]
        params[name] += [float(v) for v in choices if _num(v)]
    derived: list[float] = []
    if f.gain is not None:
        derived.append(f.gain)
        if f.first_draft is not None and f.first_draft.metric:
            derived.append(100 * f.gain / abs(f.first_draft.metric))
    for label, value in f.headline:
        if (label.startswith(("margin of", "relative change")) or "mean" in label or "std" in label) and _num(value):
            derived.append(float(value))
    for s in [*f.operators.values(), *f.depths.values()]:
        if s.metrics:
            derived.append(statistics.fmean(s.metrics))
    derived += [float(v) for k, v in cfg.model_dump().items()
                if _num(v) and k in ("c_puct", "debug_prob", "gpus_per_node", "seed")]
    if _num(run.idea.gpus_per_node):
        derived.append(float(run.idea.gpus_per_node))
    path_steps = max(0, len(f.path) - 1)
    timed_out = sum(1 for n in f.nodes if n.timed_out)
    unfinished = sum(f.counts.get(s, 0) for s in ("buggy", "failed", "cancelled"))
    counts: dict[str, list[float]] = {
        "nodes": [0, len(f.nodes), cfg.budget, cfg.num_drafts, cfg.final_top_k, len(f.ranked), min(TOP, len(f.ranked)),
                  len(f.path), f.buggy_total, f.buggy_fixed, len(f.flagged), timed_out, unfinished, len(f.repeats),
                  len(f.holdout), sum(1 for n in f.nodes if n.pruned), *f.counts.values(),
                  *(c for _, c in f.failure_reasons),
                  *(v for s in [*f.operators.values(), *f.depths.values()] for v in (s.count, s.good))],
        "seeds": [1, cfg.final_seeds, cfg.final_seeds + 1, *(r.n for r in f.repeats.values())],
        "steps": [path_steps, len(f.path), cfg.max_debug_depth, max(f.depths, default=0),
                  *{n.debug_depth for n in f.nodes}],
        "workers": [cfg.workers],
        "calls": [f.llm_usage.get("calls", 0)],
        "tokens": [f.llm_usage.get(k, 0) for k in ("tokens_in", "tokens_out")]
                  + [f.llm_usage.get("tokens_in", 0) + f.llm_usage.get("tokens_out", 0)],
    }
    if f.best_found is not None:
        counts["nodes"].append(f.best_found[0])
    exec_times = [n.exec_seconds for n in f.nodes if n.exec_seconds is not None]
    durations = [run.elapsed, run.idea.time_limit, *(v for v in (cfg.time_limit,) if v)]
    if exec_times:
        durations += [sum(exec_times), statistics.fmean(exec_times), max(exec_times), min(exec_times)]
    if f.best_found is not None:
        durations.append(f.best_found[1])
    durations += [p[1] for p in f.best_curve]
    costs = [run.cost, f.search_cost, f.llm_usage.get("cost", 0.0), *(v for v in (cfg.max_cost,) if v is not None)]
    idea = run.idea
    texts = [idea.title, idea.hypothesis, idea.experiments, idea.body, *(n.plan[:2000] for n in f.nodes),
             *(p.title for p in f.papers), *(p.abstract or "" for p in f.papers),
             *(r for r, _ in f.failure_reasons), *((n.error or "")[:500] for n in f.nodes if n.error)]
    other: list[float] = [float(v) for _, v in f.headline if _num(v)] + [float(p.year) for p in f.papers if p.year]
    for text in (idea.title, idea.hypothesis, idea.experiments, idea.body,
                 *(n.plan for n in {n.id: n for n in [*f.ranked[:TOP], *f.path]}.values()),
                 *(r for r, _ in f.failure_reasons)):
        other.extend(m.value for m in extract_numbers(text or ""))
    return Record(nodes, derived=derived, counts=counts, durations=durations, costs=costs, params=params,
                  other=other, texts=texts)


def _flatten(value: Any, out: list[float], budget: int = _CURVE_CAP) -> int:
    if _num(value):
        out.append(float(value))
        return budget - 1
    if isinstance(value, dict):
        for v in value.values():
            budget = _flatten(v, out, budget)
            if budget <= 0:
                break
    elif isinstance(value, list):
        for v in value[:budget]:
            budget = _flatten(v, out, budget)
            if budget <= 0:
                break
    return budget


def _num(v: Any) -> bool:
    return isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(float(v))


def _train_gap(metric: str, metrics: dict[str, Any]) -> tuple[str, float] | None:
    """(train metric name, train minus the metric) when the experiment reported a training twin."""
    for prefix in ("val_", "valid_", "validation_", "test_", "eval_"):
        if metric.startswith(prefix):
            twin = "train_" + metric[len(prefix):]
            if _num(metrics.get(twin)) and _num(metrics.get(metric)):
                return twin, float(metrics[twin]) - float(metrics[metric])
    return None


def train_gap(f: Facts) -> tuple[str, float] | None:
    """The best node's training-minus-validation gap, when it reported both."""
    return _train_gap(f.metric_name, f.best.metrics) if f.best is not None else None


def fmt(value: float | str | None, digits: int = 4) -> str:
    """A number as the write-up prints it (the grounding check accepts this rounding)."""
    if value is None:
        return "-"
    if isinstance(value, str):
        return value
    if isinstance(value, bool):
        return str(value)
    if isinstance(value, int):
        return str(value)
    if value == int(value) and abs(value) < 1e15:
        return str(int(value))
    return f"{value:.{digits}g}"


def seconds_text(seconds: float) -> str:
    """Seconds as the write-up prints durations: one decimal, as "Time searching" shows them."""
    return f"{seconds:.1f}" if seconds >= 1 else fmt(seconds, 2)


def digest(f: Facts, *, limit_nodes: int = 8) -> str:
    """The run as the model reads it before writing: facts, top nodes, failures. Numbers only from the store."""
    idea = f.run.idea
    lines = [f"Title: {idea.title}"]
    if idea.hypothesis:
        lines.append(f"Hypothesis: {idea.hypothesis.strip()}")
    if idea.experiments:
        lines.append(f"Planned experiments: {idea.experiments.strip()}")
    lines.append("")
    lines.append("Recorded facts:")
    lines += [f"- {label}: {fmt(value, 6) if not isinstance(value, str) else value}" for label, value in f.headline]
    if f.ranked:
        lines += ["", f"Top nodes (best first; {f.metric_name}):"]
        for n in f.ranked[:limit_nodes]:
            params = f" params {json.dumps(n.params)}" if n.params else ""
            lines.append(f"- node {n.id} ({n.operator}, depth {n.depth}, parent {n.parent_id or '-'}): "
                         f"{fmt(n.metric, 6)}{params}; plan: {' '.join(n.plan.split())[:240]}")
    if f.path:
        lines += ["", "Path from the first draft to the best node:"]
        lines += [f"- node {n.id} ({n.operator}): {fmt(n.metric, 6) if n.metric is not None else n.status.value}"
                  for n in f.path]
    if f.failure_reasons:
        lines += ["", "Most common failures (count x first line of the error):"]
        lines += [f"- {count} x {reason}" for reason, count in f.failure_reasons]
    if f.papers:
        lines += ["", "Papers found for this idea by the literature search (the only papers you may cite, as [@key]):"]
        for p in f.papers:
            who = ", ".join(p.authors[:3]) + (" et al." if len(p.authors) > 3 else "")
            note = f" Novelty check: {f.paper_notes[p.id]}" if p.id in f.paper_notes else ""
            lines.append(f"- [@{f.cite_keys[p.id]}] {who} ({p.year or 'n.d.'}). {p.title}. "
                         f"{' '.join((p.abstract or '(no abstract stored)').split())[:700]}{note}")
    return "\n".join(lines)
