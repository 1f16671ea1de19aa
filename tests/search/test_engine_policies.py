"""The new policies drive the real engine (store, LangGraph loop, local subprocesses), and the
tree the engine built live holds the same statistics as one rebuilt from the store (resume)."""

from __future__ import annotations

import math

import pytest

from tests.conftest import EXAMPLES


@pytest.mark.slow
@pytest.mark.parametrize("policy_name", ["mcts", "bfts"])
async def test_policy_runs_the_engine_and_a_rebuilt_tree_agrees(runs_dir, policy_name: str):
    from agents.offline import OfflineAgent
    from discovery.api import create_run
    from discovery.engine import Engine
    from discovery.graph import run_loop
    from discovery.idea import load_idea
    from discovery.progress import SilentProgress
    from runs.models import RunConfig
    from runs.store import RunStore
    from search.policy import make_policy
    from workspace.local import LocalWorkspace

    store = RunStore(runs_dir)
    idea = load_idea(EXAMPLES / "ridge_degree" / "idea.md")
    config = RunConfig(budget=9, workers=3, policy=policy_name, seed=3)
    run = create_run(store, idea, config)

    def engine() -> Engine:
        return Engine(store=store, run=store.get_run(run.id), policy=make_policy(policy_name, num_drafts=2),
                      agent=OfflineAgent(), workspace=LocalWorkspace(), progress=SilentProgress())

    live = engine()
    await run_loop(live)
    nodes = store.nodes(run.id, with_code=False)
    assert len(nodes) == 9
    assert {n.operator for n in nodes} >= {"draft", "improve"}
    best = live.tree.best()
    assert best is not None and math.isfinite(best.metric)
    assert store.get_run(run.id).best_node_id == best.id
    assert live.tree.stats_mismatches() == []
    rebuilt = engine().tree
    for node_id, node in live.tree.nodes.items():
        other = rebuilt.nodes[node_id]
        for name in ("visits", "valid_count", "sub_best", "sub_open_best", "inflight_count", "child_scored",
                     "child_better", "closed", "root_id"):
            assert getattr(node, name) == getattr(other, name), (node_id, name)
    assert rebuilt.best_id == live.tree.best_id
    store.close()
