"""The held-out script: run as holdout.py next to the node's own script and artifacts, and kept
where no node can find it (not in the run store, not left in the run's folders)."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from discovery.api import prepare_resume, run, run_async
from discovery.final import holdout_code
from discovery.idea import load_idea
from runs.models import NodeStatus
from runs.store import RunStore
from tests.conftest import EXAMPLES

MARK = "HOLDOUT-SECRET-7f3a"
TITLE = "Hunt for the held-out script"

# The node's script: it scores X and, like an agent trying to cheat, searches everything under
# the runs folder it can reach (files and the run database) for the held-out script's text.
HUNTER = '''import json, sqlite3
from pathlib import Path

X = 1
MARK = "HOLDOUT" + "-SECRET-" + "7f3a"  # split, so that this script itself does not match


def score(x):
    return -abs(x - 3)


def hunt():
    root = Path.cwd().resolve()
    while root != root.parent and not (root / "discover.db").exists():
        root = root.parent
    found, title_seen, scanned = [], False, 0
    for path in root.rglob("*"):
        try:
            if path.is_symlink() or not path.is_file():
                continue
            data = path.read_bytes()
        except OSError:
            continue
        scanned += 1
        if MARK.encode() in data:
            found.append(str(path.relative_to(root)))
    con = sqlite3.connect(f"file:{root / 'discover.db'}?mode=ro", uri=True)
    for (table,) in con.execute("select name from sqlite_master where type = 'table'").fetchall():
        for row in con.execute(f"select * from {table}"):
            text = " ".join(v for v in row if isinstance(v, str))
            found += [f"discover.db:{table}"] if MARK in text else []
            title_seen = title_seen or "Hunt for the held-out" in text
    return found, title_seen, scanned


if __name__ == "__main__":
    found, title_seen, scanned = hunt()
    json.dump({"X": X}, open("model.json", "w"))
    json.dump({"score": score(X), "found": found, "title_seen": title_seen, "scanned": scanned},
              open("metrics.json", "w"))
'''
HOLDOUT = f'''import json

import experiment  # the node's own script, next to this one: {MARK}

model = json.load(open("model.json"))
json.dump({{"score": experiment.score(model["X"]) - 0.5}}, open("metrics.json", "w"))
'''


@pytest.fixture
def hunt_idea(tmp_path: Path) -> Path:
    (tmp_path / "idea").mkdir()
    (tmp_path / "idea" / "baseline.py").write_text(HUNTER)
    (tmp_path / "secret").mkdir()
    (tmp_path / "secret" / "holdout.py").write_text(HOLDOUT)
    idea = tmp_path / "idea" / "idea.md"
    idea.write_text(f"---\ntitle: {TITLE}\nmetric: score\nbaseline: baseline.py\nholdout: ../secret/holdout.py\n"
                    "search_space: {X: [0, 1, 2, 3, 4, 5, 6]}\ntime_limit: 20\n---\n# Hunt\n")
    return idea


def assert_not_found(store: RunStore, run_id: str) -> None:
    nodes = [n for n in store.nodes(run_id) if n.status == NodeStatus.good]
    assert nodes
    for node in nodes:
        assert node.metrics["title_seen"] and node.metrics["scanned"] > 0  # it did read the store and the folders
        assert node.metrics["found"] == [], f"node {node.id} found the held-out script in {node.metrics['found']}"


@pytest.mark.slow
def test_no_node_finds_the_holdout_and_it_runs_next_to_the_node(hunt_idea: Path, tmp_path: Path) -> None:
    root = tmp_path / "runs"
    first = run(hunt_idea, runs_dir=root, budget=3, workers=1)
    store = RunStore(root)
    assert_not_found(store, first.run_id)
    stored = store.get_run(first.run_id).idea
    assert stored.holdout is None and stored.has_holdout and stored.holdout_path == str(tmp_path / "secret/holdout.py")

    # The held-out script ran as holdout.py beside the node's experiment.py and model.json:
    # `import experiment` imported the node's script, not itself.
    [held] = [e for e in store.evaluations(first.run_id) if e.kind == "holdout"]
    best = store.get_node(first.run_id, first.best_node_id)
    assert held.node_id == best.id and held.status == NodeStatus.good, held.error
    assert held.metric == -abs(best.params["X"] - 3) - 0.5
    folder = store.node_dir(first.run_id, best.id) / "holdout"
    assert (folder / "experiment.py").read_text() == best.code and (folder / "model.json").is_file()
    assert not (folder / "holdout.py").exists()  # its code does not stay behind for later nodes

    # A second session searches on, after the held-out script ran: its nodes find nothing either.
    resumed, lock = prepare_resume(store, first.run_id, budget=5)
    asyncio.run(run_async(store, resumed, lock=lock))
    assert len(store.nodes(first.run_id)) == 5
    assert_not_found(store, first.run_id)
    store.close()


def test_a_changed_or_missing_holdout_file_is_not_run(hunt_idea: Path, tmp_path: Path) -> None:
    idea = load_idea(hunt_idea)
    assert holdout_code(idea)[0] == HOLDOUT
    stored = idea.model_copy(update={"holdout": None})  # what a resumed session reads from the store
    assert holdout_code(stored)[0] == HOLDOUT
    (tmp_path / "secret" / "holdout.py").write_text(HOLDOUT + "# a node could have rewritten it\n")
    code, why = holdout_code(stored)
    assert code is None and "changed since the run started" in why
    (tmp_path / "secret" / "holdout.py").unlink()
    assert holdout_code(stored)[0] is None
    inline = idea.model_copy(update={"holdout": None, "holdout_path": None})
    assert "declare it as a file" in holdout_code(inline)[1]


@pytest.mark.slow
def test_the_holdout_example_runs(tmp_path: Path) -> None:
    result = run(EXAMPLES / "ridge_holdout" / "idea.md", runs_dir=tmp_path / "runs", budget=4, workers=2)
    store = RunStore(tmp_path / "runs", readonly=True)
    [held] = [e for e in store.evaluations(result.run_id) if e.kind == "holdout"]
    assert held.node_id == result.best_node_id and held.status == NodeStatus.good, held.error
    assert 0 < held.metric < 1  # a test mse of the chosen fit on 2000 fresh points
    text = (store.run_dir(result.run_id) / "report" / "report.md").read_text()
    assert "Held-out `val_mse` of the best node" in text
    store.close()
