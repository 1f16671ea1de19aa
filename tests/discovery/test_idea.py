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
        # PyYAML keeps the last of two keys silently: the run would optimise the metric not meant.
        ("metric: acc\nmetric: loss", "front matter: 'metric' is given twice (line 3)"),
        ("metric: acc\nbaseline: baseline.py\nsearch_space:\n  LR: [1]\n  LR: [2]",
         "front matter: 'LR' is given twice (line 6)"),
        ("metric: acc\nbaseline: broken.py\nsearch_space: {LR: [1]}",
         "baseline: broken.py does not parse (line 2: invalid syntax)"),
    ],
)
def test_bad_front_matter(tmp_path: Path, front: str, needle: str) -> None:
    path = write_idea(tmp_path, front)
    (tmp_path / "broken.py").write_text("LR = 1\ndef f(:\n")
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


@pytest.mark.parametrize(
    ("spec", "needle"),
    [
        ("{low: 1, high: 0.1}", "search_space: LR: the range's low 1 must be below its high 0.1"),
        ("{low: 0.5, high: 0.5}", "LR: the range's low 0.5 must be below its high 0.5"),
        ("{low: 0.1}", "LR: the range has no high"),
        ("{high: 1}", "LR: the range has no low"),
        ("{min: 0.1, max: 1}", "LR: unknown range key 'max' (a range is written with low and high, not min and max)"),
        ("{low: 0.1, high: 1, step: 2}", "LR: unknown range key 'step'"),
        ("{low: 0, high: 1, log: true}", "LR: a log range needs low above 0 (it is 0)"),
        ("{low: -1, high: 1, log: true}", "LR: a log range needs low above 0 (it is -1)"),
        ("{low: fast, high: 1}", "LR: the range's low 'fast' is not a finite number"),
        ("{low: 0.1, high: 1, log: perhaps}", "LR: the range's log: Input should be a valid boolean"),
        ("0.1", "LR: 0.1 is not a search range; write a list of choices"),
        ("[0.1, [0.2]]", "LR: choice 2 ([0.2]) is not a number, string or true/false"),
    ],
)
def test_search_space_range_errors_say_what_is_wrong(tmp_path: Path, spec: str, needle: str) -> None:
    path = write_idea(tmp_path, f"metric: acc\nbaseline: baseline.py\nsearch_space: {{WIDTH: [8, 16], LR: {spec}}}")
    with pytest.raises(IdeaError) as info:
        load_idea(path)
    message = str(info.value)
    assert message.startswith(f"{path}: search_space: LR: ") and needle in message, message
    assert "valid list" not in message and "\n" not in message


def test_good_ranges_still_parse(tmp_path: Path) -> None:
    path = write_idea(tmp_path, "metric: acc\nbaseline: baseline.py\n"
                      "search_space: {LR: {low: 1e-4, high: 1, log: true}, WIDTH: {low: 4, high: 64, integer: true}}")
    space = load_idea(path).search_space
    assert space["LR"].low == 1e-4 and space["LR"].log and space["WIDTH"].integer and space["WIDTH"].high == 64


def test_metric_flag_replaces_the_ideas_metric_with_a_notice(tmp_path: Path) -> None:
    path = write_idea(tmp_path, "metric: val_acc\ndirection: maximize\nbaseline: baseline.py\nsearch_space: {LR: [1]}")
    notices: list[str] = []
    idea = load_idea(path, metric="val_loss:minimize", notice=notices.append)
    assert (idea.metric.name, idea.metric.direction) == ("val_loss", "minimize")
    assert notices == ["--metric val_loss (minimize) replaces the idea's metric val_acc (maximize)"]
    # No direction given: the idea's direction for the same metric, maximize for another one.
    same = load_idea(write_idea(tmp_path, "metric: {name: loss, direction: min}"), metric="loss", notice=notices.append)
    assert same.metric.direction == "minimize" and len(notices) == 1  # nothing replaced, nothing said
    other = load_idea(write_idea(tmp_path, "metric: {name: loss, direction: min}"), metric="acc", notice=notices.append)
    assert other.metric.direction == "maximize" and notices[-1].startswith("--metric acc (maximize) replaces")


@pytest.mark.parametrize("flag", ["val_loss:down", "val_loss:", ":minimize", "val_loss:upward"])
def test_metric_flag_with_a_bad_direction_is_always_an_error(tmp_path: Path, flag: str) -> None:
    with_metric = write_idea(tmp_path, "metric: val_loss\nbaseline: baseline.py\nsearch_space: {LR: [1]}")
    for path in (with_metric, tmp_path / "absent.md"):  # even before the file is read
        with pytest.raises(IdeaError, match=r"^--metric '") as info:
            load_idea(path, metric=flag)
        assert "\n" not in str(info.value)


def test_offline_agent_needs_a_baseline_and_a_search_space(tmp_path: Path) -> None:
    from discovery.idea import check_offline

    check_offline(load_idea(write_idea(tmp_path, "metric: acc\nbaseline: baseline.py\nsearch_space: {LR: [1]}")))
    nobase = write_idea(tmp_path, "metric: acc")
    with pytest.raises(IdeaError, match=r"idea.md: baseline: missing; .* or pass --model"):
        check_offline(load_idea(nobase))
    nospace = write_idea(tmp_path, "metric: acc\nbaseline: baseline.py")
    with pytest.raises(IdeaError, match=r"idea.md: search_space: missing; .* or pass --model"):
        check_offline(load_idea(nospace))


def test_a_byte_order_mark_is_not_an_error(tmp_path: Path) -> None:
    """Notepad and some Windows editors start UTF-8 files with a BOM."""
    path = write_idea(tmp_path, "metric: acc\nbaseline: baseline.py\nsearch_space: {LR: [1]}")
    path.write_bytes(b"\xef\xbb\xbf" + path.read_bytes())
    assert load_idea(path).metric.name == "acc"
    as_json = tmp_path / "idea.json"
    as_json.write_bytes(b"\xef\xbb\xbf" + json.dumps({"Title": "T", "metric": "acc"}).encode())
    assert load_idea(as_json).title == "T"
