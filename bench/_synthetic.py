"""Synthetic landscapes and a scripted agent for comparing search policies without LLMs.

A landscape is a hidden smooth, multimodal objective over a parameter vector in [0, 1]^d
(a sum of random Fourier features). The scripted agent acts on it the way a coding agent
acts on an experiment:

- draft: a fresh random point (a new approach; most are mediocre, a few are good);
- improve: the parent's point plus a small step that leans a little towards the local
  gradient (an informed but noisy edit);
- debug: the buggy node's point plus a smaller step, with the bug chance halved (a fix
  that keeps the idea but changes details).

Any node crashes (buggy) with a probability that grows in bad regions of the landscape,
and the measured metric carries a little evaluation noise. ``simulate`` drives a policy
through ``SearchTree`` with K simulated workers: nodes take a random time to finish, so
several are in flight at once and virtual loss matters.

Scores are normalised per landscape: 0 is the median random draft, 1 the global optimum
(found once per landscape by many local ascents), so numbers average across seeds.
"""

from __future__ import annotations

import heapq
import math
import random
import sys
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from search.base import Policy
from search.tree import SearchTree, TreeNode


@dataclass
class Landscape:
    """A hidden objective plus the agent's step sizes and bug model."""

    seed: int
    dim: int = 6
    features: int = 24
    frequency: float = 1.3  # oscillations per unit: how many local optima
    step: float = 0.05  # improve step (standard deviation per coordinate)
    lean: float = 0.6  # how much an improve step follows the gradient, in step units
    bug_base: float = 0.1  # crash chance in the best regions
    bug_slope: float = 0.45  # extra crash chance in the worst regions
    noise: float = 0.01  # evaluation noise, in normalised score units
    w: np.ndarray = field(init=False, repr=False)
    b: np.ndarray = field(init=False, repr=False)
    a: np.ndarray = field(init=False, repr=False)
    median: float = field(init=False)
    top: float = field(init=False)

    def __post_init__(self) -> None:
        rng = np.random.default_rng(self.seed)
        self.w = rng.normal(0.0, 2 * math.pi * self.frequency, size=(self.features, self.dim))
        self.b = rng.uniform(0, 2 * math.pi, size=self.features)
        self.a = rng.normal(0.0, 1.0, size=self.features) / math.sqrt(self.features)
        sample = rng.uniform(0, 1, size=(20000, self.dim))
        values = self.raw(sample)
        self.median = float(np.median(values))
        self.top = self._global_max(sample, values)

    def raw(self, x: np.ndarray) -> np.ndarray:
        return np.cos(x @ self.w.T + self.b) @ self.a

    def grad(self, x: np.ndarray) -> np.ndarray:
        return -(np.sin(x @ self.w.T + self.b) * self.a) @ self.w

    def _global_max(self, sample: np.ndarray, values: np.ndarray) -> float:
        # Projected gradient ascent from the 200 best random points.
        x = sample[np.argsort(values)[-200:]].copy()
        lr = 0.002
        for _ in range(400):
            g = -(np.sin(x @ self.w.T + self.b) * self.a) @ self.w
            x = np.clip(x + lr * g, 0, 1)
        return float(max(self.raw(x).max(), values.max()))

    def score(self, x: np.ndarray) -> float:
        """Normalised true score: 0 = median random point, 1 = global optimum."""
        return float((self.raw(x[None, :])[0] - self.median) / (self.top - self.median))

    def bug_chance(self, x: np.ndarray) -> float:
        quality = min(1.0, max(0.0, self.score(x)))
        return self.bug_base + self.bug_slope * (1.0 - quality)


@dataclass
class Outcome:
    x: np.ndarray
    true: float  # normalised true score of the point
    buggy: bool
    metric: float | None  # what the experiment reports (None when it crashed)


class ScriptedAgent:
    """Draft / improve / debug on a landscape, with its own random stream."""

    def __init__(self, land: Landscape, seed: int) -> None:
        self.land = land
        self.rng = np.random.default_rng(seed)

    def propose(self, operator: str, parent: Outcome | None) -> Outcome:
        land, rng = self.land, self.rng
        bug_factor = 1.0
        if operator == "draft" or parent is None:
            x = rng.uniform(0, 1, size=land.dim)
        elif operator == "debug":
            x = np.clip(parent.x + rng.normal(0, land.step / 2, size=land.dim), 0, 1)
            bug_factor = 0.5
        else:
            g = land.grad(parent.x)
            lean = land.lean * land.step * g / (np.linalg.norm(g) + 1e-12)
            x = np.clip(parent.x + rng.normal(0, land.step, size=land.dim) + lean, 0, 1)
        true = land.score(x)
        buggy = bool(rng.random() < land.bug_chance(x) * bug_factor)
        metric = None if buggy else true + float(rng.normal(0, land.noise))
        return Outcome(x=x, true=true, buggy=buggy, metric=metric)


@dataclass
class Trace:
    """One simulated run: nodes in creation order with their true score and reported metric."""

    true: list[float] = field(default_factory=list)
    metric: list[float | None] = field(default_factory=list)
    operators: list[str] = field(default_factory=list)
    tree: SearchTree | None = None

    def best_at(self, budget: int) -> float:
        """True score of the node a user would pick (best reported metric) among the first ``budget``."""
        best_i, best_m = None, None
        for i in range(min(budget, len(self.metric))):
            m = self.metric[i]
            if m is not None and (best_m is None or m > best_m):
                best_i, best_m = i, m
        return float("nan") if best_i is None else self.true[best_i]

    def curve(self) -> list[float]:
        """best_at(b) for every b = 1..len, in one pass."""
        out, best_i, best_m = [], None, None
        for i, m in enumerate(self.metric):
            if m is not None and (best_m is None or m > best_m):
                best_i, best_m = i, m
            out.append(float("-inf") if best_i is None else self.true[best_i])
        return out


def simulate(policy: Policy, land: Landscape, *, budget: int, workers: int, seed: int,
             prior_noise: float | None = None, stop_in_flight: bool = False) -> Trace:
    """Run ``policy`` for ``budget`` nodes with ``workers`` nodes in flight at a time.

    A run with a smaller budget would create exactly the first nodes of this one (selection
    never looks at the budget), so one trace answers every budget up to ``budget``.
    With ``prior_noise`` set, each node gets a value-agent prior: its true quality plus noise.
    With ``stop_in_flight`` the last nodes are left running (a snapshot of a live run).
    """
    tree = SearchTree("maximize")
    agent = ScriptedAgent(land, seed=seed * 7919 + 17)
    rng = random.Random(seed)
    duration_rng = random.Random(seed + 1)
    prior_rng = random.Random(seed + 2)
    outcomes: dict[int, Outcome] = {}
    pending: list[tuple[float, int]] = []
    trace = Trace(tree=tree)
    now, next_id, stalled = 0.0, 1, False
    while len(trace.true) < budget or pending:
        while len(pending) < workers and len(trace.true) < budget and not stalled:
            action = policy.select(tree, rng)
            if action is None:
                stalled = True  # nothing to do until something finishes
                break
            parent = tree.nodes[action.parent_id] if action.parent_id is not None else None
            out = agent.propose(action.operator, outcomes.get(action.parent_id) if parent else None)
            node = TreeNode(
                id=next_id, parent_id=action.parent_id, operator=action.operator, status="running",
                depth=0 if parent is None else parent.depth + 1,
                debug_depth=(parent.debug_depth + 1) if (parent and action.operator == "debug") else 0,
            )
            tree.add(node)
            outcomes[next_id] = out
            trace.true.append(out.true)
            trace.metric.append(out.metric)
            trace.operators.append(action.operator)
            heapq.heappush(pending, (now + duration_rng.lognormvariate(0.0, 0.5), next_id))
            next_id += 1
        if not pending or (stop_in_flight and len(trace.true) >= budget):
            break
        now, done = heapq.heappop(pending)
        out = outcomes[done]
        prior = None
        if prior_noise is not None:
            prior = min(1.0, max(0.0, out.true + prior_rng.gauss(0.0, prior_noise)))
        tree.update(done, status="buggy" if out.buggy else "good", metric=out.metric, prior=prior)
        stalled = False
    return trace
