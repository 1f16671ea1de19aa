"""The search benchmark's paired comparisons: on one seed, two runs of the whole agent path see
the same scientist answers and the same measurement noise at the same node, so a difference
between two policies comes from their choices alone (common random numbers)."""

from __future__ import annotations

import asyncio
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


@pytest.mark.slow
def test_four_workers_finish_in_the_seeds_order_so_a_run_repeats():
    first = run_discover("crashy", 1, "greedy", 4, 24)
    again = run_discover("crashy", 1, "greedy", 4, 24)
    assert len(first.curve) == 24 and first.curve == again.curve and first.operators == again.operators
    adaptive = run_discover("crashy", 1, "adaptive", 4, 24)  # too few nodes to widen here too
    assert adaptive.curve == first.curve


async def test_the_seeded_order_releases_by_virtual_end_whatever_the_real_order():
    from finish_order import SeededOrder

    flying: set[int] = set()
    order = SeededOrder(in_flight=lambda: set(flying))
    ends = {}
    for node in (1, 2, 3):
        flying.add(node)
        order.start(node, seed=4)
        ends[node] = order.ends[node]
    released: list[int] = []

    async def node_ends(node: int) -> None:
        await order.finish(node)
        released.append(node)
        flying.discard(node)  # the engine records it
        order.poke()

    # The scripts end in id order; the results come back in the order of their virtual ends.
    tasks = [asyncio.create_task(node_ends(n)) for n in (1, 2, 3)]
    await asyncio.wait_for(asyncio.gather(*tasks), 5)
    assert released == sorted(ends, key=ends.get) and sorted(released) == [1, 2, 3]
    assert released != [1, 2, 3], "seed 4 draws an order other than the ids' (else this shows nothing)"


async def test_a_node_in_flight_but_not_yet_running_holds_the_others_back():
    from finish_order import SeededOrder

    flying = {1, 2}
    order = SeededOrder(in_flight=lambda: set(flying))
    order.start(1, seed=1)  # seed 1: node 2's virtual run is the shorter
    one = asyncio.create_task(order.finish(1))
    await asyncio.sleep(0.05)
    assert not one.done(), "node 2 is still being proposed: it may end first"
    order.start(2, seed=1)
    two = asyncio.create_task(order.finish(2))
    await asyncio.wait_for(two, 5)
    assert not one.done(), "node 2 ends first, and node 1 waits until the engine has recorded it"
    flying.discard(2)
    order.poke()
    await asyncio.wait_for(one, 5)
    assert order.now > 0 and not order.ends


async def test_a_node_cancelled_while_held_lets_the_others_go():
    from finish_order import SeededOrder

    flying = {1, 2}
    order = SeededOrder(in_flight=lambda: set(flying))
    order.start(1, seed=0)
    order.start(2, seed=0)  # seed 0: node 1 ends first, so node 2 is held until it has
    two = asyncio.create_task(order.finish(2))
    await asyncio.sleep(0.05)
    assert not two.done()
    two.cancel()  # e.g. pruned: the engine cancels its task
    await asyncio.wait([two])
    flying.discard(2)
    order.poke()
    await asyncio.wait_for(order.finish(1), 5)
    assert two.cancelled() and not order.ends


@pytest.mark.slow
def test_with_the_value_agent_four_workers_still_repeat_and_estimates_pair():
    # The value agent's calls come between other nodes' proposals; its estimates are drawn
    # from the script alone, so they shift nothing else and a run still repeats.
    first = run_discover("crashy", 5, "mcts", 4, 20, value=True)
    again = run_discover("crashy", 5, "mcts", 4, 20, value=True)
    assert len(first.curve) == 20 and first.curve == again.curve and first.operators == again.operators
    assert first.value_pairs and first.value_pairs == again.value_pairs


@pytest.mark.slow
def test_a_variant_runs_under_its_label_and_only_on_the_tuning_split():
    import subprocess

    from search_quality import _job

    out = _job(("fourier", 0, "s12=adaptive:stall=12", 1, 6, False, "fork", True, None))
    assert out["policy"] == "s12" and len(out["curve"]) == 6
    refused = subprocess.run([sys.executable, str(ROOT / "bench" / "search_quality.py"), "--variant",
                              "x=adaptive:stall=4"], capture_output=True, text=True, timeout=60)
    assert refused.returncode == 2 and "--variant: constants are tried on the tuning split only" in refused.stderr
