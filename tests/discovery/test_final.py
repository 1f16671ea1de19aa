"""Final selection: seed re-runs pick the best mean, the held-out script runs on the chosen node."""

from __future__ import annotations

from pathlib import Path

import pytest

from discovery.api import RunResult, run
from discovery.engine import Engine
from discovery.final import summarise
from runs.models import Evaluation, Node, NodeStatus
from runs.store import RunStore

BASELINE = """import json, random
X = 0
SEED = 0
random.seed(SEED)
# X = 3 is the true optimum; noise makes single runs lucky or unlucky.
score = -abs(X - 3) + random.uniform(-0.5, 0.5)
json.dump({"score": score}, open("metrics.json", "w"))
json.dump({"X": X}, open("model.json", "w"))
"""
HOLDOUT = """import json
model = json.load(open("model.json"))
json.dump({"score": -abs(model["X"] - 3) - 0.25}, open("metrics.json", "w"))
"""


@pytest.fixture
def noisy_idea(tmp_path: Path) -> Path:
    (tmp_path / "baseline.py").write_text(BASELINE)
    (tmp_path / "holdout.py").write_text(HOLDOUT)
    idea = tmp_path / "idea.md"
    idea.write_text("---\ntitle: Noisy\nmetric: score\nbaseline: baseline.py\nholdout: holdout.py\n"
                    "search_space: {X: [0, 1, 2, 3, 4, 5, 6]}\ntime_limit: 20\n---\n# Noisy\n")
    return idea


@pytest.mark.slow
def test_seeds_and_holdout(noisy_idea: Path, tmp_path: Path) -> None:
    result = run(noisy_idea, runs_dir=tmp_path / "runs", budget=8, workers=2, final_seeds=3, final_top_k=2)
    store = RunStore(tmp_path / "runs", readonly=True)
    evaluations = store.evaluations(result.run_id)
    seeds = [e for e in evaluations if e.kind == "seed"]
    holdout = [e for e in evaluations if e.kind == "holdout"]
    assert len(seeds) == 6 and len({e.node_id for e in seeds}) == 2
    assert all(e.status == NodeStatus.good for e in seeds)
    assert len({e.metric for e in seeds}) > 1  # the seeds really changed the runs
    nodes = {n.id: n for n in store.nodes(result.run_id)}
    summaries = summarise(evaluations, nodes)
    chosen = max(summaries, key=lambda s: s.mean)
    assert result.best_node_id == chosen.node_id and chosen.n == 4
    assert len(holdout) == 1 and holdout[0].node_id == chosen.node_id
    assert holdout[0].metric == -abs(nodes[chosen.node_id].params["X"] - 3) - 0.25
    seed_dir = store.node_dir(result.run_id, seeds[0].node_id) / "seeds" / str(seeds[0].seed)
    assert f"SEED = {seeds[0].seed}" in (seed_dir / "experiment.py").read_text()


def test_agents_never_see_the_holdout(noisy_idea: Path, tmp_path: Path) -> None:
    from agents.offline import OfflineAgent
    from discovery.api import create_run
    from discovery.idea import load_idea
    from discovery.progress import SilentProgress
    from runs.models import RunConfig
    from search.greedy import GreedyPolicy
    from workspace.local import LocalWorkspace

    store = RunStore(tmp_path / "runs")
    the_run = create_run(store, load_idea(noisy_idea), RunConfig(budget=1))
    engine = Engine(store=store, run=the_run, policy=GreedyPolicy(), agent=OfflineAgent(),
                    workspace=LocalWorkspace(), progress=SilentProgress())
    assert the_run.idea.holdout and engine._context(Node(run_id=the_run.id, id=1)).idea.holdout is None


def test_summarise_counts_the_original_run() -> None:
    nodes = {1: Node(run_id="r", id=1, metric=1.0, status=NodeStatus.good)}
    evals = [Evaluation(run_id="r", node_id=1, kind="seed", seed=s, status=NodeStatus.good, metric=m)
             for s, m in ((1, 2.0), (2, 3.0))]
    evals.append(Evaluation(run_id="r", node_id=1, kind="seed", seed=3, status=NodeStatus.buggy))
    (summary,) = summarise(evals, nodes)
    assert summary.mean == 2.0 and summary.n == 3 and summary.std == 1.0


FLAKY = """import json, os, time
X = 2
SEED = 0
WAIT = 0.0
time.sleep(WAIT)
# X = 3 scores best once, but crashes with two of the three re-run seeds.
if X == 3 and SEED in (1000, 2000):
    raise SystemExit("crashes with this seed")
json.dump({"score": -abs(X - 3), "gpus": os.environ["CUDA_VISIBLE_DEVICES"], "seed": SEED},
          open("metrics.json", "w"))
"""
GPU_HOLDOUT = """import json, os
import experiment
json.dump({"score": -abs(experiment.X - 3), "gpus": os.environ["CUDA_VISIBLE_DEVICES"]}, open("metrics.json", "w"))
"""


def gpu_engine(tmp_path: Path, space: str, **config: object) -> Engine:
    from agents.offline import OfflineAgent
    from discovery.api import create_run
    from discovery.idea import load_idea
    from discovery.progress import SilentProgress
    from runs.models import RunConfig
    from search.greedy import GreedyPolicy
    from workspace.gpus import GpuAllocator
    from workspace.local import LocalWorkspace

    (tmp_path / "baseline.py").write_text(FLAKY)
    (tmp_path / "holdout.py").write_text(GPU_HOLDOUT)
    (tmp_path / "idea.md").write_text(f"---\ntitle: Flaky\nmetric: score\nbaseline: baseline.py\nholdout: holdout.py\n"
                                      f"search_space: {space}\ntime_limit: 20\n---\n# Flaky\n")
    store = RunStore(tmp_path / "runs")
    the_run = create_run(store, load_idea(tmp_path / "idea.md"), RunConfig(workspace="local", **config))
    return Engine(store=store, run=the_run, policy=GreedyPolicy(num_drafts=2), agent=OfflineAgent(),
                  workspace=LocalWorkspace(), progress=SilentProgress(), gpus=GpuAllocator(["0", "1"]), gpu_share=0.5)


async def test_failed_reruns_count_against_a_node_and_reruns_get_gpus(tmp_path: Path) -> None:
    from discovery.graph import run_loop

    engine = gpu_engine(tmp_path, "{X: [2, 3]}", budget=2, workers=2, final_seeds=3, final_top_k=2)
    await run_loop(engine)
    store, run_id = engine.store, engine.run.id
    nodes = {n.params["X"]: n for n in store.nodes(run_id)}
    assert nodes[3].metric == 0 and nodes[2].metric == -1  # the search's best is X = 3
    seeds = [e for e in store.evaluations(run_id) if e.kind == "seed"]
    assert len(seeds) == 6
    failed = [e for e in seeds if e.status != NodeStatus.good]
    assert {(e.node_id, e.seed) for e in failed} == {(nodes[3].id, 1000), (nodes[3].id, 2000)}
    # X = 3 crashed on two of its three re-runs: the node that reproduced wins.
    run_row = store.get_run(run_id)
    assert run_row.best_node_id == nodes[2].id
    # Re-runs and the held-out script ran like nodes: each with its share of a GPU.
    good = [e for e in seeds if e.status == NodeStatus.good]
    assert good and all(e.metrics["gpus"] in ("0", "1") for e in good)
    [held] = [e for e in store.evaluations(run_id) if e.kind == "holdout"]
    assert held.node_id == nodes[2].id and held.metric == -1 and held.metrics["gpus"] in ("0", "1")
    assert sum(engine.gpus.free.values()) == 2000


@pytest.mark.slow
async def test_final_selection_and_report_fit_in_the_time_limit(tmp_path: Path) -> None:
    import time

    from discovery.graph import run_loop

    engine = gpu_engine(tmp_path, "{X: {low: 0, high: 1000, integer: true}, WAIT: [0.3]}", budget=10_000,
                        workers=2, final_seeds=2, final_top_k=2, time_limit=20)
    t0 = time.monotonic()
    await run_loop(engine)
    took = time.monotonic() - t0
    store, run_id = engine.store, engine.run.id
    assert engine.stop_reason == "time" and took <= 20 + 1.0, took
    seeds = [e for e in store.evaluations(run_id) if e.kind == "seed"]
    assert len(seeds) == 4 and all(e.status == NodeStatus.good for e in seeds)  # ran although the run stopped on time
    assert [e for e in store.evaluations(run_id) if e.kind == "holdout"]
    assert (store.run_dir(run_id) / "report" / "report.md").exists()
    events = [e.kind for _, e in store.events(run_id)]
    assert events.index("final_selection") < events.index("run_finished")


def _run_with_two_seeds(tmp_path: Path, baseline: str, front: str = "") -> tuple[RunResult, RunStore]:
    """A two-node run of ``baseline`` whose best node is re-run with two seeds; its result and store."""
    (tmp_path / "baseline.py").write_text(baseline)
    idea = tmp_path / "idea.md"
    idea.write_text(f"---\ntitle: Final\nmetric: score\nbaseline: baseline.py\n{front}"
                    "search_space: {X: [2, 3]}\ntime_limit: 20\n---\n# Final\n")
    result = run(idea, runs_dir=tmp_path / "runs", budget=2, workers=1, final_seeds=2, final_top_k=1)
    return result, RunStore(tmp_path / "runs", readonly=True)


@pytest.mark.slow
def test_seed_and_holdout_reruns_do_not_follow_links_the_node_planted(tmp_path: Path) -> None:
    """A node that makes its `seeds` and `holdout` folders links to folders of the user's must
    not have its re-runs (or the held-out script) write there."""
    outside = {name: tmp_path / f"users_{name}" for name in ("seeds", "holdout")}
    for folder in outside.values():
        folder.mkdir()
    plant = "".join(f"if not os.path.lexists({name!r}): os.symlink({str(target)!r}, {name!r})\n"
                    for name, target in outside.items())
    (tmp_path / "holdout.py").write_text(HOLDOUT)
    result, store = _run_with_two_seeds(tmp_path, "import os\n" + plant + BASELINE, "holdout: holdout.py\n")
    evaluations = store.evaluations(result.run_id)
    assert sorted(e.kind for e in evaluations) == ["holdout", "seed", "seed"]
    assert all(e.status == NodeStatus.good for e in evaluations), [e.error for e in evaluations]
    assert [list(folder.iterdir()) for folder in outside.values()] == [[], []]


@pytest.mark.slow
def test_a_node_that_nests_folders_thousands_deep_is_measured_rerun_and_cleared(tmp_path: Path) -> None:
    """Python's os.walk, rglob, copytree and rmtree recurse: a node that nested 3,000 folders
    (past PATH_MAX, by chdir) failed with an internal RecursionError although it had written
    its metric, and its re-runs could not have been copied or cleared."""
    nest = "import os\nhere = os.getcwd()\nfor _ in range(3000):\n    os.mkdir('d'); os.chdir('d')\nos.chdir(here)\n"
    result, store = _run_with_two_seeds(tmp_path, BASELINE + nest)
    nodes = store.nodes(result.run_id)
    assert all(n.status == NodeStatus.good for n in nodes), [n.error for n in nodes]
    evaluations = store.evaluations(result.run_id)
    assert sorted(e.kind for e in evaluations) == ["seed", "seed"]
    assert all(e.status == NodeStatus.good for e in evaluations), [e.error for e in evaluations]
    # A re-run again (a resumed final stage) clears the earlier copy, however deep, first.
    from discovery.final import _copy_node
    from workspace.base import remove_tree

    node_dir = store.node_dir(result.run_id, evaluations[0].node_id)
    seed_dir = next(p for p in (node_dir / "seeds").iterdir() if p.is_dir())
    _copy_node(node_dir, seed_dir)
    assert (seed_dir / "baseline.py").exists() or (seed_dir / "experiment.py").exists()
    remove_tree(node_dir)
    assert not node_dir.exists()
    store.close()
    remove_tree(tmp_path / "runs")  # the seed re-runs nested as deep: pytest's own clean-up would recurse
