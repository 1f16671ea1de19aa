"""Code, plan, header and JSON extraction from untrusted replies (pure, no model)."""

from __future__ import annotations

import pytest
from pydantic import BaseModel, Field

from agents.extract import (
    BadJSON,
    NoCode,
    extract_code,
    extract_header,
    extract_json,
    extract_plan,
    strip_reasoning,
)

SCRIPT = 'import json\nx = 1\njson.dump({"acc": x}, open("metrics.json", "w"))\n'


def test_one_fenced_block_and_its_plan() -> None:
    reply = f"PLAN: Use a wider net.\nIt should fit better.\n\n```python\n{SCRIPT}```\n"
    assert extract_code(reply) == SCRIPT
    assert extract_plan(reply) == "Use a wider net. It should fit better."


def test_tilde_fence_untagged_and_indented_blocks() -> None:
    assert extract_code(f"~~~\n{SCRIPT}~~~") == SCRIPT
    indented = "Here:\n    ```py\n" + "".join(f"    {line}\n" for line in SCRIPT.splitlines()) + "    ```"
    assert extract_code(indented) == SCRIPT


def test_several_blocks_prefer_the_full_script() -> None:
    snippet = "x = 2  # the change\n"
    reply = f"The change:\n```python\n{snippet}```\nFull script:\n```python\n{SCRIPT}```\n```bash\npython x.py\n```"
    assert extract_code(reply) == SCRIPT


def test_script_split_over_blocks_is_joined() -> None:
    reply = "```python\nimport json\nx = 1\n```\nthen\n```python\njson.dump({'acc': x}, open('metrics.json', 'w'))\n```"
    code = extract_code(reply)
    assert code.startswith("import json") and "metrics.json" in code
    compile(code, "experiment.py", "exec")


def test_unterminated_block_from_a_cut_reply() -> None:
    assert extract_code(f"Plan.\n```python\n{SCRIPT}") == SCRIPT
    with pytest.raises(NoCode, match="does not parse: line 2"):
        extract_code("```python\nimport json\ndef f(:\n")


def test_no_fence_uses_the_code_after_the_prose() -> None:
    assert extract_code(f"Sure! Here is the script:\n\n{SCRIPT}") == SCRIPT


@pytest.mark.parametrize(("reply", "reason"), [
    ("I cannot help with that.", "no ```python code block"),
    ("ok", "no ```python code block"),
    ("```bash\npip install torch\n```", "none in Python"),
    ("```python\nfor i in range(:\n```", "does not parse"),
    ("```python\n\n```", "no ```python code block"),
])
def test_replies_without_usable_code(reply: str, reason: str) -> None:
    with pytest.raises(NoCode, match=reason):
        extract_code(reply)


def test_headers_outside_code_only() -> None:
    reply = "CHANGE: LR = 0.1\n**ABLATION:** dropout\n```python\n# CHANGE: not this\nx = 1\n```"
    assert extract_header(reply, "CHANGE") == "LR = 0.1"
    assert extract_header(reply, "ablation") == "dropout"
    assert extract_header("```python\nCHANGE = 1\n```", "CHANGE") is None
    assert "CHANGE" not in extract_plan(reply) and "dropout" not in extract_plan(reply)
    assert extract_plan("Change the learning rate.\n```python\nx = 1\n```") == "Change the learning rate."


class Score(BaseModel):
    value: float = Field(ge=0, le=1)
    why: str = ""


def test_json_bare_fenced_amid_prose_and_invalid() -> None:
    assert extract_json('{"value": 0.3}', Score).value == 0.3
    assert extract_json('Sure.\n```json\n{"value": 0.7, "why": "ok"}\n```', Score).why == "ok"
    assert extract_json('I think {"value": 0.2} fits {"other": 1}.', Score).value == 0.2
    with pytest.raises(BadJSON, match="value: Input should be less than or equal to 1"):
        extract_json('{"value": 7}', Score)
    with pytest.raises(BadJSON, match="no JSON object"):
        extract_json('{"value": 0.5,', Score)


DECOY = 'import json\njson.dump({"acc": 99}, open("metrics.json", "w"))\nprint("a longer draft of the script")\n'


@pytest.mark.parametrize("reply", [
    f"<think>\nFirst idea:\n```python\n{DECOY}```\nNo, smaller.\n</think>\n\nPlan: x = 1.\n```python\n{SCRIPT}```\n",
    # The chat template put <think> in the prompt: only the closing tag is in the reply.
    f"Okay, the user wants a script.\n```python\n{DECOY}```\n</think>\nPlan: x = 1.\n```python\n{SCRIPT}```",
    f"  <THINKING>hmm</THINKING>\n<think>more</think>Plan: x = 1.\n```python\n{SCRIPT}```",
])
def test_reasoning_is_not_the_answer(reply: str) -> None:
    answer = strip_reasoning(reply)
    assert extract_code(answer) == SCRIPT and extract_plan(answer) == "x = 1."
    assert "think" not in answer.lower()


def test_a_closing_tag_in_code_is_code_and_a_cut_reasoning_has_no_answer() -> None:
    code = 'TAG = "</think>"\nprint(TAG)\n'
    reply = f"Plan: print the tag.\n```python\n{code}```\n"
    assert strip_reasoning(reply) == reply and extract_code(strip_reasoning(reply)) == code
    assert strip_reasoning("<think>\nLet me write the script.\n```python\nimport json\n") == ""
    assert strip_reasoning("No tags at all.") == "No tags at all."
    with pytest.raises(NoCode, match="no ```python code block"):
        extract_code(strip_reasoning("<think>cut off while reasoning"))


def test_json_after_reasoning_that_holds_other_objects() -> None:
    class Value(BaseModel):
        value: float

    reply = '<think>Maybe {"value": 0.1}? No, it is better.</think>\n{"value": 0.7}'
    assert extract_json(strip_reasoning(reply), Value).value == 0.7
