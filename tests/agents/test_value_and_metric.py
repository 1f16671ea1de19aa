"""The value agent and the metric reader return validated models from scripted replies."""

from __future__ import annotations

import json

import pytest

from agents.llm import LLMClient, LLMError
from agents.metric_reader import MetricReading, read_metric
from agents.value import ValueEstimate, estimate_value
from runs.models import Idea, MetricSpec, Node, NodeStatus
from tests.llm_server import ScriptedLLM, fast_config

IDEA = Idea(title="Tiny", metric=MetricSpec(name="val_acc"))
NODE = Node(run_id="r", id=5, operator="improve", plan="Use a wider layer.", code="print('hi')\n",
            status=NodeStatus.good, metric=0.91, stdout_tail="val_acc 0.91\n")


def client(server: ScriptedLLM, **kw) -> LLMClient:
    return LLMClient(fast_config(server, **kw))


async def test_value_before_and_after(llm: ScriptedLLM) -> None:
    llm.script('{"value": 0.3, "explanation": "plausible but untested"}',
               'Here you go:\n```json\n{"value": 0.8, "explanation": "beat the best"}\n```')
    before = await estimate_value(client(llm), IDEA, NODE.model_copy(update={"status": NodeStatus.running}),
                                  stage="before", best=0.85)
    after = await estimate_value(client(llm), IDEA, NODE, stage="after", best=0.85)
    assert before == ValueEstimate(value=0.3, explanation="plausible but untested", stage="before",
                                   model="openai/scripted")
    assert (after.value, after.stage) == (0.8, "after")
    first, second = llm.requests[0].text(), llm.requests[1].text()
    assert "has not run yet" in first and "Best val_acc so far: 0.85" in first and "val_acc 0.91" not in first
    assert "has run" in second and "val_acc 0.91" in second


async def test_malformed_json_is_repaired_once_then_fails(llm: ScriptedLLM) -> None:
    llm.script('{"value": 0.5, "explanation": "cut off', '{"value": 0.4}')
    est = await estimate_value(client(llm), IDEA, NODE, stage="after")
    assert est.value == 0.4
    assert "not valid (the reply holds no JSON object)" in llm.requests[1].messages[-1]["content"]
    llm.script('{"value": 1.7}', "no idea")
    with pytest.raises(LLMError, match="value agent: 2 replies without valid JSON; last: the reply holds no JSON"):
        await estimate_value(client(llm), IDEA, NODE, stage="after")


async def test_schema_is_sent_to_models_that_support_it(llm: ScriptedLLM) -> None:
    llm.script('{"value": 0.6, "explanation": "ok"}')
    await estimate_value(client(llm, model="openai/gpt-4o-mini"), IDEA, NODE, stage="before")
    fmt = llm.requests[0].body["response_format"]
    assert fmt["type"] == "json_schema" and set(fmt["json_schema"]["schema"]["properties"]) == {"value", "explanation"}


OUTPUT = "epoch 10 loss 0.31\nfinal: val_acc = 0.8734 (train 0.95)\n"


async def test_metric_read_from_output(llm: ScriptedLLM) -> None:
    llm.script(json.dumps({"found": True, "value": 0.8734, "quote": "final: val_acc = 0.8734 (train 0.95)"}))
    got = await read_metric(client(llm), MetricSpec(name="val_acc"), OUTPUT)
    assert got == MetricReading(found=True, value=0.8734, quote="final: val_acc = 0.8734 (train 0.95)",
                                model="openai/scripted")
    assert "final: val_acc = 0.8734" in llm.requests[0].text() and "FINAL value of val_acc" in llm.requests[0].text()


@pytest.mark.parametrize(("reply", "note"), [
    ({"found": True, "value": 0.99, "quote": "final: val_acc = 0.99"}, "the quoted line is not in the output"),
    ({"found": True, "value": 0.99, "quote": "final: val_acc = 0.8734 (train 0.95)"}, "does not hold 0.99"),
    ({"found": False, "value": None, "quote": ""}, "the model found no value"),
])
async def test_invented_or_missing_metrics_are_not_trusted(llm: ScriptedLLM, reply: dict, note: str) -> None:
    llm.script(json.dumps(reply))
    got = await read_metric(client(llm), MetricSpec(name="val_acc"), OUTPUT)
    assert not got.found and note in got.note
