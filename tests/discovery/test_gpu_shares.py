"""GPU shares through the real engine: each node sees the GPUs it was allocated, shares never
oversubscribe a GPU, and the free share is written to the store for the TUI."""

from __future__ import annotations

from pathlib import Path

from agents.offline import OfflineAgent
from discovery.api import create_run
from discovery.engine import Engine
from discovery.graph import run_loop
from discovery.idea import load_idea
from discovery.progress import SilentProgress
from runs.models import RunConfig
from runs.store import RunStore
from search.greedy import GreedyPolicy
from workspace.gpus import GpuAllocator
from workspace.local import LocalWorkspace

NODE = """import json, os, time
X = 0
start = time.time()
time.sleep(0.4)
json.dump({"score": X, "gpus": os.environ["CUDA_VISIBLE_DEVICES"], "start": start, "end": time.time()},
          open("metrics.json", "w"))
"""


async def test_nodes_see_their_share_and_never_oversubscribe(tmp_path: Path) -> None:
    (tmp_path / "baseline.py").write_text(NODE)
    (tmp_path / "idea.md").write_text("---\ntitle: Shares\nmetric: score\nbaseline: baseline.py\n"
                                      "search_space: {X: [0, 1, 2, 3, 4, 5, 6, 7, 8, 9]}\n---\n# Shares\n")
    store = RunStore(tmp_path / "runs")
    run = create_run(store, load_idea(tmp_path / "idea.md"), RunConfig(budget=8, workers=4, workspace="local"))
    gpus = GpuAllocator(["0", "1"])
    engine = Engine(store=store, run=run, policy=GreedyPolicy(num_drafts=8), agent=OfflineAgent(),
                    workspace=LocalWorkspace(), progress=SilentProgress(), gpus=gpus, gpu_share=0.5)
    await run_loop(engine)
    nodes = store.nodes(run.id)
    assert len(nodes) == 8 and all(n.status.value == "good" for n in nodes)
    seen = [(n.metrics["gpus"], n.metrics["start"], n.metrics["end"]) for n in nodes]
    assert {g for g, _, _ in seen} == {"0", "1"}  # every node got exactly one GPU id, both were used
    # At no moment did more than two half-GPU nodes share one GPU.
    for gpu in ("0", "1"):
        spans = [(s, e) for g, s, e in seen if g == gpu]
        for s, _ in spans:
            assert sum(1 for s2, e2 in spans if s2 <= s < e2) <= 2
    assert sum(gpus.free.values()) == 2000  # every share was handed back
    resources = store.get_run(run.id).resources  # written at the first poll, while nodes ran or not
    assert resources["gpus_total"] == 2.0 and 0.0 <= resources["gpus_free"] <= 2.0
