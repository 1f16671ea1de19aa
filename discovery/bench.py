"""``discover bench``: run tasks x policies x models x seeds and compare their test scores.

Each combination is an ordinary run in the run store (so any of them can be shown, resumed
or forked). The results land in one folder:

- ``bench.csv``: one row per run (task, policy, model, seed, validation and test score, rank...);
- ``bench.md``: per task and setup, the mean and standard error over seeds of the validation
  and test scores, and the medals;
- ``bench.png``: the test score (validation where a task has no answers) per setup, one panel
  per task, with standard-error bars.
"""

from __future__ import annotations

import asyncio
import csv
import math
import statistics
import time
from dataclasses import asdict, dataclass, fields
from pathlib import Path
from typing import Any

from discovery.config import ConfigError

OFFLINE = "offline"


@dataclass
class BenchRow:
    task: str
    policy: str
    model: str
    seed: int
    run_id: str
    status: str
    nodes: int
    valid_nodes: int
    best_node: int | None
    validation: float | None
    test: float | None
    rank: int | None
    of: int | None
    medal: str
    seconds: float
    cost: float


@dataclass(frozen=True)
class Summary:
    task: str
    policy: str
    model: str
    runs: int
    validation: tuple[float, float] | None  # mean, standard error
    test: tuple[float, float] | None
    medals: dict[str, int]
    direction: str


def mean_se(values: list[float]) -> tuple[float, float] | None:
    """Mean and standard error of the mean (0 with one value); None with none."""
    if not values:
        return None
    se = statistics.stdev(values) / math.sqrt(len(values)) if len(values) > 1 else 0.0
    return statistics.fmean(values), se


def parse_list(text: str, flag: str) -> list[str]:
    items = [t.strip() for t in text.split(",") if t.strip()]
    if not items:
        raise ConfigError(f"{flag}: give at least one value")
    return items


def parse_seeds(text: str) -> list[int]:
    """``3`` means seeds 0, 1, 2; ``0,5,7`` lists them."""
    try:
        if "," not in text:
            count = int(text)
            if count < 1:
                raise ValueError
            return list(range(count))
        return [int(s) for s in parse_list(text, "--seeds")]
    except ValueError:
        raise ConfigError(f"--seeds: {text!r} is not a count or a list of integers") from None


def run_bench(runs_dir: Path, tasks: list[str], policies: list[str], models: list[str], seeds: list[int], *,
              out: Path, budget: int, workers: int, time_limit: float | None = None, workspace: str | None = None,
              api_base: str | None = None, reports: bool = False, echo: Any = print) -> list[BenchRow]:
    """Run every combination, writing bench.csv as it goes and the table and plot at the end."""
    from agents.llm import with_llm
    from discovery.api import create_run, preflight, run_async
    from discovery.idea import load_idea
    from discovery.progress import SilentProgress
    from runs.models import RunConfig
    from runs.store import RunStore
    from search.policy import POLICIES

    for p in policies:
        if p not in POLICIES:
            raise ConfigError(f"--policies: unknown policy {p!r} (choose from {', '.join(POLICIES)})")
    ideas = {}
    for path in tasks:
        idea = load_idea(path)
        ideas[_task_name(path, idea.title, ideas)] = idea
    llms = {m: _llm(m, api_base) for m in models}
    out.mkdir(parents=True, exist_ok=True)
    rows: list[BenchRow] = []
    store = RunStore(runs_dir)
    csv_path = out / "bench.csv"
    try:
        with open(csv_path, "w", newline="") as f:
            writer = csv.DictWriter(f, fieldnames=[x.name for x in fields(BenchRow)])
            writer.writeheader()
            for name, idea in ideas.items():
                for model in models:
                    for policy in policies:
                        for seed in seeds:
                            extra = {"workspace": workspace} if workspace else {}
                            config = with_llm(RunConfig(budget=budget, workers=workers, policy=policy, seed=seed,
                                                          time_limit=time_limit, write_report=reports, **extra),
                                                llms[model])
                            preflight(config, idea)
                            run = create_run(store, idea, config)
                            t0 = time.monotonic()
                            result = asyncio.run(run_async(store, run, SilentProgress(), handle_signals=True))
                            row = _row(store, name, policy, model, seed, run.id, time.monotonic() - t0)
                            rows.append(row)
                            writer.writerow(asdict(row))
                            f.flush()
                            echo(_line(row, idea.metric.name))
                            if result.stop_reason == "interrupt":
                                echo("bench: interrupted; the table covers the runs that finished")
                                raise KeyboardInterrupt
    except KeyboardInterrupt:
        pass
    finally:
        store.close()
    directions = {name: idea.metric.direction for name, idea in ideas.items()}
    metrics = {name: idea.metric.name for name, idea in ideas.items()}
    summaries = summarise(rows, directions)
    (out / "bench.md").write_text(markdown(summaries, metrics, seeds, budget))
    if summaries:
        plot(summaries, metrics, out / "bench.png")
    return rows


def summarise(rows: list[BenchRow], directions: dict[str, str]) -> list[Summary]:
    """Mean and standard error per (task, policy, model), in the order the runs came."""
    groups: dict[tuple[str, str, str], list[BenchRow]] = {}
    for r in rows:
        groups.setdefault((r.task, r.policy, r.model), []).append(r)
    out = []
    for (task, policy, model), group in groups.items():
        medals = {m: sum(r.medal == m for r in group) for m in ("gold", "silver", "bronze")}
        out.append(Summary(task, policy, model, len(group),
                           mean_se([r.validation for r in group if r.validation is not None]),
                           mean_se([r.test for r in group if r.test is not None]), medals, directions[task]))
    return out


def markdown(summaries: list[Summary], metrics: dict[str, str], seeds: list[int], budget: int) -> str:
    """The comparison table: mean +- standard error over seeds."""
    lines = [f"# discover bench: {budget} nodes per run, seeds {', '.join(map(str, seeds))}", "",
             "Mean ± standard error over seeds. Validation: the chosen node's score on the framework's hidden "
             "split; test: its grade on the private answers.", "",
             "| task | metric | policy | model | runs | validation | test | medals (g/s/b) |",
             "|---|---|---|---|---:|---:|---:|---|"]
    for s in summaries:
        arrow = "↑" if s.direction == "maximize" else "↓"
        medals = "/".join(str(s.medals[m]) for m in ("gold", "silver", "bronze"))
        lines.append(f"| {s.task} | {metrics[s.task]} {arrow} | {s.policy} | {s.model} | {s.runs} | "
                     f"{_pm(s.validation)} | {_pm(s.test)} | {medals} |")
    return "\n".join(lines) + "\n"


def plot(summaries: list[Summary], metrics: dict[str, str], path: Path) -> None:
    """One panel per task: the mean test score (else validation) of each setup, with standard-error bars."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    tasks = list(dict.fromkeys(s.task for s in summaries))
    fig, axes = plt.subplots(1, len(tasks), figsize=(4.2 * len(tasks), 3.6), squeeze=False)
    for ax, task in zip(axes[0], tasks):
        group = [s for s in summaries if s.task == task]
        labels = [s.policy if len({g.model for g in group}) == 1 else f"{s.policy}\n{s.model}" for s in group]
        has_test = any(s.test for s in group)
        values = [(s.test if has_test else s.validation) or (math.nan, 0.0) for s in group]
        ax.errorbar(range(len(group)), [v[0] for v in values], yerr=[v[1] for v in values], fmt="o", capsize=5,
                    color="#4c72b0")
        finite = [v[0] for v in values if math.isfinite(v[0])]
        if finite:
            low, high = min(finite), max(finite)
            pad = max((high - low) * 0.6, abs(high) * 0.01, 1e-6)
            ax.set_ylim(low - pad, high + pad)
        ax.set_xticks(range(len(group)), labels, fontsize=8)
        ax.set_xlim(-0.6, len(group) - 0.4)
        ax.grid(axis="y", alpha=0.3)
        arrow = "higher" if group[0].direction == "maximize" else "lower"
        ax.set_title(f"{task}: {'test' if has_test else 'validation'} {metrics[task]} ({arrow} is better)",
                     fontsize=9)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def _row(store: Any, task: str, policy: str, model: str, seed: int, run_id: str, seconds: float) -> BenchRow:
    from discovery.tasks.results import task_result
    from runs.models import NodeStatus

    run = store.get_run(run_id)
    counts = store.count_nodes(run_id)
    t = task_result(store, run_id)
    best = store.get_node(run_id, run.best_node_id) if run.best_node_id else None
    validation = t.validation if t else (best.metric if best and best.status == NodeStatus.good else None)
    standing = (t.standing if t else None) or {}
    return BenchRow(task=task, policy=policy, model=model, seed=seed, run_id=run_id, status=run.status,
                    nodes=sum(counts.values()), valid_nodes=counts.get("good", 0), best_node=run.best_node_id,
                    validation=validation, test=t.test if t else None, rank=standing.get("rank"),
                    of=standing.get("of"), medal=standing.get("medal", ""), seconds=round(seconds, 2),
                    cost=run.cost)


def _llm(model: str, api_base: str | None) -> Any:
    if model == OFFLINE:
        return None
    from agents.llm import LLMConfig, check_model

    llm = LLMConfig(model=model, api_base=api_base)
    check_model(llm)
    return llm


def _task_name(path: str, title: str, taken: dict[str, Any]) -> str:
    p = Path(path)
    name = p.name if p.is_dir() else (p.parent.name if p.name in ("idea.md", "idea.json") else p.stem)
    name = name or title
    base, n = name, 2
    while name in taken:
        name, n = f"{base}-{n}", n + 1
    return name


def _pm(value: tuple[float, float] | None) -> str:
    return "-" if value is None else f"{value[0]:.4g} ± {value[1]:.2g}"


def _line(row: BenchRow, metric: str) -> str:
    test = f" test {row.test:.6g}" if row.test is not None else ""
    val = f"validation {row.validation:.6g}" if row.validation is not None else "no valid node"
    return (f"bench: {row.task} {row.policy} {row.model} seed {row.seed}: {metric} {val}{test} "
            f"({row.nodes} nodes, {row.seconds:.1f}s, run {row.run_id})")
