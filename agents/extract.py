"""Get usable content out of untrusted model replies: code, a plan, a header line, JSON.

The parsers are pure. ``ask_code`` and ``ask_json`` add one bounded repair loop on top:
when a reply has no usable content, the model is told exactly what was wrong and asked
again, a fixed number of times, and then the caller gets a clear error.
"""

from __future__ import annotations

import ast
import json
import re
import textwrap
from typing import Any, Protocol, TypeVar

from pydantic import BaseModel, ValidationError

# A fence, its language tag, the body, and the same fence closing it (or the end of a cut reply).
_FENCE = re.compile(r"^[ \t]*(?P<fence>`{3,}|~{3,})[ \t]*(?P<lang>[\w+.-]*)[^\n]*\n"
                    r"(?P<body>.*?)(?:^[ \t]*(?P=fence)[ \t]*$|\Z)", re.MULTILINE | re.DOTALL)
_PYTHON_TAGS = {"", "python", "py", "python3", "py3", "ipython"}
_CODE_START = re.compile(r"^(import |from \w[\w.]* import |def |class |#!|[A-Z_][A-Z0-9_]* = )", re.MULTILINE)
_PLAN = re.compile(r"^\s*(?:#+\s*)?\**plan\**\s*:?\**\s*", re.IGNORECASE)
_HEADER_LINE = re.compile(r"^[\s*#]*(CHANGE|ABLATION)[\s*]*:", re.IGNORECASE)
NOTHING_LEFT = "NOTHING_LEFT"
# Reasoning models served without a reasoning parser (Qwen3, DeepSeek-R1 distills behind
# llama.cpp, Ollama or vLLM) write their thoughts into the reply, drafts of code included.
_THINK_OPEN = re.compile(r"\A\s*<(think|thinking|reasoning)>", re.IGNORECASE)
_THINK_CLOSE = re.compile(r"</(think|thinking|reasoning)>", re.IGNORECASE)

M = TypeVar("M", bound=BaseModel)


class NoCode(ValueError):
    """The reply holds no complete, parsable Python script; the message says why."""


class BadJSON(ValueError):
    """The reply holds no JSON object that fits the expected model; the message says why."""


def strip_reasoning(reply: str) -> str:
    """The answer in ``reply`` without the model's reasoning (``<think>...</think>`` and kin).

    A reasoning block is one that opens the reply, or one whose closing tag alone is there
    (chat templates that put the opening tag in the prompt). A closing tag inside a fenced
    code block is code, not the end of reasoning. A reply cut off while still reasoning
    has no answer: the empty string.
    """
    text = reply
    while True:
        fenced = [m.span() for m in _FENCE.finditer(text)]
        close = next((m for m in _THINK_CLOSE.finditer(text)
                      if not any(a <= m.start() < b for a, b in fenced)), None)
        if close is None:
            return "" if _THINK_OPEN.match(text) else text  # cut off while reasoning, or no reasoning
        text = text[close.end():].lstrip()
        if not _THINK_OPEN.match(text):
            return text


def extract_code(reply: str) -> str:
    """The experiment script in ``reply``; raises NoCode with the reason when there is none.

    Fenced blocks come first (python-tagged or untagged; other languages are skipped).
    With several that parse, a self-contained one (no undefined names) that writes
    metrics.json wins, longest first; when the model split one script over several
    blocks (the best one alone is a fragment), their join is used.
    With no fence at all, the reply itself, from its first line that looks like code.
    """
    blocks = [(m["lang"].lower(), _clean(m["body"])) for m in _FENCE.finditer(reply) if m["body"].strip()]
    python = [body for lang, body in blocks if lang in _PYTHON_TAGS]
    if python:
        joined = "\n\n".join(python)
        joined_ok = len(python) > 1 and _parse_error(joined) is None
        valid = [b for b in python if _parse_error(b) is None]
        if len(python) == 1 and valid:
            return valid[0]  # one block that parses: nothing to choose or join
        if valid:
            best = max(valid, key=lambda b: (not _undefined(b), "metrics.json" in b, len(b)))
            # A block that uses names it never defines is a fragment of a script split over blocks.
            fragment = bool(_undefined(best)) or ("metrics.json" not in best and "metrics.json" in joined)
            if joined_ok and fragment and len(_undefined(joined)) <= len(_undefined(best)):
                return joined
            return best
        if joined_ok:
            return joined
        raise NoCode(f"the code block does not parse: {_parse_error(max(python, key=len))}")
    if blocks:
        langs = ", ".join(sorted({lang for lang, _ in blocks}))
        raise NoCode(f"the reply has code blocks ({langs}) but none in Python")
    start = _CODE_START.search(reply)
    if start is not None:
        candidate = _clean(reply[start.start():])
        if _parse_error(candidate) is None and _looks_like_a_script(candidate):
            return candidate
    raise NoCode("the reply has no ```python code block")


def extract_plan(reply: str, limit: int = 1200) -> str:
    """The prose before the first code block (the model's plan), tidied and cut to ``limit``."""
    head = reply
    match = _FENCE.search(reply)
    if match is not None:
        head = reply[: match.start()]
    lines = [line for line in head.strip().splitlines() if not _HEADER_LINE.match(line)]
    text = _PLAN.sub("", "\n".join(lines).strip(), count=1).strip()
    text = re.sub(r"\s+", " ", text)
    return text[:limit].rstrip() + ("..." if len(text) > limit else "")


def extract_header(reply: str, name: str) -> str | None:
    """The value of a ``NAME: value`` line outside code blocks (e.g. ``CHANGE: LR = 0.1``)."""
    outside = _FENCE.sub("", reply)
    match = re.search(rf"^[ \t*#]*{re.escape(name)}[ \t*]*:[ \t*]*(.+?)[ \t*]*$", outside, re.IGNORECASE | re.MULTILINE)
    return match.group(1).strip().strip("`").strip() if match else None


def extract_json(reply: str, model: type[M]) -> M:
    """Parse the JSON object in ``reply`` (bare, fenced, or amid prose) into ``model``."""
    candidates = [m["body"] for m in _FENCE.finditer(reply) if m["lang"].lower() in ("json", "")]
    candidates.append(reply)
    problem = "the reply holds no JSON object"
    for text in candidates:
        for obj in _json_objects(text):
            try:
                return model.model_validate(obj)
            except ValidationError as exc:
                err = exc.errors()[0]
                where = ".".join(str(p) for p in err["loc"]) or "the object"
                problem = f"{where}: {err['msg']}"
    raise BadJSON(problem)


def says_nothing_left(reply: str) -> bool:
    """True when the model answered that no untried change is left."""
    return NOTHING_LEFT in reply and "```" not in reply


# -- bounded repair loops ------------------------------------------------------------------

class Asker(Protocol):
    async def complete(self, messages: list[dict[str, Any]], *, role: Any, purpose: str,
                       **kw: Any) -> Any: ...


async def _ready(client: Any) -> None:
    """Wait for the client's background model check, when it has one (agents.llm.LLMClient.ready)."""
    ready = getattr(client, "ready", None)
    if ready is not None:
        await ready()


def _then(messages: list[dict[str, Any]], *more: dict[str, Any]) -> list[dict[str, Any]]:
    """``messages`` followed by ``more``, keeping a short form (agents.prompts.Prompt) if it has one."""
    from agents.prompts import Prompt

    out = Prompt([*messages, *more])
    short = getattr(messages, "short", None)
    out.short = [*short, *more] if short else None
    return out


async def _complete(client: Asker, convo: list[dict[str, Any]],
                    **kw: Any) -> tuple[str, list[dict[str, Any]], bool]:
    """(reply text, the conversation sent, whether the reply was cut at the model's output limit):
    the prompt's short form goes when the model says the whole one is longer than its context (a
    small local model), and the caller goes on from it."""
    from agents.llm import ContextTooLong  # agents.llm imports this module

    try:
        done = await client.complete(convo, **kw)
    except ContextTooLong:
        short = getattr(convo, "short", None)
        if not short:
            raise
        convo = short
        done = await client.complete(convo, **kw)
    return done.text, convo, bool(getattr(done, "cut", False))


async def ask_code(client: Asker, messages: list[dict[str, Any]], *, purpose: str,
                   attempts: int = 2, nothing_left_ok: bool = False) -> tuple[str, str]:
    """(reply, code): ask for a script, re-asking with the reason when a reply has none.

    Raises NoCode after ``attempts`` replies without usable code (LLMError passes through).
    With ``nothing_left_ok`` a NOTHING_LEFT reply returns (reply, "") at once.
    """
    convo = messages
    reason = "no attempt"
    for i in range(attempts):
        reply, convo, cut = await _complete(client, convo, role="code", purpose=purpose)
        if nothing_left_ok and says_nothing_left(reply):
            return reply, ""
        try:
            if cut and not _closed_python_block(reply):
                # What parses of a cut script is its first part: run, it would fail or measure the wrong thing.
                raise NoCode("the reply was cut off at your output limit before the script ended; write a "
                             "shorter script")
            return reply, extract_code(reply)
        except NoCode as exc:
            reason = str(exc)
        if i + 1 < attempts:
            convo = _then(convo, {"role": "assistant", "content": reply},
                          {"role": "user", "content": f"Your reply cannot be used: {reason}. Reply again with the "
                                                      "short plan and then the complete script in ONE ```python block."})
    raise NoCode(f"{attempts} replies without usable code; last: {reason}")


async def ask_checked(client: Asker, messages: list[dict[str, Any]], check: Any, *, purpose: str,
                      attempts: int = 2) -> tuple[str, str] | None:
    """Like ask_code, then ``check(reply, code)`` returns a problem to send back, or None when fine.

    None when the model says NOTHING_LEFT; NoCode when ``attempts`` replies all fail the check.
    """
    convo = messages
    problem = "no attempt"
    for i in range(attempts):
        reply, code = await ask_code(client, convo, purpose=purpose, attempts=attempts, nothing_left_ok=True)
        if not code:
            return None
        problem = check(reply, code)
        if problem is None:
            return reply, code
        if i + 1 < attempts:
            convo = _then(convo, {"role": "assistant", "content": reply},
                          {"role": "user", "content": f"Your reply cannot be used: {problem}. Reply again."})
    raise NoCode(f"{attempts} unusable replies; last: {problem}")


async def ask_json(client: Asker, messages: list[dict[str, Any]], model: type[M], *, role: Any, purpose: str,
                   attempts: int = 2, response_format: dict[str, Any] | None = None) -> M:
    """A reply parsed into ``model``, re-asking with the validation error; BadJSON after ``attempts``."""
    convo = messages
    problem = "no attempt"
    await _ready(client)
    if response_format is None and getattr(client, "supports_schema", lambda _r: False)(role):
        # The provider can enforce the schema itself; the parsing below still checks the reply.
        response_format = json_schema_format(model)
    for i in range(attempts):
        kw = {"response_format": response_format} if response_format else {}
        reply, convo, _ = await _complete(client, convo, role=role, purpose=purpose, **kw)
        try:
            return extract_json(reply, model)
        except BadJSON as exc:
            problem = str(exc)
        if i + 1 < attempts:
            convo = _then(convo, {"role": "assistant", "content": reply},
                          {"role": "user", "content": f"That reply is not valid ({problem}). Reply with only the "
                                                      "JSON object, with the fields asked for."})
    raise BadJSON(f"{attempts} replies without valid JSON; last: {problem}")


def json_schema_format(model: type[BaseModel]) -> dict[str, Any]:
    """An OpenAI-style ``response_format`` asking for ``model``'s JSON schema."""
    return {"type": "json_schema", "json_schema": {"name": model.__name__, "schema": model.model_json_schema()}}


# -- helpers -------------------------------------------------------------------------------

def _closed_python_block(reply: str) -> bool:
    """Whether ``reply`` holds a Python (or untagged) code block with its closing fence."""
    return any(m["lang"].lower() in _PYTHON_TAGS and m["body"].strip() and m.group(0).rstrip().endswith(m["fence"])
               for m in _FENCE.finditer(reply))


def _clean(code: str) -> str:
    code = textwrap.dedent(code).strip("\n")
    return "\n".join(line.rstrip() for line in code.splitlines()) + "\n"


def _parse_error(code: str) -> str | None:
    try:
        ast.parse(code)
    except SyntaxError as exc:
        return f"line {exc.lineno}: {exc.msg}"
    except ValueError as exc:  # null bytes
        return str(exc)
    return None


def _undefined(code: str) -> set[str]:
    """Names ``code`` reads but never binds anywhere and that are not builtins (rough, on purpose)."""
    import builtins

    tree = ast.parse(code)
    bound: set[str] = set(dir(builtins)) | {"__file__", "__name__"}
    used: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Name):
            (used if isinstance(node.ctx, ast.Load) else bound).add(node.id)
        elif isinstance(node, (ast.Import, ast.ImportFrom)):
            bound.update((a.asname or a.name).split(".")[0] for a in node.names)
        elif isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
            bound.add(node.name)
        elif isinstance(node, ast.arg):
            bound.add(node.arg)
        elif isinstance(node, ast.ExceptHandler) and node.name:
            bound.add(node.name)
    return used - bound


def _looks_like_a_script(code: str) -> bool:
    # Prose can parse as Python ("ok" is a name); a script has statements beyond bare names.
    tree = ast.parse(code)
    return any(not isinstance(s, ast.Expr) or isinstance(s.value, ast.Call) for s in tree.body) and len(tree.body) >= 2


def _json_objects(text: str) -> list[Any]:
    """Each top-level JSON object found in ``text``, first to last."""
    decoder = json.JSONDecoder()
    out = []
    i = text.find("{")
    while i != -1:
        try:
            obj, end = decoder.raw_decode(text, i)
        except json.JSONDecodeError:
            i = text.find("{", i + 1)
            continue
        if isinstance(obj, dict):
            out.append(obj)
        i = text.find("{", end)
    return out
