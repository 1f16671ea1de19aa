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

from reviewers.checklist import bugs_fixed
from reviewers.grounding import extract_numbers
from runs.models import Node, NodeStatus, Run
from runs.store import RunStore

TOP = 10  # nodes in the results table
_SEED_TOP = 20  # nodes whose repeats and held-out scores are looked up
_CURVE_CAP = 200  # numbers kept from one list-valued metric (a learning curve)


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
    best_curve: list[tuple[int, float, float]]  # (nodes finished, seconds, best so far)
    run_dir: Path
    node_dir_of: Any  # callable node id -> Path
    headline: list[tuple[str, float | int | str]] = field(default_factory=list)
    numbers: list[float] = field(default_factory=list)
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
        """Strings whose digits are names, not quantities (the run id, the metric's name)."""
        words = [self.run.id, self.metric_name, *self.run.idea.search_space]
        return words + [k for n in self.ranked[:TOP] for k in n.metrics]


def ranked(run: Run, nodes: list[Node]) -> list[Node]:
    """Valid nodes, best first."""
    good = [n for n in nodes if n.status == NodeStatus.good and n.metric is not None and not n.pruned]
    return sorted(good, key=lambda n: (n.metric, -n.id), reverse=run.idea.metric.direction == "maximize")


def best_so_far(run: Run, nodes: list[Node]) -> list[tuple[int, float, float]]:
    """(nodes finished, seconds since start, best metric) after each finished node."""
    better = run.idea.metric.better
    finished = sorted((n for n in nodes if n.finished_at is not None), key=lambda n: n.finished_at or 0)
    points: list[tuple[int, float, float]] = []
    best: float | None = None
    for i, n in enumerate(finished, 1):
        if n.status == NodeStatus.good and n.metric is not None and not n.pruned and (
                best is None or better(n.metric, best)):
            best = n.metric
        if best is not None:
            points.append((i, (n.finished_at or 0) - run.created_at, best))
    return points


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
    facts = Facts(
        run=run, nodes=nodes, by_id=by_id, ranked=order, best=best, first_draft=first, path=path,
        counts=dict(counts), operators=dict(operators), depths=dict(depths), repeats=repeats, holdout=holdout,
        failure_reasons=reasons.most_common(10), buggy_fixed=fixed, buggy_total=total,
        flagged=[n for n in nodes if n.status == NodeStatus.flagged],
        node_reviews=_node_reviews(store, run_id), llm_usage=_llm_usage(store, run_id),
        best_curve=best_so_far(run, nodes), run_dir=store.run_dir(run_id),
        node_dir_of=lambda i, _s=store, _r=run_id: _s.node_dir(_r, i),
    )
    if run.idea.task is not None:
        from discovery.tasks.results import task_result

        facts.task = task_result(store, run_id)
    facts.headline = _headline(facts)
    facts.numbers = _numbers(facts)
    return facts


def _evaluations(store: RunStore, run_id: str, wanted: set[int], by_id: dict[int, Node],
                 ) -> tuple[dict[int, Repeats], dict[int, float]]:
    # The evaluations table (seed re-runs, held-out scores) is newer than some stores: optional.
    if "evaluations" not in store.db.table_names():
        return {}, {}
    seeds: dict[int, list[float]] = defaultdict(list)
    holdout: dict[int, float] = {}
    rows = store.db.execute("select node_id, kind, seed, status, metric from evaluations where run_id = ? "
                            "order by node_id, kind, seed", [run_id])
    for node_id, kind, _seed, status, metric in rows:
        if node_id not in wanted or metric is None or status != NodeStatus.good.value:
            continue
        if kind == "seed":
            seeds[node_id].append(float(metric))
        elif kind == "holdout":
            holdout[node_id] = float(metric)
    repeats = {}
    for node_id, values in seeds.items():
        own = by_id[node_id].metric if node_id in by_id else None
        # The node's own run is a repeat too, unless a re-run used the very same seed and value.
        all_values = ([own] if own is not None and own not in values else []) + values
        repeats[node_id] = Repeats(all_values)
    return repeats, holdout


def _node_reviews(store: RunStore, run_id: str) -> dict[int, list[dict[str, Any]]]:
    # Node reviews live in a table another part adds; read it when it is there.
    if "reviews" not in store.db.table_names():
        return {}
    cols = store.db["reviews"].columns_dict
    if "node_id" not in cols or "run_id" not in cols:
        return {}
    if hasattr(store, "reviews"):
        rows = [r for r in store.reviews(run_id) if r.get("node_id") is not None]  # JSON columns decoded
    else:
        rows = list(store.db["reviews"].rows_where("run_id = ? and node_id is not null", [run_id]))
    out: dict[int, list[dict[str, Any]]] = defaultdict(list)
    for row in rows:
        review = {k: v for k, v in row.items() if k not in ("run_id", "node_id", "id") and v not in (None, [], "")}
        out[int(row["node_id"])].append(review)
    return dict(out)


WRITEUP_ROLES = ("writeup", "writeup_rewrite", "writeup_review", "meta_review")


def _llm_usage(store: RunStore, run_id: str) -> dict[str, float]:
    """Calls, tokens and cost of the search's own model calls (the report's calls left out, so that
    writing the report does not change the facts it is written from)."""
    if "llm_calls" not in store.db.table_names():
        return {}
    cols = store.db["llm_calls"].columns_dict
    if "run_id" not in cols:
        return {}
    wanted = [c for c in ("tokens_in", "tokens_out", "cost") if c in cols]
    sums = ", ".join(["count(*)", *(f"sum({c})" for c in wanted)])
    where, params = "run_id = ?", [run_id]
    if "role" in cols:
        where += f" and coalesce(role, '') not in ({', '.join('?' * len(WRITEUP_ROLES))})"
        params += list(WRITEUP_ROLES)
    row = store.db.execute(f"select {sums} from llm_calls where {where}", params).fetchone()
    if not row[0]:
        return {}
    usage = {"calls": float(row[0] or 0)}
    usage.update({c: float(v or 0) for c, v in zip(wanted, row[1:])})
    return usage


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
        if f.best_curve:
            reached = next((p for p in f.best_curve if p[2] == b.metric), None)
            if reached is not None:
                h += [("nodes finished when the best was found", reached[0]),
                      ("seconds from start when the best was found", reached[1])]
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
    return "\n".join(lines)
