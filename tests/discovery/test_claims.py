"""Grounding by what a number claims: planted false sentences about a real stored run are all rejected,
true ones accepted; the old check (any number anywhere in the store) accepted most of the false ones."""

from __future__ import annotations

from pathlib import Path

import pytest

from discovery.writeup.facts import Facts, collect
from reviewers.grounding import KnownNumbers, check_text, describe_failures
from runs.store import RunStore
from tests.discovery.test_report import rich_run

# The run (tests/discovery/test_report.py::rich_run): nodes 1-8, elapsed 123.4 s, budget 12, 2 workers;
# node 4 (improve, depth 2, DEGREE 6, 6.0 s) is the best at 0.85, repeated over 3 seeds (mean 0.8467) and
# held out at 0.81; node 1 the first draft at 0.6; node 3 (debug) 0.7; node 5 flagged at 0.99 (7.5 s).
FALSE = [
    ("We ran 12 seeds.", "12"),  # 12 is the budget, not a number of seeds
    ("Node 4 was repeated over 8 seeds.", "8"),  # 8 is a node id and the node count
    ("The search used 3 workers.", "3"),  # 3 is a node id
    ("Node 3 reached 0.84.", "0.84"),  # the pruned node 8's metric
    ("Node 4 reached 0.99 accuracy.", "0.99"),  # the flagged node 5's metric
    ("Node 9 scored 0.6.", "9"),  # no node 9
    ("Node 3 used DEGREE = 6.", "6"),  # node 4's parameter
    ("The search took 5 seconds.", "5"),  # 5 is a node id, not a duration
    ("Node 4 ran for 7.5 seconds.", "7.5"),  # node 5's run time
    ("The best node sits at depth 5.", "5"),  # no node that deep
    ("The run cost $1.5.", "1.5"),  # 1.5 is a run time, not a cost
    ("Node 4 beat node 1 by 0.3.", "0.3"),  # the gain is 0.25
    ("The best value was found after 45 seconds.", "45"),
    ("Node 6 scored 0.7.", "0.7"),  # node 3's metric; node 6 is buggy
    ("Over 2 seeds, node 4 averaged 0.8467.", "2"),
    ("The search made 4 debug steps.", "4"),
    ("The model made 7 calls.", "7"),
    ("Nodes 4 and 11 were the best two.", "11"),
    ("The search took 3m10s.", "3m10s"),  # it took 2m03s
]
TRUE = [
    "We searched 8 nodes with 2 workers within a budget of 12 nodes.",
    "Node 4 reached 0.85, against 0.6 for node 1, a gain of 0.25.",
    "Over 3 seeds node 4 averaged 0.8467 (std 0.01528).",
    "Node 4 used DEGREE = 6 at depth 2.",
    "Node 4 ran for 6 seconds; the search took 123.4 seconds (2.06 minutes).",
    "The best node finished 40 seconds into the search.",
    "3 of the 8 nodes did not produce a result.",
    "Node 5 scored 0.99 but was flagged.",
    "Nodes 3 and 4 lie on the path to the best node.",
    "The held-out score of node 4 was 0.81, 0.04 below its validation score.",
    "Time searching: 2m03s.",
    "The best node was reached in 2 steps from a draft.",
    "1 node hit the time limit of 60 seconds.",
    "The improvement over the first draft was 41.7%.",
    "Node 2 failed with `exit code 1: ValueError: shapes (3,) and (4,) not aligned`.",
    "4 valid nodes, 2 buggy and 1 flagged.",
]


@pytest.fixture(scope="module")
def facts(tmp_path_factory: pytest.TempPathFactory) -> Facts:
    root: Path = tmp_path_factory.mktemp("claims") / "runs"
    run_id = rich_run(root)
    store = RunStore(root, readonly=True)
    try:
        return collect(store, run_id)
    finally:
        store.close()


@pytest.mark.parametrize(("sentence", "bad"), FALSE)
def test_every_planted_false_sentence_is_rejected(facts: Facts, sentence: str, bad: str) -> None:
    report = check_text(sentence, facts.record, ignore=facts.ignore_words())
    assert not report.ok, sentence
    assert bad in [m.text for m in report.failures[0].unsupported]


@pytest.mark.parametrize("sentence", TRUE)
def test_true_sentences_are_accepted(facts: Facts, sentence: str) -> None:
    report = check_text(sentence, facts.record, ignore=facts.ignore_words())
    assert report.ok, describe_failures(report)
    assert report.checked >= 1


def test_the_old_bag_of_numbers_let_most_false_sentences_through(facts: Facts) -> None:
    bag = KnownNumbers(facts.numbers)
    passed = [s for s, _ in FALSE if check_text(s, bag, ignore=facts.ignore_words()).ok]
    assert len(passed) >= len(FALSE) // 2, passed


def test_the_reason_names_what_was_claimed(facts: Facts) -> None:
    report = check_text("We ran 12 seeds. Node 3 reached 0.84.", facts.record)
    text = describe_failures(report)
    assert "12: not a recorded number of seeds" in text
    assert "0.84: not a recorded value of node 3" in text


def test_the_digest_can_be_restated(facts: Facts) -> None:
    """Every labelled fact the model reads, restated plainly, is accepted (what the model saw is never refused)."""
    from discovery.writeup.facts import fmt

    for label, value in facts.headline:
        if isinstance(value, str):
            continue
        sentence = f"The {label} was {fmt(value, 6)}."
        report = check_text(sentence, facts.record, ignore=facts.ignore_words())
        assert report.ok, (label, describe_failures(report))
