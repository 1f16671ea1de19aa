"""The search benchmark's paired comparisons: on one seed, two runs of the whole agent path see
the same scientist answers and the same measurement noise at the same node, so a difference
between two policies comes from their choices alone (common random numbers)."""

from __future__ import annotations

import sys

import pytest

from tests.conftest import ROOT

sys.path.insert(0, str(ROOT / "bench"))

from agent_bench import run_discover  # noqa: E402


@pytest.mark.slow
def test_one_seed_gives_one_run_and_adaptive_matches_greedy_until_it_widens():
    first = run_discover("noisy", 1001, "greedy", 1, 12)
    again = run_discover("noisy", 1001, "greedy", 1, 12)
    assert len(first.curve) == 12 and first.curve == again.curve
    # 12 nodes: too few for adaptive to widen (3 drafts, then 8 stalled nodes) or to ablate.
    adaptive = run_discover("noisy", 1001, "adaptive", 1, 12)
    assert adaptive.curve == first.curve and adaptive.operators == first.operators
    other = run_discover("noisy", 1002, "greedy", 1, 12)
    assert other.curve != first.curve, "another seed is another landscape and other noise"
