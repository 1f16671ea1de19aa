"""Pydantic models of a run: the idea, its config, nodes, events and commands.

These are the boundary types every other package speaks. They import nothing of ours.
"""

from __future__ import annotations

import hashlib
import math
from collections.abc import Iterable
from enum import Enum
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

Direction = Literal["maximize", "minimize"]
Operator = Literal["draft", "improve", "debug", "tune", "ablate", "crossover"]


class NodeStatus(str, Enum):
    """Where a node is in its life. Only ``good`` nodes may become the best node."""

    pending = "pending"  # selected, not yet expanded
    running = "running"  # code written, executing
    good = "good"  # ran and produced a valid metric
    buggy = "buggy"  # crashed, timed out, or gave no valid metric
    flagged = "flagged"  # ran, but a reviewer judged the result invalid
    failed = "failed"  # the agent could not produce code: nothing ran
    cancelled = "cancelled"  # killed because the run stopped

    @property
    def finished(self) -> bool:
        return self not in (NodeStatus.pending, NodeStatus.running)


class MetricSpec(BaseModel):
    """The number the search optimises and which way is better."""

    model_config = ConfigDict(extra="forbid")

    name: str = Field(min_length=1)
    direction: Direction = "maximize"

    def better(self, a: float, b: float) -> bool:
        """True when metric value ``a`` is strictly better than ``b``."""
        return a > b if self.direction == "maximize" else a < b

    def rank(self, nodes: Iterable[Node]) -> list[Node]:
        """The valid nodes (good, with a metric, not pruned), best first; among equal metrics the
        older node (the lower id) first, as the search picks its best."""
        sign = -1.0 if self.direction == "maximize" else 1.0
        good = [n for n in nodes if n.status == NodeStatus.good and n.metric is not None and not n.pruned]
        return sorted(good, key=lambda n: (sign * n.metric, n.id))  # type: ignore[operator]


class RangeSpec(BaseModel):
    """A numeric range a parameter may take; ``log`` steps multiplicatively."""

    model_config = ConfigDict(extra="forbid")

    low: float
    high: float
    log: bool = False
    integer: bool = False

    @model_validator(mode="after")
    def _ordered(self) -> RangeSpec:
        if not self.low < self.high:
            raise ValueError("low must be below high")
        if self.log and self.low <= 0:
            raise ValueError("a log range needs low > 0")
        return self


ParamValue = bool | int | float | str
ParamSpec = list[ParamValue] | RangeSpec

_RANGE_HINT = "a list of choices such as [0.01, 0.1], or a range such as {low: 0.001, high: 1, log: true}"


def _param_spec(name: str, spec: Any) -> Any:
    """``spec`` as a choice list or a RangeSpec, or ValueError saying what is wrong with it."""
    if isinstance(spec, RangeSpec):
        return spec
    if isinstance(spec, (list, tuple)):
        if not spec:
            raise ValueError(f"{name}: a choice list needs at least one value")
        for i, choice in enumerate(spec):
            if not isinstance(choice, (bool, int, float, str)):
                raise ValueError(  # noqa: TRY004 - pydantic reports a ValueError, not a TypeError
                    f"{name}: choice {i + 1} ({choice!r}) is not a number, string or true/false")
        return list(spec)
    if not isinstance(spec, dict):
        raise ValueError(f"{name}: {spec!r} is not a search range; write {_RANGE_HINT}")  # noqa: TRY004
    keys = set(map(str, spec))
    unknown = sorted(keys - set(RangeSpec.model_fields))
    if unknown:
        hint = " (a range is written with low and high, not min and max)" if keys & {"min", "max"} else ""
        raise ValueError(f"{name}: unknown range key {unknown[0]!r}{hint}; a range has low, high, log, integer")
    missing = [k for k in ("low", "high") if k not in keys]
    if missing:
        raise ValueError(f"{name}: the range has no {' and no '.join(missing)}; write it as "
                         f"{{low: ..., high: ...}}")
    values = {}
    for key in ("low", "high"):
        value = spec[key]
        try:
            values[key] = float(value)
        except (TypeError, ValueError):
            values[key] = math.nan
        if isinstance(value, bool) or not math.isfinite(values[key]):
            raise ValueError(f"{name}: the range's {key} {value!r} is not a finite number")
    low, high = values["low"], values["high"]
    if not low < high:
        raise ValueError(f"{name}: the range's low {low:g} must be below its high {high:g}")
    if spec.get("log") and low <= 0:
        raise ValueError(f"{name}: a log range needs low above 0 (it is {low:g}); use a plain range, "
                         f"or a positive low")
    try:
        return RangeSpec.model_validate(spec)
    except ValueError as exc:  # log or integer not true/false
        errors = getattr(exc, "errors", None)
        if errors:
            err = errors()[0]
            raise ValueError(f"{name}: the range's {'.'.join(map(str, err['loc'])) or 'value'}: "
                             f"{err['msg']}") from None
        raise ValueError(f"{name}: {exc}") from None


class TaskSpec(BaseModel):
    """A dataset task (an AIDE data folder or an MLE-bench competition folder) behind an idea.

    Nodes never see these paths: they get the files the framework serves (``Idea.data``),
    write ``submission.csv``, and the framework scores it on a validation split it holds back.
    """

    model_config = ConfigDict(extra="forbid")

    layout: Literal["aide", "mlebench"]
    root: str  # the task folder
    train: str  # labelled training CSV
    test: str  # test CSV, without labels
    sample_submission: str
    extra_public: list[str] = Field(default_factory=list)  # other public files, served as they are
    id_column: str
    targets: list[str] = Field(min_length=1)  # the columns a submission predicts
    metric: str  # a standard metric (discovery.tasks.metrics) or "grade.py"
    grader: str | None = None  # private/grade.py: grade(submission_csv, answers_csv) -> float
    answers: str | None = None  # the private test answers; None (AIDE): no test score
    leaderboard: str | None = None
    validation_fraction: float = Field(default=0.2, gt=0, lt=1)
    score_limit: float | None = None  # the best score the task allows; better ones are flagged
    split_seed: int | None = None  # fixed when the run first starts, so the split never changes
    split_hash: str | None = None  # fingerprint of the hidden split, checked on every resume
    isolation: str | None = None  # how nodes were kept from the answers in the last session


class Idea(BaseModel):
    """A research idea: the prose the agents read plus the fields the framework needs."""

    model_config = ConfigDict(extra="forbid")

    title: str = Field(min_length=1)
    hypothesis: str = ""
    experiments: str = ""
    body: str = ""  # the full prose of the idea, as written
    metric: MetricSpec
    baseline: str | None = None  # experiment code, already read from its file
    baseline_path: str | None = None
    search_space: dict[str, ParamSpec] = Field(default_factory=dict)
    data: list[str] = Field(default_factory=list)
    time_limit: float = Field(default=600.0, gt=0)  # seconds per node
    gpus_per_node: float | None = Field(default=None, ge=0)  # None: a share of the GPUs per worker
    network: bool = False
    image: str | None = None
    # Held-out evaluation code, in memory only: it is never written to the run store, which node
    # code could open. The store keeps where it came from and its hash; final selection reads
    # the file again and runs it only when the hash matches.
    holdout: str | None = Field(default=None, exclude=True)
    holdout_path: str | None = None
    holdout_sha256: str | None = None
    # Limits of each node ('10g', '512m'); None: sized from the machine (workspace/limits.py).
    node_disk: str | int | None = None  # the node folder's disk quota, every workspace
    node_memory: str | int | None = None  # Docker: memory without swap
    node_shm: str | int | None = None  # Docker: /dev/shm
    papers: list[str] = Field(default_factory=list)  # ids of stored papers it was checked against (discover ideate)
    source: str = ""  # the file it came from
    task: TaskSpec | None = None  # a dataset task: nodes write submission.csv, the framework scores it

    @field_validator("search_space", mode="before")
    @classmethod
    def _param_specs(cls, v: Any) -> Any:
        # Checked one parameter at a time, so that a wrong range is named with what is wrong
        # instead of pydantic's account of why it is not a list either.
        if not isinstance(v, dict):
            return v
        return {name: _param_spec(str(name), spec) for name, spec in v.items()}

    @model_validator(mode="after")
    def _hash_holdout(self) -> Idea:
        if self.holdout is not None and self.holdout_sha256 is None:
            self.holdout_sha256 = holdout_hash(self.holdout)
        return self

    @property
    def has_holdout(self) -> bool:
        """Whether the idea declares a held-out script (its code may live only in its file)."""
        return self.holdout is not None or self.holdout_sha256 is not None


def holdout_hash(code: str) -> str:
    """sha256 of a held-out script's text, as kept in the run store."""
    return hashlib.sha256(code.encode("utf-8")).hexdigest()


class RunConfig(BaseModel):
    """How one run searches: budgets, policy, workers, where things live."""

    model_config = ConfigDict(extra="forbid")

    budget: int = Field(default=20, ge=1)  # nodes
    time_limit: float | None = Field(default=None, gt=0)  # seconds for the whole run
    max_cost: float | None = Field(default=None, ge=0)  # USD
    workers: int = Field(default=2, ge=1, le=256)
    policy: str = "adaptive"
    c_puct: float | None = Field(default=None, gt=0)  # mcts exploration below the root; None: the policy's default
    seed: int = 0
    # The model settings, agents.llm.LLMConfig as a dict (runs/ imports nothing of agents/); None:
    # the offline agent. agents.llm.run_llm turns it into the client's config.
    llm: dict[str, Any] | None = None
    # auto | local | docker | ray, checked by workspace/factory.py (which also reads DISCOVER_WORKSPACE).
    workspace: str = "auto"
    image: str | None = None  # Docker image (overrides the idea's)
    gpus: str = "all"  # all | none | 0,1
    ray_address: str | None = None  # --workspace ray: HOST:PORT, ray://HOST:PORT or local; None: RAY_ADDRESS
    gpus_per_node: float | None = Field(default=None, ge=0)  # overrides the idea's
    node_disk: str | int | None = None  # override the idea's node limits (see Idea)
    node_memory: str | int | None = None
    node_shm: str | int | None = None
    output_cap: int = Field(default=1_000_000, ge=1024)  # bytes kept per stream
    final_seeds: int = Field(default=0, ge=0)  # re-run the top nodes with this many seeds at the end
    final_top_k: int = Field(default=3, ge=1)
    num_drafts: int = Field(default=5, ge=1)  # search.base.DEFAULT_DRAFTS (runs imports no other package)
    # With a model: ask the value agent for each node's promise before it runs and after (stored,
    # and mcts uses it as a prior). Off by default: on the benchmark it did not improve the search.
    value_agent: bool = False
    debug_prob: float = Field(default=0.5, ge=0, le=1)
    max_debug_depth: int = Field(default=3, ge=0)
    write_report: bool = True  # False (discover bench): no report at the end; `discover report` writes it later

    @model_validator(mode="before")
    @classmethod
    def _legacy_model(cls, data: Any) -> Any:
        # Stores written before ``llm`` was the only copy also kept ``model`` and ``api_base``.
        if not isinstance(data, dict) or not ({"model", "api_base"} & data.keys()):
            return data
        data = dict(data)
        model, api_base = data.pop("model", None), data.pop("api_base", None)
        if model and not data.get("llm"):
            data["llm"] = {"model": model, **({"api_base": api_base} if api_base else {})}
        return data


class Node(BaseModel):
    """One experiment in the tree: what was tried, what ran, what it scored."""

    run_id: str
    id: int
    parent_id: int | None = None
    partner_id: int | None = None  # a crossover's second parent (the first is parent_id)
    depth: int = 0
    operator: Operator = "draft"
    status: NodeStatus = NodeStatus.pending
    plan: str = ""
    code: str | None = None
    params: dict[str, ParamValue] = Field(default_factory=dict)
    metric: float | None = None
    metrics: dict[str, Any] = Field(default_factory=dict)
    metric_source: Literal["file", "llm"] | None = None  # llm: read from the output by a model
    error: str | None = None
    exit_code: int | None = None
    timed_out: bool = False
    exec_seconds: float | None = None
    stdout_tail: str = ""
    stderr_tail: str = ""
    created_at: float = 0.0
    started_at: float | None = None
    finished_at: float | None = None
    debug_depth: int = 0  # consecutive debug steps ending at this node
    value: float | None = None  # the value agent's estimate, 0..1
    pruned: bool = False  # taken out of the search by a policy or the user; keeps its status
    attempts: int = 0  # executions started for this node (a resumed node runs again)
    code_key: str | None = None  # hash of the normalised code: the same experiment is not run twice

    @field_validator("metric")
    @classmethod
    def _finite(cls, v: float | None) -> float | None:
        if v is not None and not math.isfinite(v):
            raise ValueError("metric must be finite")
        return v


class Evaluation(BaseModel):
    """An extra execution of a finished node: a re-run with another seed, or the held-out script;
    or (kind ``test``) the chosen node's submission graded on a task's private answers."""

    run_id: str
    node_id: int
    kind: Literal["seed", "holdout", "test"]
    seed: int = 0
    status: NodeStatus
    metric: float | None = None
    metrics: dict[str, Any] = Field(default_factory=dict)
    error: str | None = None
    exec_seconds: float | None = None
    created_at: float = 0.0


RunStatus = Literal["running", "finished", "stopped", "crashed"]


class Run(BaseModel):
    """A search over one idea. Its nodes live in the same store."""

    id: str
    idea: Idea
    config: RunConfig
    status: RunStatus = "running"
    created_at: float
    finished_at: float | None = None
    best_node_id: int | None = None
    parent_run_id: str | None = None
    parent_node_id: int | None = None
    agent: str = "offline"
    workspace: str = "local"  # the backend the run's nodes ran in (config says auto until one is picked)
    isolation: str | None = None  # one line: what that workspace kept a node from (its limits included)
    pid: int | None = None
    heartbeat: float | None = None
    elapsed: float = 0.0  # seconds spent searching, over all sessions of the run
    cost: float = 0.0
    # What the run's machines offer now (GPUs and CPUs, free and total; nodes for a Ray cluster),
    # refreshed by the orchestrator so the TUI can show it without joining anything itself.
    resources: dict[str, Any] | None = None
    # Where the search continues from (a fork's node): it is expanded first, and with
    # ``focus_within`` the search stays in its subtree while that has anything to expand.
    focus_node_id: int | None = None
    focus_within: bool = False


class Attempt(BaseModel):
    """An earlier execution of a node that did not complete (a crash, an interrupt)."""

    run_id: str
    node_id: int
    attempt: int
    status: str
    error: str | None = None
    stdout_tail: str | None = None
    stderr_tail: str | None = None
    exec_seconds: float | None = None
    started_at: float | None = None
    finished_at: float | None = None


class LLMCallRecord(BaseModel):
    """One stored model call (agents.llm.LLMCall as the store keeps it)."""

    id: int
    run_id: str
    node_id: int | None = None
    role: str | None = None
    model: str | None = None
    attempt: int | None = None
    tokens_in: int | None = None
    tokens_out: int | None = None
    cost: float | None = None
    latency: float | None = None
    error: str | None = None
    request_id: str | None = None
    prompt_hash: str | None = None
    started_at: float | None = None


class LLMUsage(BaseModel):
    """What a set of stored model calls added up to."""

    calls: int = 0
    tokens_in: int = 0
    tokens_out: int = 0
    cost: float = 0.0


class ReviewRecord(BaseModel):
    """A stored node review (reviewers.models.Review, with where and when)."""

    id: int
    run_id: str
    node_id: int | None = None
    reviewer: str | None = None
    model: str | None = None
    score: float | None = None
    verdict: str | None = None
    issues: list[dict[str, Any]] = Field(default_factory=list)
    summary: str | None = None
    plots: list[str] = Field(default_factory=list)
    created_at: float | None = None


class ValueRecord(BaseModel):
    """A stored estimate of the value agent, before or after the node ran."""

    id: int
    run_id: str
    node_id: int
    stage: str
    value: float
    explanation: str | None = None
    model: str | None = None
    created_at: float | None = None


class WriteupReviewRecord(BaseModel):
    """A stored review of a run's write-up (payload: discovery.writeup.review.WriteupReview JSON)."""

    id: int
    run_id: str
    kind: str
    created_at: float
    payload: str


class NodeLine(BaseModel):
    """The part of a node the TUI's tree line and header need (no code, plan or output)."""

    id: int
    parent_id: int | None = None
    operator: str = "draft"
    status: str = "pending"
    metric: float | None = None
    pruned: bool = False
    value: float | None = None
    visits: int | None = None  # the search's finished nodes in its subtree
    q: float | None = None  # the best metric in its subtree
    created_at: float | None = None
    started_at: float | None = None
    finished_at: float | None = None
    updated_at: float | None = None  # when the row last changed (stores from before it: None)


class Checkpoint(BaseModel):
    """One LangGraph checkpoint of a node's pipeline, as the store keeps it (serialised by LangGraph)."""

    thread_id: str
    checkpoint_ns: str = ""
    checkpoint_id: str
    parent_id: str | None = None
    type: str  # the serialiser's name for how ``checkpoint`` is encoded
    checkpoint: bytes
    metadata: bytes  # JSON


class CheckpointWrite(BaseModel):
    """What one task of a pipeline step wrote, kept until the step's checkpoint is made."""

    thread_id: str
    checkpoint_ns: str = ""
    checkpoint_id: str
    task_id: str
    idx: int
    channel: str
    type: str
    value: bytes
    task_path: str = ""


class Event(BaseModel):
    """Something worth a line in the log: node started, finished, run stopped..."""

    run_id: str
    ts: float
    kind: str
    node_id: int | None = None
    message: str = ""


CommandKind = Literal["pause", "resume", "stop", "prune", "expand"]


class Command(BaseModel):
    """A request from the TUI or another terminal, polled by the orchestrator."""

    id: int | None = None
    run_id: str
    kind: CommandKind
    node_id: int | None = None
    created_at: float
    done_at: float | None = None


class Paper(BaseModel):
    """A paper's metadata as a literature search found it (agents.literature), kept in the run store.

    ``id`` is the same for a paper whichever backend found it when it has an arXiv id
    (``arxiv:1706.03762``) or a DOI (``doi:10.1/x``); otherwise it names the backend (``openalex:W123``).
    """

    id: str = Field(min_length=3)
    source: str  # the backend that found it: openalex, semantic_scholar, arxiv, crossref
    source_id: str = ""  # its id in that backend
    title: str = Field(min_length=1)
    authors: list[str] = Field(default_factory=list)
    year: int | None = None
    venue: str | None = None
    abstract: str | None = None
    doi: str | None = None
    arxiv_id: str | None = None
    url: str | None = None
    citations: int | None = None  # times cited, as the backend counts them
    fetched_at: float = 0.0

    @property
    def surnames(self) -> list[str]:
        """The authors' family names (from ``Given Family`` or ``Family, Given``)."""
        names = [a.split(",")[0].strip() if "," in a else (a.split() or [""])[-1] for a in self.authors]
        return [n for n in names if n]

    @property
    def reference(self) -> str:
        """The paper as a reference list shows it: ``Foret, Kleiner et al. (2020). Title. Venue. arXiv:...``."""
        names = self.surnames
        who = (", ".join(names[:2]) + (" et al." if len(names) > 2 else "")) if names else "Anonymous"
        parts = [f"{who} ({self.year or 'n.d.'}). {self.title.rstrip('.')}."]
        if self.venue:
            parts.append(f"{self.venue.rstrip('.')}.")
        if self.arxiv_id and (not self.doi or self.doi.startswith("10.48550/")):  # arXiv's own DOI: say arXiv
            parts.append(f"arXiv:{self.arxiv_id}")
        elif self.doi:
            parts.append(f"doi:{self.doi}")
        return " ".join(parts)


class RunPaper(BaseModel):
    """A stored paper a run used: found for its idea, or cited by its report."""

    run_id: str
    paper: Paper
    purpose: str = "related"  # idea: the idea was checked against it; related: found for the write-up; cited
    note: str = ""  # why it is there (the query, or what the novelty check said about it)
    created_at: float = 0.0
