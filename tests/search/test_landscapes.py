"""The search benchmark's hidden landscapes: the two splits never mix, each landscape is a
function of its family and seed, and its score is on the scale the tables read."""

from __future__ import annotations

import random
import sys

import pytest

from tests.conftest import ROOT

sys.path.insert(0, str(ROOT / "bench"))

from landscapes import EVAL_FAMILIES, EVAL_SEEDS, TUNE_FAMILIES, TUNE_SEEDS, make  # noqa: E402


def test_the_tuning_and_evaluation_splits_share_no_family_and_no_seed() -> None:
    assert not set(EVAL_FAMILIES) & set(TUNE_FAMILIES)
    assert not set(EVAL_SEEDS) & set(TUNE_SEEDS)
    assert len(EVAL_FAMILIES) >= 6


@pytest.mark.parametrize("family", EVAL_FAMILIES + TUNE_FAMILIES)
def test_a_landscape_is_its_seed_and_scores_from_median_to_optimum(family: str) -> None:
    seed = (EVAL_SEEDS if family in EVAL_FAMILIES else TUNE_SEEDS)[3]
    land, again = make(family, seed), make(family, seed)
    assert land.embedded() == again.embedded() and land.character == again.character
    assert make(family, seed + 1).embedded() != land.embedded()
    assert land.optimum is not None and land.normalise(land.raw(land.optimum)) == pytest.approx(1.0)
    rng = random.Random(0)
    values = sorted(land.value(land.config([rng.random() for _ in range(land.dim)])) for _ in range(400))
    assert -0.15 < values[200] < 0.15, "0 is the median random configuration"
    assert values[-1] <= 1.0 + 1e-9, "nothing beats the optimum"


def test_the_noisy_families_measure_through_noise_larger_than_most_steps() -> None:
    for family in ("noisy", "jitter"):
        noise = [make(family, s).noise for s in (EVAL_SEEDS if family == "noisy" else TUNE_SEEDS)[:5]]
        assert min(noise) >= 0.05 and max(noise) <= 0.12
    assert make("twopeak", 3).noise < 0.05
