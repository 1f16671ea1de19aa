"""Idea parsing: both formats, and one clear line for each kind of bad input."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from discovery.idea import IdeaError, load_idea
from tests.conftest import EXAMPLES

BASELINE = "LR = 0.1\nWIDTH = 8\nprint('hi')\n"


def write_idea(tmp_path: Path, front: str, body: str = "# T\n\n## Hypothesis\n\nH.\n") -> Path:
    (tmp_path / "baseline.py").write_text(BASELINE)
    path = tmp_path / "idea.md"
    path.write_text(f"---\n{front}\n---\n{body}")
    return path


def test_examples_parse() -> None:
    idea = load_idea(EXAMPLES / "mlp_spirals" / "idea.md")
    assert idea.metric.name == "val_accuracy" and idea.metric.direction == "maximize"
    assert "LR" in idea.search_space and idea.baseline and "LR = 0.01" in idea.baseline
    assert idea.hypothesis.startswith("Three interleaved spirals")
    assert idea.time_limit == 60
    ridge = load_idea(EXAMPLES / "ridge_degree" / "idea.md")
    assert ridge.metric.direction == "minimize"
    assert ridge.search_space["ALPHA"].log is True


def test_markdown_fields(tmp_path: Path) -> None:
    data = tmp_path / "data.csv"
    data.write_text("x\n1\n")
    path = write_idea(tmp_path, "metric: {name: loss, direction: min}\nbaseline: baseline.py\n"
                      "search_space: {LR: [0.01, 0.1]}\ntime_limit: 5m\ngpus_per_node: 0.25\ndata: [data.csv]")
    idea = load_idea(path)
    assert idea.title == "T"
    assert idea.metric.direction == "minimize"
    assert idea.time_limit == 300
    assert idea.gpus_per_node == 0.25
    assert idea.data == [str(data.resolve())]
    assert idea.hypothesis == "H."


def test_ai_scientist_json(tmp_path: Path) -> None:
    path = tmp_path / "idea.json"
    path.write_text(json.dumps([{
        "Name": "grokking", "Title": "Grokking under weight decay", "Short Hypothesis": "Decay speeds grokking.",
        "Abstract": "We study...", "Experiments": ["Train on modular addition", "Vary decay"],
        "Risk Factors and Limitations": "Small models only.",
    }]))
    with pytest.raises(IdeaError, match="metric: missing"):
        load_idea(path)
    idea = load_idea(path, metric="val_loss:minimize")
    assert idea.title == "Grokking under weight decay"
    assert idea.hypothesis == "Decay speeds grokking."
    assert "- Vary decay" in idea.experiments
    assert "## Risk Factors And Limitations" in idea.body
    assert idea.metric.name == "val_loss" and idea.metric.direction == "minimize"


@pytest.mark.parametrize(
    ("front", "needle"),
    [
        ("metric: acc\ndirection: upward", "metric direction: 'upward' is not"),
        ("direction: maximize", "metric: missing"),
        ("metric: acc\nsearch_space: {LR: [1, 2]}", "search_space: needs a baseline"),
        ("metric: acc\nbaseline: baseline.py\nsearch_space: {DEPTH: [1, 2]}", "search_space names DEPTH"),
        ("metric: acc\nbaseline: nope.py", "baseline: nope.py is not a file"),
        ("metric: acc\ntime_limit: soon", "time_limit: 'soon' is not a duration"),
        ("metric: acc\ncolour: blue", "unknown front-matter field 'colour'"),
        ("metric: acc\ndata: [missing.csv]", "data: missing.csv does not exist"),
        ("metric: acc\ngpus_per_node: -1", "gpus_per_node"),
        ("metric: [acc", "front matter is not valid YAML"),
        ("metric: acc\nsearch_space: {LR: []}", "search_space: LR: a choice list needs at least one value"),
    ],
)
def test_bad_front_matter(tmp_path: Path, front: str, needle: str) -> None:
    path = write_idea(tmp_path, front)
    with pytest.raises(IdeaError) as info:
        load_idea(path)
    message = str(info.value)
    assert needle in message
    assert message.startswith(str(path)) and "\n" not in message


def test_bad_files(tmp_path: Path) -> None:
    with pytest.raises(IdeaError, match="no such idea file"):
        load_idea(tmp_path / "absent.md")
    plain = tmp_path / "plain.md"
    plain.write_text("# Just prose\n")
    with pytest.raises(IdeaError, match="no front-matter block"):
        load_idea(plain)
    broken = tmp_path / "broken.json"
    broken.write_text("{nope")
    with pytest.raises(IdeaError, match="not valid JSON"):
        load_idea(broken)
    notitle = tmp_path / "nt.md"
    notitle.write_text("---\nmetric: acc\n---\nno heading\n")
    with pytest.raises(IdeaError, match="title: missing"):
        load_idea(notitle)
