"""The offline checklist: each item on runs built to pass or fail it."""

from __future__ import annotations

from reviewers.checklist import NOTE, bugs_fixed, metric_sources, run_checklist
from runs.models import Idea, MetricSpec, Node, NodeStatus

VAL_CODE = """
import json, numpy as np
rng = np.random.default_rng(0)
x_train, x_val = rng.normal(size=10), rng.normal(size=5)
val_pred = x_val * 2
val_acc = float(np.mean(val_pred > 0))
json.dump({"val_accuracy": val_acc}, open("metrics.json", "w"))
"""
TRAIN_CODE = """
import json
train_acc = sum([1, 0, 1]) / 3
metrics = {}
metrics["val_accuracy"] = train_acc
json.dump(metrics, open("metrics.json", "w"))
"""


def idea(**kw) -> Idea:
    return Idea(title="t", metric=MetricSpec(name="val_accuracy", direction="maximize"), **kw)


def node(i: int, parent: int | None = None, status: str = "good", metric: float | None = None, op: str = "draft",
         code: str | None = VAL_CODE, **kw) -> Node:
    return Node(run_id="r", id=i, parent_id=parent, operator=op, status=NodeStatus(status), metric=metric,
                code=code, **kw)


def items(checklist) -> dict[str, tuple[str, str]]:
    return {i.name: (i.status, i.detail) for i in checklist.items}


def test_metric_sources_follow_assignments() -> None:
    assert {"val_acc", "val_pred", "x_val"} <= metric_sources(VAL_CODE, "val_accuracy")
    assert "train_acc" in metric_sources(TRAIN_CODE, "val_accuracy")
    assert metric_sources("this is not python(", "val_accuracy") == set()


def test_clean_run_passes_and_says_it_is_a_checklist() -> None:
    nodes = [node(1, metric=0.5), node(2, 1, metric=0.8, op="improve")]
    c = run_checklist(idea(), nodes, nodes[1], claimed_best_id=2, repeats={2: [0.8, 0.79, 0.81]})
    got = items(c)
    assert got["metric on the declared validation split"][0] == "pass"
    assert "x_val" in got["metric on the declared validation split"][1]
    assert got["random seeds fixed"][0] == "pass"
    assert got["repeats over seeds"] == ("pass", "the best node ran 3 times: mean 0.8, std 0.01")
    assert got["held-out gap"][0] == "n/a"
    assert got["bugs fixed"][0] == "pass" and got["flagged nodes excluded from best"][0] == "pass"
    assert c.note == NOTE and "not a review" in c.note
    assert c.summary() == "5 pass, 0 warn, 0 fail"


def test_metric_computed_on_training_data_fails() -> None:
    best = node(1, metric=0.9, code=TRAIN_CODE)
    got = items(run_checklist(idea(), [best], best))
    status, detail = got["metric on the declared validation split"]
    assert status == "fail" and "train_acc" in detail
    assert got["random seeds fixed"][0] == "warn"


def test_single_seed_and_margin_within_noise_warn() -> None:
    nodes = [node(1, metric=0.80), node(2, metric=0.79)]
    got = items(run_checklist(idea(), nodes, nodes[0]))
    assert got["repeats over seeds"][0] == "warn" and "0.01" in got["repeats over seeds"][1]
    got = items(run_checklist(idea(), nodes, nodes[0], repeats={1: [0.80, 0.70, 0.90]}))
    assert got["repeats over seeds"][0] == "warn" and "within one std" in got["repeats over seeds"][1]


def test_holdout_declared_but_missing_fails_and_present_passes() -> None:
    nodes = [node(1, metric=0.8)]
    with_holdout = idea(holdout="print('eval')")
    assert items(run_checklist(with_holdout, nodes, nodes[0]))["held-out gap"][0] == "fail"
    status, detail = items(run_checklist(with_holdout, nodes, nodes[0], holdout={1: 0.75}))["held-out gap"]
    assert status == "pass" and "worse by 0.05" in detail


def test_bugs_fixed_follows_debug_chains() -> None:
    nodes = [node(1, status="buggy"), node(2, 1, status="buggy", op="debug"), node(3, 2, metric=0.6, op="debug"),
             node(4, status="buggy"), node(5, 4, status="buggy", op="improve"), node(6, 5, metric=0.7, op="debug")]
    # 1 is fixed through 2 -> 3; 2 is fixed by 3; 4's child is an improve, not a debug; 5 is fixed by 6.
    assert bugs_fixed(nodes) == (3, 4)
    status, detail = items(run_checklist(idea(), nodes, nodes[5]))["bugs fixed"]
    assert status == "pass" and detail == "3 of 4 buggy nodes were fixed by a debug step"
    unfixed = [node(1, status="buggy"), node(2, metric=0.5)]
    assert items(run_checklist(idea(), unfixed, unfixed[1]))["bugs fixed"][0] == "warn"


def test_flagged_nodes() -> None:
    nodes = [node(1, metric=0.7), node(2, status="flagged", metric=0.99)]
    check = "flagged nodes excluded from best"
    status, detail = items(run_checklist(idea(), nodes, nodes[0], claimed_best_id=1))[check]
    assert status == "pass" and "1 of them scored better" in detail
    status, detail = items(run_checklist(idea(), nodes, nodes[0], claimed_best_id=2))[check]
    assert status == "fail" and "node 2" in detail and "flagged" in detail


def test_no_valid_node() -> None:
    nodes = [node(1, status="buggy", code=None)]
    got = items(run_checklist(idea(), nodes, None))
    assert got["metric on the declared validation split"][0] == "n/a"
    assert got["repeats over seeds"][0] == "n/a"
