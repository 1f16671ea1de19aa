"""Each operator of the LLM agent turns scripted replies into a Proposal (or a clear failure)."""

from __future__ import annotations

import pytest

from agents.base import ExpansionContext, ExpansionError, NothingToTry
from agents.llm_agent import LLMAgent
from runs.models import Idea, MetricSpec, Node, NodeStatus
from tests.llm_server import Reply, ScriptedLLM, fast_config

BASELINE = 'import json\nLR = 0.01\nWIDTH = 8\njson.dump({"acc": LR * WIDTH}, open("metrics.json", "w"))\n'
IDEA = Idea(title="Tiny", hypothesis="Wider is better.", metric=MetricSpec(name="acc"), baseline=BASELINE,
            search_space={"LR": [0.01, 0.1], "WIDTH": [8, 16]}, data=["/srv/data/train.csv"], time_limit=60)


def script(lr: float = 0.1, width: int = 8, extra: str = "") -> str:
    return BASELINE.replace("LR = 0.01", f"LR = {lr}").replace("WIDTH = 8", f"WIDTH = {width}") + extra


def fenced(code: str, plan: str = "A plan.", header: str = "") -> str:
    return f"{header}\n{plan}\n\n```python\n{code}```\n"


def node(i: int, *, parent: int | None = None, operator: str = "draft", status: NodeStatus = NodeStatus.good,
         metric: float | None = 0.5, code: str | None = BASELINE, **kw) -> Node:
    return Node(run_id="r", id=i, parent_id=parent, operator=operator, status=status, metric=metric, code=code,
                plan=kw.pop("plan", f"plan of node {i}"), **kw)


def ctx(operator: str, parent: Node | None = None, ancestors=(), related=()) -> ExpansionContext:
    return ExpansionContext(idea=IDEA, operator=operator, parent=parent, ancestors=list(ancestors),
                            related=list(related))


def agent(server: ScriptedLLM) -> LLMAgent:
    return LLMAgent(fast_config(server))


async def test_draft_prompt_has_idea_protocol_and_baseline(llm: ScriptedLLM) -> None:
    llm.script(fenced(script(width=16), plan="PLAN: Widen the hidden layer to 16."))
    p = await agent(llm).propose(ctx("draft"))
    assert p.code == script(width=16) and p.plan == "Widen the hidden layer to 16."
    assert p.params == {"LR": 0.1, "WIDTH": 16}  # the search-space constants the script sets
    prompt = llm.requests[0].text()
    for needle in ("Research idea: Tiny", "Wider is better.", "python experiment.py", '"acc" as a number',
                   "data/train.csv", "no network access", "LR = 0.01", "```python"):
        assert needle in prompt, needle
    assert llm.requests[0].messages[0]["role"] == "system"


async def test_reply_without_code_is_retried_once_then_fails_cleanly(llm: ScriptedLLM) -> None:
    llm.script("I'd rather not.", fenced(script()))
    p = await agent(llm).propose(ctx("draft"))
    assert p.code == script()
    retry = llm.requests[1].messages
    assert retry[-2] == {"role": "assistant", "content": "I'd rather not."}
    assert "no ```python code block" in retry[-1]["content"]
    llm.script("Nope.", "```python\ndef broken(:\n```")
    with pytest.raises(ExpansionError, match="2 replies without usable code; last: the code block does not parse"):
        await agent(llm).propose(ctx("draft"))


async def test_llm_failures_become_expansion_errors(llm: ScriptedLLM) -> None:
    llm.script(*[Reply(status=503)] * 3)
    with pytest.raises(ExpansionError, match="draft call to openai/scripted failed after 3 attempts"):
        await agent(llm).propose(ctx("draft"))


async def test_debug_sees_the_error_and_output_tails(llm: ScriptedLLM) -> None:
    buggy = node(2, parent=1, status=NodeStatus.buggy, metric=None, code=script(extra="raise ValueError('boom')\n"),
                 error="exit code 1: ValueError: boom", stdout_tail="epoch 0 loss 1.2\n",
                 stderr_tail="Traceback...\nValueError: boom\n")
    llm.script(fenced(script(), plan="Remove the stray raise."))
    p = await agent(llm).propose(ctx("debug", buggy, ancestors=[node(1)]))
    assert p.code == script() and "stray raise" in p.plan
    prompt = llm.requests[0].text()
    assert "raise ValueError('boom')" in prompt and "exit code 1: ValueError: boom" in prompt
    assert "epoch 0 loss 1.2" in prompt and "Traceback..." in prompt


async def test_improve_gets_memory_and_reviewer_feedback(llm: ScriptedLLM) -> None:
    root = node(1, metric=0.08)
    sibling = node(3, parent=1, operator="improve", metric=0.05, plan="Lower LR to 0.001.")
    failed = node(4, parent=1, operator="improve", status=NodeStatus.buggy, metric=None, error="exit code 1: OOM")
    context = ctx("improve", root, related=[sibling, failed])
    context.feedback = {1: ["node review (suspect, 5/10): the validation split overlaps training"]}
    llm.script(fenced(script(width=16), plan="Widen to 16."))
    p = await agent(llm).propose(context)
    assert p.params == {"LR": 0.1, "WIDTH": 16}
    prompt = llm.requests[0].text()
    assert "node 3 [improve] -> 0.05" in prompt and "Lower LR to 0.001." in prompt
    assert "node 4 [improve] -> buggy (exit code 1: OOM)" in prompt
    assert "validation split overlaps training" in prompt and "raise acc" in prompt


async def test_tune_names_one_change_and_never_repeats_one(llm: ScriptedLLM) -> None:
    good = node(1, metric=0.08)
    tuned = node(2, parent=1, operator="tune", metric=0.8, params={"LR": 0.1})
    llm.script(fenced(script(lr=0.5), header="CHANGE: LR = 0.5"),  # LR was tuned here already: re-asked
               fenced(script(lr=0.01, width=16), header="CHANGE: WIDTH = 16"))
    p = await agent(llm).propose(ctx("tune", good, related=[tuned]))
    assert p.params == {"WIDTH": 16} and p.plan.startswith("Tune WIDTH = 16.")
    assert "Already tuned here (do not tune these again): lr." in llm.requests[0].text()
    assert "lr was already tuned here" in llm.requests[1].messages[-1]["content"].lower()


async def test_tune_without_header_reads_the_single_changed_constant(llm: ScriptedLLM) -> None:
    llm.script(fenced(script(lr=0.01, width=32)))
    p = await agent(llm).propose(ctx("tune", node(1)))
    assert p.params == {"WIDTH": 32}


async def test_ablate_and_nothing_left(llm: ScriptedLLM) -> None:
    good = node(1, metric=0.8)
    done = node(2, parent=1, operator="ablate", params={"ablation": "weight decay"})
    llm.script(fenced(script(), header="ABLATION: momentum", plan="Drop momentum."))
    p = await agent(llm).propose(ctx("ablate", good, related=[done]))
    assert p.params == {"ablation": "momentum"} and p.plan == "Ablation: momentum. Drop momentum."
    assert "do not repeat): weight decay." in llm.requests[0].text()
    llm.script("NOTHING_LEFT")
    with pytest.raises(NothingToTry, match="no component of node 1 left to ablate"):
        await agent(llm).propose(ctx("ablate", good, related=[done]))


async def test_operators_need_a_parent_with_code(llm: ScriptedLLM) -> None:
    for op in ("debug", "improve", "tune", "ablate"):
        with pytest.raises(ExpansionError, match=f"{op} needs a parent node with code"):
            await agent(llm).propose(ctx(op))
    with pytest.raises(ExpansionError, match="no 'merge' operator"):
        await agent(llm).propose(ctx("merge"))
    assert llm.requests == []


async def test_a_script_cut_at_the_output_limit_is_asked_again_not_run() -> None:
    """A model that stops at its output limit (finish_reason "length") leaves a script whose first
    part often parses; run, it would fail or measure something else. The agent asks again, saying
    why; a cut reply whose script block was already closed is used."""
    whole = script(width=16)
    cut = "Widen to 16.\n\n```python\n" + whole.split("json.dump")[0]  # parses, never writes metrics.json
    replies = [Reply(cut, finish_reason="length"), Reply(fenced(whole, plan="Widen to 16.")),
               Reply(fenced(script(width=32)) + "And a long explanation that was cut", finish_reason="length")]
    with ScriptedLLM(handler=lambda req: replies.pop(0)) as server:
        p = await agent(server).propose(ctx("improve", node(1)))
        assert p.params == {"LR": 0.1, "WIDTH": 16} and "metrics.json" in p.code
        again = server.requests[1].messages[-1]["content"]
        assert again.startswith("Your reply cannot be used: the reply was cut off at your output limit")
        p = await agent(server).propose(ctx("improve", node(1)))
        assert p.params == {"LR": 0.1, "WIDTH": 32} and len(server.requests) == 3


async def test_a_prompt_too_long_for_a_small_model_is_sent_without_its_extras() -> None:
    """A small local model (vLLM with a 2k context) refuses the whole prompt: the operator asks
    again without the memory and lessons and with the idea cut, and a repair turn goes on from
    that short prompt; a prompt still too long fails as before."""
    import json

    from agents.value import estimate_value
    from tests.llm_server import Request

    limit = {"chars": 3000}
    replies = [fenced(script(width=16), plan="Widen to 16."), "no code here", fenced(script(width=32)),
               '{"value": 0.4, "explanation": "fine"}']

    def handler(req: Request) -> Reply:
        if len(req.text()) > limit["chars"]:
            body = {"object": "error", "type": "BadRequestError", "code": 400,
                    "message": f"This model's maximum context length is 2048 tokens. However, you requested "
                               f"{len(req.text()) // 4 + 500} tokens. Please reduce the length of the messages."}
            return Reply(status=400, raw=json.dumps(body))
        return Reply(replies.pop(0))

    root = node(1, metric=0.08)
    related = [node(i, parent=1, operator="improve", metric=0.05, plan="Lower LR. " * 40) for i in range(3, 9)]
    context = ctx("improve", root, related=related)
    context.lessons = "Lessons from the whole tree:\n" + "- wider helped by 0.01\n" * 60
    with ScriptedLLM(handler=handler) as server:
        client = agent(server).client
        p = await agent(server).propose(context)
        assert p.params == {"LR": 0.1, "WIDTH": 16}
        refused, sent = server.requests[0].text(), server.requests[1].text()
        assert "Lessons from the whole tree" in refused and "Lower LR." in refused
        assert "Lessons from the whole tree" not in sent and "Lower LR." not in sent
        assert "Current script (node 1)" in sent and "Tiny" in sent  # what the operator needs stays
        # A repair turn after a reply without code builds on the short prompt.
        p = await agent(server).propose(context)
        assert p.params == {"LR": 0.1, "WIDTH": 32}
        assert "Lessons from the whole tree" not in server.requests[-1].text()
        assert server.requests[-1].messages[-1]["content"].startswith("Your reply cannot be used")
        # Too long even in its short form: the refusal is the error, as before.
        limit["chars"] = 100
        with pytest.raises(Exception, match="maximum context length"):
            await estimate_value(client, IDEA, node(9, parent=1, operator="improve"), stage="before")
        assert replies == ['{"value": 0.4, "explanation": "fine"}']
