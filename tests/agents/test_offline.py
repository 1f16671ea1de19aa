"""The offline agent's operators and the constant rewriting they rely on."""

from __future__ import annotations

import pytest

from agents.base import ExpansionContext, ExpansionError, NothingToTry, params_key
from agents.offline import OfflineAgent
from agents.params import ParamError, find_params, set_params
from runs.models import Idea, MetricSpec, Node, NodeStatus, RangeSpec

BASELINE = '"""doc"""\nLR = 0.01  # step\nWIDTH: int = 8\nACT = "tanh"\nprint(LR * WIDTH)\n'


def idea(**space) -> Idea:
    space = space or {"LR": [0.001, 0.01, 0.1, 1.0], "WIDTH": [4, 8, 16]}
    return Idea(title="t", metric=MetricSpec(name="acc"), baseline=BASELINE, search_space=space)


def node(i: int, params: dict, status: NodeStatus = NodeStatus.good, metric: float | None = 0.5,
         parent: int | None = None, error: str | None = None) -> Node:
    return Node(run_id="r", id=i, parent_id=parent, params=params, status=status, metric=metric,
                error=error, operator="draft" if parent is None else "improve")


def ctx(op: str, the_idea: Idea, parent: Node | None = None, ancestors=(), related=(), tried=()) -> ExpansionContext:
    keys = {params_key(p) for p in tried}
    return ExpansionContext(idea=the_idea, operator=op, parent=parent, ancestors=list(ancestors),
                            related=list(related), tried=keys)


def test_params_round_trip() -> None:
    assert find_params(BASELINE) == {"LR": 0.01, "WIDTH": 8, "ACT": "tanh"}
    code = set_params(BASELINE, {"LR": 0.3, "WIDTH": 32, "ACT": "relu"})
    assert "LR = 0.3  # step" in code and "WIDTH: int = 32" in code and "ACT = 'relu'" in code
    assert find_params(code) == {"LR": 0.3, "WIDTH": 32, "ACT": "relu"}
    with pytest.raises(ParamError, match="no top-level assignment to DEPTH"):
        set_params(BASELINE, {"DEPTH": 2})


async def test_first_draft_is_the_baseline_then_distinct_random_points() -> None:
    agent, the_idea = OfflineAgent(), idea()
    first = await agent.propose(ctx("draft", the_idea))
    assert first.params == {"LR": 0.01, "WIDTH": 8} and first.code == set_params(BASELINE, first.params)
    seen = [first.params]
    for _ in range(5):
        p = await agent.propose(ctx("draft", the_idea, tried=seen))
        assert p.params not in seen
        seen.append(p.params)


async def test_improve_changes_one_parameter_and_follows_evidence() -> None:
    the_idea = idea()
    root = node(1, {"LR": 0.01, "WIDTH": 8}, metric=0.5)
    # Raising LR helped from the root; lowering WIDTH hurt.
    up = node(2, {"LR": 0.1, "WIDTH": 8}, metric=0.7, parent=1)
    down = node(3, {"LR": 0.01, "WIDTH": 4}, metric=0.3, parent=1)
    tried = [root.params, up.params, down.params]
    p = await OfflineAgent().propose(ctx("improve", the_idea, parent=up, ancestors=[root], related=[up, down],
                                         tried=tried))
    changed = {k for k in p.params if p.params[k] != up.params[k]}
    assert p.params not in tried
    assert changed == {"LR"} and p.params["LR"] == 1.0
    assert "raising LR helped 1 of 1" in p.plan


async def test_improve_exhausts() -> None:
    the_idea = idea(LR=[0.01, 0.1])
    parent = node(1, {"LR": 0.01})
    with pytest.raises(NothingToTry):
        await OfflineAgent().propose(ctx("improve", the_idea, parent=parent, tried=[{"LR": 0.01}, {"LR": 0.1}]))


async def test_debug_goes_back_halfway() -> None:
    the_idea = idea(LR=RangeSpec(low=0.001, high=10.0, log=True), WIDTH=[4, 8])
    good = node(1, {"LR": 0.01, "WIDTH": 8}, metric=0.6)
    bad = node(2, {"LR": 1.0, "WIDTH": 8}, status=NodeStatus.buggy, metric=None, parent=1,
               error="exit code 1: RuntimeError: diverged")
    p = await OfflineAgent().propose(ctx("debug", the_idea, parent=bad, ancestors=[good], related=[bad],
                                         tried=[good.params, bad.params]))
    assert p.params["WIDTH"] == 8 and 0.01 < p.params["LR"] < 1.0
    assert p.params["LR"] == pytest.approx(0.1)
    assert "Node 2 failed (exit code 1: RuntimeError: diverged)" in p.plan


async def test_range_moves_stay_in_bounds() -> None:
    the_idea = idea(LR=RangeSpec(low=0.001, high=0.01, log=True))
    parent = node(1, {"LR": 0.01})
    p = await OfflineAgent().propose(ctx("improve", the_idea, parent=parent, tried=[{"LR": 0.01}]))
    assert 0.001 <= p.params["LR"] < 0.01


async def test_needs_a_baseline() -> None:
    bare = Idea(title="t", metric=MetricSpec(name="acc"))
    with pytest.raises(ExpansionError, match="needs a baseline"):
        await OfflineAgent().propose(ctx("draft", bare))
