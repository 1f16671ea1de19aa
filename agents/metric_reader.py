"""Read the metric from a node's output when it wrote no metrics.json.

metrics.json stays the protocol; this is the fallback. The model must quote the output line
it read the number from, and the quote must be in the output and hold that number, so a
reply that invents a value is rejected rather than stored.
"""

from __future__ import annotations

import math
import re

from pydantic import BaseModel, Field

from agents import prompts
from agents.extract import BadJSON, ask_json
from agents.llm import LLMError
from runs.models import MetricSpec

_NUMBER = re.compile(r"[-+]?(?:\d+\.?\d*|\.\d+)(?:[eE][-+]?\d+)?")


class MetricReading(BaseModel):
    """A metric read from output by a model (``found`` False when it was not there or not trusted)."""

    found: bool
    value: float | None = None
    quote: str = ""  # the output line the value was read from
    note: str = ""  # why it was rejected, when it was
    source: str = "llm"
    model: str = ""


class _Reply(BaseModel):
    found: bool
    value: float | None = None
    quote: str = Field(default="", max_length=1000)


async def read_metric(client, metric: MetricSpec, stdout: str, stderr: str = "") -> MetricReading:  # noqa: ANN001
    """The final value of ``metric`` in the output, checked against the quoted line."""
    output = prompts.cut(stdout, 6000) + ("\n" + prompts.cut(stderr, 2000) if stderr.strip() else "")
    msgs = prompts.messages(
        prompts.SYSTEM_JUDGE,
        f"An experiment should have written {metric.name!r} to metrics.json but did not. "
        f"Find the FINAL value of {metric.name} (computed on validation data) in its output below. "
        "Do not guess: if it is not clearly printed, answer found=false.",
        f"Output:\n```\n{output}\n```",
        prompts.json_instructions({"found": "true or false", "value": "the number, or null",
                                   "quote": "the exact output line holding the number"}),
    )
    try:
        reply = await ask_json(client, msgs, _Reply, role="metric", purpose="metric")
    except BadJSON as exc:
        raise LLMError(f"metric reader: {exc}") from exc
    model = client.config.model_for("metric")
    if not reply.found or reply.value is None:
        return MetricReading(found=False, note="the model found no value", model=model)
    problem = _check(reply, stdout + "\n" + stderr)
    if problem:
        return MetricReading(found=False, value=reply.value, quote=reply.quote, note=problem, model=model)
    return MetricReading(found=True, value=reply.value, quote=reply.quote.strip(), model=model)


def _check(reply: _Reply, output: str) -> str | None:
    value = reply.value
    if value is None or not math.isfinite(value):
        return "the value is not a finite number"
    quote = " ".join(reply.quote.split())
    if not quote or quote not in " ".join(output.split()):
        return "the quoted line is not in the output"
    numbers = [float(n) for n in _NUMBER.findall(quote)]
    if not any(math.isclose(n, value, rel_tol=1e-6, abs_tol=1e-12) for n in numbers):
        return f"the quoted line does not hold {value!r}"
    return None
