"""How the end of a run shares ``--time``: what the search leaves to final selection and the write-up.

``--time`` bounds the whole run. The search therefore stops early enough to leave the end
of the run its part: the final selection (``--final-seeds``, the held-out script) its
estimated time, and the write-up a share of the limit. Whatever is left when the write-up
starts is what it gets; with too little for a model it is written from templates.
Pure functions of numbers: no clock, no store.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

KILL_GRACE = 2.0  # seconds to stop the nodes still running when the search ends (SIGTERM, then SIGKILL)
REPORT_SHARE_MODEL = 0.1  # of --time kept for a report a model writes and reviews
REPORT_CAP_MODEL = 300.0  # seconds: a model write-up and panel need no more than this
END_SHARE = 0.5  # the end of the run never takes more than this share of --time from the search
MIN_MODEL_SECONDS = 10.0  # below this the write-up does not ask the model at all
_FINAL_MARGIN = 1.2  # re-runs take a little longer than the search's own run of a node
_RUN_OVERHEAD = 1.0  # seconds per re-run to start and stop it


def render_seconds(nodes: int) -> float:
    """Seconds a model-free report of a run with ``nodes`` nodes takes to write. Measured on 2
    busy cores: 8 s for 20 nodes, 7.6 s for 1,000, 32 s for 10,000 (bench/report_scale.py);
    about 3 s for 20 nodes when the cores are free. Most of it is drawing the figures."""
    return 5.0 + 0.003 * nodes


def assemble_seconds(nodes: int) -> float:
    """Seconds to put a report together once its figures and text exist (tree page, HTML, LaTeX):
    the tree page alone took 8 s for 10,000 nodes on 2 busy cores."""
    return 1.0 + 0.0015 * nodes


def report_reserve(time_limit: float, *, with_model: bool, nodes: int) -> float:
    """Seconds at the end of ``time_limit`` kept for writing the report."""
    floor = render_seconds(nodes)
    if with_model:
        return max(floor, min(REPORT_SHARE_MODEL * time_limit, REPORT_CAP_MODEL))
    return floor


def final_reserve(exec_seconds: Sequence[float | None], *, seeds: int, workers: int, holdout: bool) -> float:
    """Seconds the final selection of these top nodes is expected to take: the re-runs in rounds
    of ``workers`` at the pace of the slowest of them, then the held-out script once."""
    if not exec_seconds:
        return 0.0
    slowest = max(s or 0.0 for s in exec_seconds) + _RUN_OVERHEAD
    rounds = math.ceil(len(exec_seconds) * seeds / max(1, workers))
    return _FINAL_MARGIN * slowest * (rounds + (1 if holdout else 0))


def end_reserve(time_limit: float, report: float, final: float) -> float:
    """The part of ``time_limit`` the search leaves to the end of the run: stopping the nodes
    still running, the final selection and the report, at most ``END_SHARE`` of it."""
    return min(KILL_GRACE + final + report, END_SHARE * time_limit)
