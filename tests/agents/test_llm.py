"""The litellm client against the scripted server over real HTTP: replies, retries, timeouts, cost, checks."""

from __future__ import annotations

import json
import time

import pytest

from agents.llm import (
    LLMCall,
    LLMClient,
    LLMConfig,
    LLMError,
    ModelCheckError,
    acheck_model,
    check_model,
    node_scope,
)
from tests.llm_server import Reply, Request, ScriptedLLM, fast_config

HELLO = [{"role": "user", "content": "Say hello."}]


def client_for(server: ScriptedLLM, **kw) -> tuple[LLMClient, list[LLMCall]]:
    calls: list[LLMCall] = []
    return LLMClient(fast_config(server, **kw), calls.append), calls


async def test_reply_is_recorded_with_tokens_node_and_ids(llm: ScriptedLLM) -> None:
    client, calls = client_for(llm)
    llm.script(Reply("hello there", usage=(42, 7)))
    with node_scope(12):
        done = await client.complete(HELLO, role="code", purpose="draft")
    assert done.text == "hello there"
    [call] = calls
    assert (call.role, call.model, call.node_id, call.attempt) == ("draft", "openai/scripted", 12, 1)
    assert (call.tokens_in, call.tokens_out, call.error) == (42, 7, None)
    assert call.request_id == "chatcmpl-scripted-" + call.request_id.rsplit("-", 1)[1] and call.latency > 0
    assert call.cost == 0.0  # an unknown model has no price: zero, not an error
    assert call.reply == "hello there" and call.messages == HELLO and len(call.prompt_hash) == 16
    assert "messages" not in call.model_dump() and "reply" not in call.model_dump()
    [req] = llm.requests
    assert req.body["model"] == "scripted" and req.messages == HELLO
    # A local server needs no key: a placeholder goes out instead of the SDK refusing to send.
    assert req.headers["authorization"] == "Bearer not-needed"
    llm.script("x")
    await client.complete(HELLO, role="code", purpose="draft")  # outside any node scope
    assert calls[-1].node_id is None


@pytest.mark.parametrize("raw", [
    # litellm itself moves a leading <think> block out of the content...
    "<think>\nThe user says hello. ```python\nprint('draft')\n```\n</think>\n\nHello!",
    # ... but not a reply whose opening tag was in the chat template, nor a second block.
    "The user says hello.\n```python\nprint('draft')\n```\n</think>\n\nHello!",
    "<think>one</think>\n<think>two ```python\nprint('draft')\n```</think>Hello!",
])
async def test_a_reasoning_models_thoughts_are_not_its_answer(llm: ScriptedLLM, raw: str) -> None:
    client, calls = client_for(llm)
    llm.script(Reply(raw))
    done = await client.complete(HELLO, role="code", purpose="draft")
    assert done.text.strip() == "Hello!"
    assert calls[-1].reply.strip().endswith("Hello!")  # the record keeps the reply as received


@pytest.mark.parametrize("refusal", [
    "System role not supported",  # vLLM and TGI serving Gemma: its chat template raises this
    "Conversation roles must alternate user/assistant/user/assistant/...",  # older Mistral templates
])
async def test_a_model_without_a_system_role_gets_it_in_the_user_message(refusal: str) -> None:
    def handler(req: Request) -> Reply:
        if any(m["role"] == "system" for m in req.messages):
            body = {"object": "error", "message": refusal, "type": "BadRequestError", "param": None, "code": 400}
            return Reply(status=400, raw=json.dumps(body))
        return Reply("fine")

    with ScriptedLLM(handler=handler) as server:
        client, calls = client_for(server, max_retries=0)  # the re-send is not one of the retries
        asked = [{"role": "system", "content": "You are careful."}, {"role": "user", "content": "Say hello."}]
        assert (await client.complete(asked, role="code", purpose="draft")).text == "fine"
        assert server.requests[-1].messages == [{"role": "user", "content": "You are careful.\n\nSay hello."}]
        assert [c.error is None for c in calls] == [False, True] and refusal[:20] in calls[0].error
        # The model's next calls go without a system message at once.
        assert (await client.complete(asked, role="code", purpose="improve")).text == "fine"
        assert len(server.requests) == 3


@pytest.mark.parametrize("error", [
    {"message": "This model's maximum context length is 2048 tokens. However, you requested 2300 tokens.",
     "type": "BadRequestError"},  # vLLM (litellm: ContextWindowExceededError)
    {"message": "the request exceeds the available context size, try increasing it",
     "type": "exceed_context_size_error"},  # llama.cpp's server (litellm: a plain BadRequestError)
])
async def test_a_prompt_longer_than_the_context_is_its_own_error(llm: ScriptedLLM, error: dict) -> None:
    from agents.llm import ContextTooLong

    client, _ = client_for(llm)
    llm.script(Reply(status=400, raw=json.dumps({"error": {**error, "code": 400}})))
    with pytest.raises(ContextTooLong):
        await client.complete(HELLO, role="code", purpose="draft")
    assert len(llm.requests) == 1  # not retried as it is


async def test_other_bad_requests_are_still_not_retried(llm: ScriptedLLM) -> None:
    client, calls = client_for(llm)
    body = {"error": {"message": "max_tokens must be at least 1", "type": "invalid_request_error"}}
    llm.script(Reply(status=400, raw=json.dumps(body)))
    with pytest.raises(LLMError, match="max_tokens must be at least 1"):
        await client.complete([{"role": "system", "content": "s"}, *HELLO], role="code", purpose="draft")
    assert len(llm.requests) == 1


async def test_429_then_success_backs_off_and_records_both(llm: ScriptedLLM) -> None:
    client, calls = client_for(llm)
    llm.script(Reply(status=429, headers={"Retry-After": "0.2"}), Reply("ok"))
    t0 = time.monotonic()
    done = await client.complete(HELLO, role="code", purpose="improve")
    assert done.text == "ok" and len(llm.requests) == 2
    assert time.monotonic() - t0 >= 0.05  # honoured Retry-After, capped at backoff_max
    assert [c.attempt for c in calls] == [1, 2]
    assert "RateLimitError 429" in calls[0].error and calls[1].error is None


async def test_repeated_500s_give_a_recorded_failure_after_bounded_retries(llm: ScriptedLLM) -> None:
    client, calls = client_for(llm, max_retries=2)
    llm.script(*[Reply(status=500)] * 5)
    with pytest.raises(LLMError, match="debug call to openai/scripted failed after 3 attempts: InternalServerError"):
        await client.complete(HELLO, role="code", purpose="debug")
    assert len(llm.requests) == 3 and llm.pending == 2
    assert len(calls) == 3 and all(c.error and c.cost == 0 for c in calls)


async def test_malformed_response_body_is_retried(llm: ScriptedLLM) -> None:
    client, calls = client_for(llm)
    llm.script(Reply(raw="{not json"), Reply("fine"))
    assert (await client.complete(HELLO, role="code", purpose="draft")).text == "fine"
    assert calls[0].error and calls[1].error is None


async def test_permanent_errors_are_not_retried(llm: ScriptedLLM) -> None:
    client, calls = client_for(llm, max_retries=3)
    llm.script(Reply(status=400), Reply("never sent"))
    with pytest.raises(LLMError, match="BadRequestError 400"):
        await client.complete(HELLO, role="code", purpose="draft")
    assert len(llm.requests) == 1 and len(calls) == 1


async def test_slow_replies_time_out_and_a_fast_retry_succeeds(llm: ScriptedLLM) -> None:
    # The timeout is per request, the quick retry's too: it leaves a busy machine room for that one.
    client, calls = client_for(llm, timeout=1.5, max_retries=1)
    llm.script(Reply("warm"))  # litellm's first call in a process sets itself up, slowly: not timed
    await client.complete(HELLO, role="code", purpose="draft")
    calls.clear()
    llm.script(Reply("late", delay=6), Reply("quick"))
    t0 = time.monotonic()
    assert (await client.complete(HELLO, role="code", purpose="draft")).text == "quick"
    assert time.monotonic() - t0 < 5  # the late reply was not waited for
    assert "Timeout" in calls[0].error
    llm.script(Reply("late", delay=6), Reply("late", delay=6))
    t0 = time.monotonic()
    with pytest.raises(LLMError, match="after 2 attempts"):
        await client.complete(HELLO, role="code", purpose="draft")
    assert time.monotonic() - t0 < 5.5  # two timeouts of 1.5 s, never a full delay


async def test_cost_comes_from_litellm_prices(llm: ScriptedLLM) -> None:
    import litellm

    client, calls = client_for(llm, model="openai/gpt-4o-mini")
    llm.script(Reply("priced", usage=(1000, 500)))
    await client.complete(HELLO, role="code", purpose="draft")
    price = litellm.model_cost["gpt-4o-mini"]
    expected = 1000 * price["input_cost_per_token"] + 500 * price["output_cost_per_token"]
    assert calls[0].cost == pytest.approx(expected) and expected > 0
    assert client.total_cost == pytest.approx(expected)


async def test_async_callback_and_a_failing_callback(llm: ScriptedLLM) -> None:
    seen: list[str] = []

    async def record(call: LLMCall) -> None:
        seen.append(call.role)

    def broken(call: LLMCall) -> None:
        raise RuntimeError("store is down")

    llm.script("a", "b")
    await LLMClient(fast_config(llm), record).complete(HELLO, role="value", purpose="value_before")
    # A recorder that fails must not turn a good reply into a failure.
    assert (await LLMClient(fast_config(llm), broken).complete(HELLO, role="code", purpose="draft")).text == "b"
    assert seen == ["value_before"]


async def test_roles_use_their_own_models(llm: ScriptedLLM) -> None:
    client, calls = client_for(llm, models={"review": "openai/reviewer"})
    llm.script("x", "y")
    await client.complete(HELLO, role="code", purpose="draft")
    await client.complete(HELLO, role="review", purpose="review")
    assert [r.body["model"] for r in llm.requests] == ["scripted", "reviewer"]
    assert [c.model for c in calls] == ["openai/scripted", "openai/reviewer"]


# -- checks before a run --------------------------------------------------------------------

async def test_check_passes_and_probes_once_per_model(llm: ScriptedLLM) -> None:
    llm.script("OK", "OK")
    await acheck_model(fast_config(llm, models={"review": "openai/other"}))
    assert sorted(r.body["model"] for r in llm.requests) == ["other", "scripted"]


@pytest.mark.parametrize(("overrides", "message"), [
    ({"model": "gpt-9"}, "^model gpt-9: unknown model; name it as provider/model"),
    ({"models": {"review": "nonsense-xyz"}}, "^review_model nonsense-xyz: unknown model"),
    ({"api_key_env": "DISCOVER_TEST_NO_SUCH_KEY"}, "the key variable DISCOVER_TEST_NO_SUCH_KEY is not set"),
])
async def test_check_rejects_bad_configs_without_a_request(llm: ScriptedLLM, overrides: dict, message: str) -> None:
    with pytest.raises(ModelCheckError, match=message) as info:
        await acheck_model(fast_config(llm, **overrides))
    assert "\n" not in str(info.value) and llm.requests == []


async def test_check_missing_provider_key(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("ANTHROPIC_API_KEY", raising=False)
    with pytest.raises(ModelCheckError, match="anthropic/claude-sonnet-4-5: missing key, set ANTHROPIC_API_KEY"):
        await acheck_model(LLMConfig(model="anthropic/claude-sonnet-4-5"))


def test_quick_check_refuses_a_missing_key_without_litellm() -> None:
    from agents.llm import quick_check

    with pytest.raises(ModelCheckError, match="^model anthropic/claude-sonnet-4-5: missing key, set ANTHROPIC_API_KEY"):
        quick_check(LLMConfig(model="anthropic/claude-sonnet-4-5"), env={})
    with pytest.raises(ModelCheckError, match="^review_model openai/r: missing key, set OPENAI_API_KEY"):
        quick_check(LLMConfig(model="anthropic/a", models={"review": "openai/r"}), env={"ANTHROPIC_API_KEY": "k"})
    with pytest.raises(ModelCheckError, match="the key variable MY_KEY is not set"):
        quick_check(LLMConfig(model="openai/x", api_key_env="MY_KEY"), env={"OPENAI_API_KEY": "k"})
    quick_check(LLMConfig(model="openai/x", api_base="http://127.0.0.1:9/v1"), env={})  # a local server: no key
    quick_check(LLMConfig(model="ollama/llama3"), env={})  # not sure which key: left to the full check


async def test_a_started_check_holds_every_call_and_fails_them_with_its_error(llm: ScriptedLLM) -> None:
    llm.script(Reply(status=401))  # the probe is refused
    client = LLMClient(fast_config(llm))
    check = client.start_check()
    with pytest.raises(ModelCheckError, match="authentication failed"):
        await client.complete([{"role": "user", "content": "hi"}], role="code", purpose="draft")
    assert check.done() and len(llm.requests) == 1  # the call itself was never sent
    llm.script("OK", "the answer")
    client = LLMClient(fast_config(llm))
    client.start_check()
    reply = await client.complete([{"role": "user", "content": "hi"}], role="code", purpose="draft")
    assert reply.text == "the answer" and [r.messages[-1]["content"] for r in llm.requests[1:]] == [
        "Reply with the word OK.", "hi"]


async def test_check_auth_error_and_unknown_model_on_the_server(monkeypatch: pytest.MonkeyPatch) -> None:
    with ScriptedLLM(api_key="secret") as server:
        monkeypatch.setenv("DISCOVER_TEST_KEY", "wrong")
        config = fast_config(server, api_key_env="DISCOVER_TEST_KEY")
        with pytest.raises(ModelCheckError, match=r"^model openai/scripted at http://127\.0\.0\.1:\d+/v1: "
                                                  r"authentication failed \(check the key\)$"):
            await acheck_model(config)
        assert len(server.requests) == 1  # auth errors are not retried
        monkeypatch.setenv("DISCOVER_TEST_KEY", "secret")
        server.script("OK")
        await acheck_model(config)
        server.script(Reply(status=404))
        with pytest.raises(ModelCheckError, match="the server does not know this model"):
            await acheck_model(config)


async def test_check_unreachable_server() -> None:
    config = LLMConfig(model="openai/x", api_base="http://127.0.0.1:9/v1", timeout=2, max_retries=0)
    with pytest.raises(ModelCheckError, match="^model openai/x at http://127.0.0.1:9/v1: .*Connection error"):
        await acheck_model(config)


def test_a_run_config_holds_the_one_copy_of_the_model_settings() -> None:
    from agents.llm import run_llm, with_llm
    from runs.models import RunConfig

    llm = LLMConfig(model="openai/m", api_base="http://h/v1", models={"review": "openai/r"}, timeout=30)
    config = with_llm(RunConfig(budget=3), llm)
    assert run_llm(config) == llm and config.budget == 3
    assert run_llm(RunConfig.model_validate_json(config.model_dump_json())) == llm  # as the store keeps it
    assert run_llm(with_llm(config, None)) is None and run_llm(RunConfig()) is None


def test_resolve_merges_file_env_and_flags() -> None:
    assert LLMConfig.resolve({}, None, env={}) is None
    cfg = LLMConfig.resolve({"model": None, "review_model": "openai/r"}, {"model": "openai/f", "timeout": 30},
                            env={"DISCOVER_MODEL": "openai/e", "DISCOVER_API_BASE": "http://h/v1"})
    assert (cfg.model, cfg.api_base, cfg.timeout, cfg.model_for("review"), cfg.model_for("value")) == \
        ("openai/e", "http://h/v1", 30, "openai/r", "openai/e")
    assert LLMConfig.resolve({"model": "openai/flag"}, env={"DISCOVER_MODEL": "openai/e"}).model == "openai/flag"
    with pytest.raises(ModelCheckError, match="^review_model: a role model needs a default model too"):
        LLMConfig.resolve({"review_model": "openai/r"}, env={})
    with pytest.raises(ModelCheckError, match="llm config timeout: Input should be greater than 0"):
        LLMConfig.resolve({"model": "openai/m", "timeout": 0}, env={})


def test_sync_check_then_calls_in_a_new_event_loop(llm: ScriptedLLM) -> None:
    # The CLI checks with asyncio.run before the run's own loop starts: clients cached by
    # litellm in the first loop must not break the second.
    import asyncio

    llm.script("OK", "reply")
    check_model(fast_config(llm))
    client, calls = client_for(llm)
    assert asyncio.run(client.complete(HELLO, role="code", purpose="draft")).text == "reply"
    assert calls[0].error is None
