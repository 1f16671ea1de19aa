"""The number-grounding check: numbers in a text against the numbers a run recorded."""

from __future__ import annotations

import pytest

from reviewers.grounding import KnownNumbers, check_text, drop_unsupported, extract_numbers

RECORDED = KnownNumbers([0.813333, 0.436667, 0.376667, 10, 2, 0.0001, 1000, 185.4, 3.09, -0.12, 86.2595])


def test_extracts_quantities_not_names() -> None:
    text = ("Node 10 reached 0.8133 (81.3%) with L2 = 1e-4 on an H100 under Python 3.11.2, see Figure 7; "
            "it beat 1,000 baselines in 12.5s and 2.5x faster, conv2d and 10k too.")
    found = {m.text: m for m in extract_numbers(text)}
    assert set(found) == {"10", "0.8133", "81.3%", "1e-4", "1,000", "12.5s", "2.5x"}
    assert found["81.3%"].percent and found["81.3%"].value == pytest.approx(81.3) and found["81.3%"].decimals == 1
    assert found["1e-4"].value == pytest.approx(1e-4) and found["1e-4"].decimals == 4
    assert found["1,000"].value == 1000 and found["0.8133"].significant == 4


def test_ignores_list_numbering_and_given_words() -> None:
    text = "1. node 2 ran first\n2. run 20261124-082417-mlp did the rest"
    values = [m.value for m in extract_numbers(text, ignore=["20261124-082417-mlp"])]
    assert values == [2.0]


@pytest.mark.parametrize("sentence", [
    "The best accuracy was 0.8133.",  # rounded to the digits shown
    "The best accuracy was 0.81.",  # two significant digits are enough
    "It reached 81.3% accuracy.",  # a fraction written as a percentage
    "That is 86% better than the first draft.",  # a recorded percentage, rounded
    "It gained 0.3767 over the first draft, after 10 nodes.",
    "Accuracy dropped by 0.12 at one point.",  # signs are ignored
    "The weight decay was 1e-4 and 1,000 points were used.",
    "The run took 185 seconds.",
])
def test_accepts_recorded_numbers(sentence: str) -> None:
    report = check_text(sentence, RECORDED)
    assert report.ok, report.failures
    assert report.checked >= 1


@pytest.mark.parametrize(("sentence", "bad"), [
    ("The best accuracy was 0.9731.", "0.9731"),  # made up
    ("The best accuracy was 0.8134.", "0.8134"),  # one digit off at the precision shown
    ("The best accuracy was about 1.", "1"),  # one significant digit does not stand for 0.8133
    ("It took 3 minutes.", "3"),  # 3.09 rounded to one digit: not accepted
    ("We ran 12 seeds.", "12"),
])
def test_rejects_planted_numbers(sentence: str, bad: str) -> None:
    report = check_text(sentence, RECORDED)
    assert not report.ok
    assert [m.text for m in report.failures[0].unsupported] == [bad]


def test_drop_keeps_good_sentences_and_list_items() -> None:
    text = ("The best accuracy was 0.8133. It was 0.9731 on a second try. It ran for 10 nodes.\n\n"
            "- first draft at 0.4367\n- an invented 42.5 gain\n")
    kept, report = drop_unsupported(text, RECORDED)
    assert kept == "The best accuracy was 0.8133. It ran for 10 nodes.\n\n- first draft at 0.4367"
    assert report.dropped == ["It was 0.9731 on a second try.", "an invented 42.5 gain"]
    assert report.checked == 5


def test_empty_record_supports_nothing() -> None:
    assert not check_text("It scored 0.5.", KnownNumbers([])).ok
    assert check_text("No numbers here.", KnownNumbers([])).ok
