"""The cost ledger against the scripted server over real HTTP: a hard cap, and prices for unknown models."""

from __future__ import annotations

import pytest

from agents.llm import CostLedger, CostLimitReached, LLMCall, LLMClient, LLMConfig, unpriced_models
from tests.llm_server import Reply, ScriptedLLM, fast_config

HELLO = [{"role": "user", "content": "Say hello."}]


async def test_the_ledger_refuses_every_call_once_the_cap_is_spent(llm: ScriptedLLM) -> None:
    calls: list[LLMCall] = []
    ledger = CostLedger(limit=0.01)
    # A long timeout: a first call through litellm can take seconds on a loaded machine, and a
    # retried request would consume the reply this test keeps unsent.
    client = LLMClient(fast_config(llm, model="openai/gpt-4o-mini", timeout=30.0), calls.append, ledger=ledger)
    llm.script(Reply("expensive", usage=(100_000, 1000)), Reply("never sent"))  # $0.0156 at gpt-4o-mini prices
    await client.complete(HELLO, role="code", purpose="draft")
    assert ledger.spent == pytest.approx(calls[0].cost) and ledger.spent >= 0.01
    with pytest.raises(CostLimitReached, match="cost limit of \\$0.01 is spent"):
        await client.complete(HELLO, role="value", purpose="value_after")
    assert len(llm.requests) == 1 and llm.pending == 1  # refused before any request went out
    # Another client on the same ledger (the write-up's) is refused too, at once.
    other = LLMClient(fast_config(llm, model="openai/gpt-4o-mini", timeout=30.0), ledger=ledger)
    with pytest.raises(CostLimitReached):
        await other.complete(HELLO, role="writeup", purpose="writeup")
    assert len(llm.requests) == 1


async def test_price_flags_price_a_model_litellm_does_not_know(llm: ScriptedLLM) -> None:
    calls: list[LLMCall] = []
    config = fast_config(llm, price_in=2.0, price_out=8.0)  # openai/scripted: not in litellm's table
    client = LLMClient(config, calls.append)
    llm.script(Reply("priced by the flags", usage=(1000, 500)))
    await client.complete(HELLO, role="code", purpose="draft")
    assert calls[0].cost == pytest.approx((1000 * 2.0 + 500 * 8.0) / 1e6)
    assert client.ledger.spent == pytest.approx(calls[0].cost)
    # A model litellm knows keeps its own price.
    known = LLMClient(fast_config(llm, model="openai/gpt-4o-mini", price_in=1000.0, price_out=1000.0), calls.append)
    llm.script(Reply("priced by litellm", usage=(1000, 500)))
    await known.complete(HELLO, role="code", purpose="draft")
    assert calls[1].cost < 0.001


def test_unpriced_models_are_named() -> None:
    config = LLMConfig(model="openai/scripted", models={"review": "openai/gpt-4o-mini"})
    assert unpriced_models(config) == ["openai/scripted"]
    assert unpriced_models(config.model_copy(update={"price_in": 1.0, "price_out": 2.0})) == []
    assert unpriced_models(LLMConfig(model="openai/gpt-4o-mini")) == []
