"""Where data paths appear in a node (workspace/data.py): one rule for every workspace and for the
protocol text the agents read."""

from __future__ import annotations

from pathlib import Path

import pytest

from agents.prompts import protocol
from runs.models import Idea, MetricSpec
from workspace.base import ExecRequest
from workspace.data import DataLayoutError, data_layout, describe_data
from workspace.local import LocalWorkspace

READ = "import os\nprint(open('data/train.csv').read().strip(), sorted(os.listdir('data')))\n"


@pytest.fixture
def folder(tmp_path: Path) -> Path:
    """An idea's `data/` folder holding train.csv and test.csv."""
    data = tmp_path / "idea" / "data"
    data.mkdir(parents=True)
    (data / "train.csv").write_text("train")
    (data / "test.csv").write_text("test")
    return data


async def run(tmp_path: Path, data: list[str], node_id: int = 1) -> str:
    request = ExecRequest(run_id="r", node_id=node_id, workdir=tmp_path / f"node{node_id}", code=READ,
                          time_limit=20, data=data)
    result = await LocalWorkspace().execute(request)
    assert result.exit_code == 0, result.stderr
    return result.stdout


async def test_a_listed_folder_is_data_not_data_data(tmp_path: Path, folder: Path) -> None:
    # `data: [data]` and `data: [data/train.csv, data/test.csv]` give the node the same paths.
    assert await run(tmp_path, [str(folder)]) == "train ['test.csv', 'train.csv']\n"
    files = [str(folder / "train.csv"), str(folder / "test.csv")]
    assert await run(tmp_path, files, 2) == "train ['test.csv', 'train.csv']\n"


async def test_a_folder_and_a_file_together(tmp_path: Path, folder: Path) -> None:
    labels = tmp_path / "labels.json"
    labels.write_text("{}")
    assert await run(tmp_path, [str(folder), str(labels)]) == "train ['labels.json', 'test.csv', 'train.csv']\n"
    assert [e.name for e in data_layout([str(folder), str(labels)])] == ["test.csv", "train.csv", "labels.json"]


def test_two_paths_with_one_name_are_an_error(tmp_path: Path, folder: Path) -> None:
    other = tmp_path / "train.csv"
    other.write_text("x")
    with pytest.raises(DataLayoutError, match=r"would both be data/train.csv"):
        data_layout([str(folder), str(other)])


def test_the_protocol_says_exactly_where_each_path_is(tmp_path: Path, folder: Path) -> None:
    labels = tmp_path / "labels.json"
    labels.write_text("{}")
    idea = Idea(title="t", metric=MetricSpec(name="acc"), data=[str(folder), str(labels)])
    text = protocol(idea)
    assert "the contents of the folder data: data/test.csv, data/train.csv" in text
    assert "data/labels.json (the file labels.json)" in text
    assert "data/data" not in text
    many = tmp_path / "many"
    many.mkdir()
    for i in range(30):
        (many / f"{i:02d}.png").write_text("")
    [line] = describe_data([str(many)])
    assert line.endswith("data/11.png and 18 more")
