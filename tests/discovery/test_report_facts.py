"""What the report states about the search: tie order of the top nodes, when the best was found on the
same clock as "Time searching", and only the operators that ran."""

from __future__ import annotations

from pathlib import Path

import pytest

from discovery.writeup.compose import build
from discovery.writeup.document import to_markdown
from discovery.writeup.facts import Facts, collect
from discovery.writeup.prose import template_prose
from runs.models import Idea, MetricSpec, Node, NodeStatus, Run, RunConfig
from runs.store import RunStore
from search.tree import SearchTree, TreeNode


def make_run(root: Path, direction: str, metrics: dict[int, float], *, ops: dict[int, str] | None = None,
             created: float = 1000.0, elapsed: float = 1.1, finished: float = 1003.0,
             node_finished: dict[int, float] | None = None) -> tuple[RunStore, str]:
    store = RunStore(root)
    idea = Idea(title="Ties", metric=MetricSpec(name="loss", direction=direction))  # type: ignore[arg-type]
    store.create_run(Run(id="r", idea=idea, config=RunConfig(budget=10), created_at=created, status="finished",
                         elapsed=elapsed, finished_at=finished))
    nodes = [Node(run_id="r", id=i, operator=(ops or {}).get(i, "draft"), status=NodeStatus.good, metric=m,
                  plan=f"plan {i}", created_at=created, finished_at=(node_finished or {}).get(i, created + 0.1 * i))
             for i, m in metrics.items()]
    store.save_nodes(nodes)
    return store, "r"


def report_text(store: RunStore, run_id: str) -> tuple[Facts, str]:
    facts = collect(store, run_id)
    return facts, to_markdown(build(facts, template_prose(facts), [], []))


def top_rows(text: str) -> list[str]:
    table = text.split("### Top nodes")[1].split("\n\n")[1]
    return [line.split("|")[1].strip() for line in table.splitlines()[2:]]


@pytest.mark.parametrize("direction", ["maximize", "minimize"])
def test_tied_scores_rank_the_older_node_first_as_the_search_does(tmp_path: Path, direction: str) -> None:
    metrics = {1: 0.5, 2: 0.3, 3: 0.3, 4: 0.5, 5: 0.3} if direction == "minimize" else {1: 0.3, 2: 0.5, 3: 0.5,
                                                                                         4: 0.3, 5: 0.5}
    store, run_id = make_run(tmp_path / "runs", direction, metrics)
    tree = SearchTree(direction)  # type: ignore[arg-type]
    for node in store.nodes(run_id):
        tree.add(TreeNode(id=node.id, parent_id=None, operator=node.operator, status=node.status.value,
                          metric=node.metric))
    facts, text = report_text(store, run_id)
    store.close()
    assert tree.best_id == 2
    assert [n.id for n in facts.ranked] == [2, 3, 5, 1, 4]
    assert top_rows(text) == ["2", "3", "5", "1", "4"]


def test_best_found_time_is_on_the_clock_of_time_searching(tmp_path: Path) -> None:
    # The orchestrator started searching 1.9 s after the run was stored (imports, workspace checks):
    # the best node finished 2.5 s after the run was stored, 0.6 s into 1.1 s of searching.
    store, run_id = make_run(tmp_path / "runs", "maximize", {1: 0.2, 2: 0.9, 3: 0.5},
                             node_finished={1: 1002.2, 2: 1002.5, 3: 1002.9})
    facts, text = report_text(store, run_id)
    store.close()
    assert facts.best_found == (2, pytest.approx(0.6))
    assert "Time searching: 1.1s" in text
    assert "The best node finished 0.6 seconds into the search (of 1.1 seconds searching), when 2 nodes had " \
           "finished." in text
    assert max(p[1] for p in facts.best_curve) <= 1.1


def test_pauses_between_sessions_are_not_search_time(tmp_path: Path) -> None:
    # Session 1: 1000-1010 (10 s); stopped; resumed at 2000; session 2 ran to 2005: elapsed 15 s.
    store, run_id = make_run(tmp_path / "runs", "maximize", {1: 0.2, 2: 0.9}, elapsed=15.0, finished=2005.0,
                             node_finished={1: 1004.0, 2: 2003.0})
    store._db["events"].insert_all([{"run_id": run_id, "ts": 1010.0, "kind": "run_finished", "message": ""},
                                   {"run_id": run_id, "ts": 2000.0, "kind": "run_resumed", "message": ""}])
    store._db.conn.commit()
    facts, _ = report_text(store, run_id)
    store.close()
    assert [round(p[1], 6) for p in facts.best_curve] == [4.0, 13.0]
    assert facts.best_found == (2, pytest.approx(13.0))


def test_method_names_only_the_operators_that_ran(tmp_path: Path) -> None:
    store, run_id = make_run(tmp_path / "runs", "maximize", {1: 0.2, 2: 0.9, 3: 0.5, 4: 0.6},
                             ops={1: "draft", 2: "improve", 3: "draft", 4: "draft"})
    _, text = report_text(store, run_id)
    store.close()
    method = text.split("## Method")[1].split("##")[0]
    assert "(used here: draft for 3 nodes, improve for 1 node)" in method
    for absent in ("debug", "tune", "ablate"):
        assert absent not in method
