"""Pydantic models of a run: the idea, its config, nodes, events and commands.

These are the boundary types every other package speaks. They import nothing of ours.
"""

from __future__ import annotations

import hashlib
import math
import os
from enum import Enum
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

Direction = Literal["maximize", "minimize"]
Operator = Literal["draft", "improve", "debug", "tune", "ablate"]


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
    source: str = ""  # the file it came from

    @field_validator("search_space")
    @classmethod
    def _non_empty_choices(cls, v: dict[str, ParamSpec]) -> dict[str, ParamSpec]:
        for name, spec in v.items():
            if isinstance(spec, list) and not spec:
                raise ValueError(f"{name}: a choice list needs at least one value")
        return v

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
    policy: str = "mcts"
    c_puct: float | None = Field(default=None, gt=0)  # mcts exploration below the root; None: the policy's default
    seed: int = 0
    model: str | None = None
    api_base: str | None = None
    llm: dict[str, Any] | None = None  # agents.llm.LLMConfig as a dict (runs/ imports nothing of agents/)
    # auto: Docker when an engine and the image answer, else local. DISCOVER_WORKSPACE sets the default.
    workspace: str = Field(default_factory=lambda: os.environ.get("DISCOVER_WORKSPACE", "auto"))
    image: str | None = None  # Docker image (overrides the idea's)
    gpus: str = "all"  # all | none | 0,1
    ray_address: str | None = None  # --workspace ray: HOST:PORT, ray://HOST:PORT or local; None: RAY_ADDRESS
    gpus_per_node: float | None = Field(default=None, ge=0)  # overrides the idea's
    output_cap: int = Field(default=1_000_000, ge=1024)  # bytes kept per stream
    final_seeds: int = Field(default=0, ge=0)  # re-run the top nodes with this many seeds at the end
    final_top_k: int = Field(default=3, ge=1)
    num_drafts: int = Field(default=3, ge=1)
    debug_prob: float = Field(default=0.5, ge=0, le=1)
    max_debug_depth: int = Field(default=3, ge=0)


class Node(BaseModel):
    """One experiment in the tree: what was tried, what ran, what it scored."""

    run_id: str
    id: int
    parent_id: int | None = None
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

    @field_validator("metric")
    @classmethod
    def _finite(cls, v: float | None) -> float | None:
        if v is not None and not math.isfinite(v):
            raise ValueError("metric must be finite")
        return v


class Evaluation(BaseModel):
    """An extra execution of a finished node: a re-run with another seed, or the held-out script."""

    run_id: str
    node_id: int
    kind: Literal["seed", "holdout"]
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
    pid: int | None = None
    heartbeat: float | None = None
    elapsed: float = 0.0  # seconds spent searching, over all sessions of the run
    cost: float = 0.0
    # What the run's machines offer now (GPUs and CPUs, free and total; nodes for a Ray cluster),
    # refreshed by the orchestrator so the TUI can show it without joining anything itself.
    resources: dict[str, Any] | None = None


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
