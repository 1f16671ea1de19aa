"""A scripted "scientist" model for the search benchmark: it answers over real HTTP
(tests/llm_server.py) the prompts of discover's operators, value agent and reviewers, and
AIDE's, with self-contained experiment scripts over a hidden landscape (bench/landscapes.py).

It reads prompts the way a model would, by what they ask and the code they show, and it
knows only what a model could: the parameter names and ranges, the code it is shown, the
error it is shown, and (its "domain knowledge") a noisy sense of the slope where it
stands. It never sees the landscape's optimum. Its character (step size, slope-following,
bug and repeat rates, value-estimate skill) comes from the landscape's seed.

Kinds of request and how they are recognised:

- a code request (draft, improve, debug, tune, ablate, crossover): the scripts shown in
  the prompt and its task line;
- a value estimate, a node review, a metric reading: the JSON fields asked for;
- AIDE's review: a ``submit_review`` tool; answered with a tool call read off the output.
"""

from __future__ import annotations

import json
import math
import random
import re
import threading
from dataclasses import dataclass
from typing import Any

from landscapes import FORMULA, Landscape

MARK = "# --- hyperparameters ---"
_FENCE = re.compile(r"```(?:python|py)?\s*\n(.*?)```", re.DOTALL)
_BUGS = [
    ("    features = load_split('validation')  # reuse the cached split\n", "NameError: name 'load_split' is not defined"),
    ("    history = [0.0] * 3\n    score += history[5]\n", "IndexError: list index out of range"),
    ("    shape = (64, 10)\n    assert shape == (64, 12), f'shape mismatch: expected {shape}, got (64, 12)'\n",
     "AssertionError: shape mismatch"),
    ("    cfg['optimizer'].step()\n", "KeyError: 'optimizer'"),
]

# A quote-free piece of each bug, so that a reformatted script (AIDE runs black) is still recognised.
_BUG_MARKERS = ["load_split(", "history[5]", "assert shape == (64, 12)", ".step()"]

_MAIN = '''
def main():
    u = []
    for name, (low, high, log) in zip(C["names"], C["params"]):
        v = float(globals()[name])
        u.append((math.log(max(v, low * 1e-9)) - math.log(low)) / (math.log(high) - math.log(low)) if log
                 else (v - low) / (high - low))
    for name in C["names"][len(C["params"]):]:
        u.append(1.0 if globals()[name] else 0.0)
    _crash(u, C)
    score = (_landscape(u, C) - C["median"]) / (C["top"] - C["median"])
    # The measurement noise is drawn from the node's seed where discover gives one (the run's
    # seed plus the node id): two policies run on one seed then see the same noise at the same
    # node, so their paired difference measures the policies, not two draws (common random
    # numbers). Elsewhere (AIDE) it is fresh.
    seed = os.environ.get("DISCOVER_SEED")
    noise = random.Random(seed + ":" + os.environ.get("DISCOVER_NODE_ID", "") if seed else os.urandom(8))
    score += noise.gauss(0.0, NOISE)
{bug}    print(f"epoch 10/10 - validation score: {{score:.6f}}")
    with open("metrics.json", "w") as f:
        json.dump({{"score": score}}, f)


main()
'''


def program(land: Landscape, cfg: dict[str, Any], bug: int | None = None) -> str:
    """A self-contained experiment script for configuration ``cfg`` (with coding bug ``bug``)."""
    consts = "\n".join(f"{k} = {v!r}" for k, v in cfg.items())
    bug_text = _BUGS[bug][0] if bug is not None else ""
    return (f'"""Train and validate a model; report the validation score."""\nimport json\nimport math\nimport os\n'
            f"import random\n\n{MARK}\n{consts}\n\nNOISE = {land.noise!r}\nC = json.loads({land.embedded()!r})\n"
            f"{FORMULA}{_MAIN.format(bug=bug_text)}")


_CONST = re.compile(r"^([A-Z_][A-Z0-9_]*)\s*=\s*(.+?)\s*(?:#.*)?$")


def parse_program(code: str, land: Landscape) -> tuple[dict[str, Any], int | None] | None:
    """(configuration, bug index) of one of our scripts; None for any other code.

    Read line by line, not with ``ast``: the scientist answers from server threads, and
    CPython 3.11's parser is not safe to run in several threads at once.
    """
    if MARK not in code:
        return None
    names = {p.name for p in land.params} | set(land.switches)
    cfg: dict[str, Any] = {}
    for line in code.split(MARK, 1)[1].splitlines():
        m = _CONST.match(line)
        if m and m.group(1) in names:
            value = _literal(m.group(2))
            if value is not None:
                cfg[m.group(1)] = value
    if set(cfg) != names:
        return None
    bug = next((i for i, marker in enumerate(_BUG_MARKERS) if marker in code), None)
    return cfg, bug


def _literal(text: str) -> Any:
    if text in ("True", "False"):
        return text == "True"
    for kind in (int, float):
        try:
            return kind(text)
        except ValueError:
            pass
    return None


class Scientist:
    """The request handler for a ScriptedLLM: one landscape, one character, one seed."""

    def __init__(self, land: Landscape, seed: int) -> None:
        self.land = land
        self.ch = land.character
        self.rng = random.Random(f"scientist:{land.family}:{land.seed}:{seed}")
        self.seed = seed
        self.lock = threading.Lock()
        self.seen: list[dict[str, Any]] = []  # configurations handed out (for repeats)
        self.counts: dict[str, int] = {}

    # -- dispatch ----------------------------------------------------------------------------

    def __call__(self, req: Any) -> Any:
        from tests.llm_server import Reply

        with self.lock:
            kind, reply = self.answer(req)
            self.counts[kind] = self.counts.get(kind, 0) + 1
        if isinstance(reply, dict):  # a tool call
            return Reply(raw=json.dumps(_tool_completion(req, reply)))
        return Reply(reply) if isinstance(reply, str) else reply

    def answer(self, req: Any) -> tuple[str, Any]:
        from tests.llm_server import Reply

        tools = req.body.get("tools") or []
        if any(t.get("function", {}).get("name") == "submit_review" for t in tools):
            return "aide_review", self.aide_review(req.text())
        text = req.text()
        last = req.messages[-1].get("content") if req.messages else ""
        last = last if isinstance(last, str) else ""
        if "That reply is not valid" in last or "cannot be used" in last:
            text = "\n".join(m["content"] for m in req.messages[:2] if isinstance(m.get("content"), str))
        if '"verdict"' in text:
            return "review", json.dumps({"score": 7, "verdict": "valid", "issues": [],
                                         "summary": "Validation is on held-out data; the result is plausible."})
        if '"value"' in text and "hopeless" in text:
            return "value", self.value(text)
        if '"found"' in text and '"quote"' in text:
            m = re.search(r"validation score: (-?[\d.]+)", text)
            return "metric", json.dumps({"found": bool(m), "value": float(m.group(1)) if m else None,
                                         "quote": m.group(0) if m else ""})
        # The script to work on is the last one shown (a task description may show a baseline first).
        scripts = [c for c in _FENCE.findall(text) if MARK in c]
        parsed = [p for p in (parse_program(c, self.land) for c in scripts) if p is not None]
        if "Task: combine" in text and len(parsed) >= 2:
            return "crossover", self._reply(self.crossover(parsed[-2][0], parsed[-1][0]))
        if "Task: tune ONE" in text and parsed:
            return "tune", self._reply(self.tune(parsed[-1][0], _listed(text, "Already tuned here")))
        if "Task: an ablation study" in text and parsed:
            return "ablate", self._reply(self.ablate(parsed[-1][0], _listed(text, "Already ablated here")))
        if parsed and ("failed:" in text or "(buggy) implementation" in text or "had a bug" in text):
            return "debug", self._reply(self.debug(parsed[-1][0], parsed[-1][1], text))
        if parsed and ("Task: propose ONE" in text or "Previous solution" in text):
            return "improve", self._reply(self.improve(parsed[-1][0]))
        if "Task: write a first" in text or "Solution sketch guideline" in text:
            return "draft", self._reply(self.draft(parsed[-1][0] if parsed else None))
        return "unknown", Reply(status=400, raw=json.dumps({"error": {"message": "the scientist has no answer"}}))

    # -- code ----------------------------------------------------------------------------------
    # Each operator returns a Move: the configuration, whether the script has a coding bug,
    # the plan and an optional header line. Over HTTP it becomes a reply text (``_reply``);
    # bench/policy_sim.py uses the moves directly.

    def _reply(self, move: Move | None) -> str:
        if move is None:
            return "NOTHING_LEFT"
        self.seen.append(move.cfg)
        head = f"{move.header}\n" if move.header else ""
        return f"{head}{move.plan}\n\n```python\n{program(self.land, move.cfg, move.bug)}```\n"

    def _bug(self) -> int | None:
        return self.rng.randrange(len(_BUGS)) if self.rng.random() < self.ch.bug_prob else None

    def draft(self, baseline: dict[str, Any] | None) -> Move:
        land, rng = self.land, self.rng
        if baseline is not None and rng.random() < 0.5:
            u = land.coords(baseline)
            u = [min(1.0, max(0.0, x + rng.gauss(0, self.ch.step))) for x in u[: len(land.params)]] + u[len(land.params):]
            plan = "Start from the baseline and adjust a few settings that look off."
        elif rng.random() < self.ch.uniform_drafts:
            u = [rng.random() for _ in range(land.dim)]
            plan = "An unusual configuration, to try a different regime."
        else:
            u = [min(1.0, max(0.0, c + rng.gauss(0, self.ch.draft_spread))) for c in land.conventional]
            plan = "A standard configuration for this kind of model."
        cfg = land.config(u)
        return Move(cfg, self._bug(), f"{plan} Settings: {_describe(cfg)}.")

    def _step(self, cfg: dict[str, Any], names: list[str] | None = None) -> tuple[dict[str, Any], list[str]]:
        land, rng, ch = self.land, self.rng, self.ch
        u = land.coords(cfg)
        grad = land.gradient(u)
        n = 2 if rng.random() < ch.pair_prob else 1
        order = [p.name for p in land.params]
        idx = [order.index(nm) for nm in names] if names else rng.sample(range(len(order)), min(n, len(order)))
        for i in idx:
            lean = ch.lean * math.tanh(grad[i] / 0.5)
            u[i] = min(1.0, max(0.0, u[i] + ch.step * (lean + rng.gauss(0, 1))))
        new = land.config(u)
        changed = [order[i] for i in idx if new[order[i]] != cfg[order[i]]]
        return new, changed

    def improve(self, parent: dict[str, Any]) -> Move:
        if self.rng.random() < self.ch.dup_prob:
            return Move(dict(parent), self._bug(), "Train a little longer with the same settings; they look close to right.")
        new, changed = self._step(parent)
        moves = ", ".join(f"{k} {parent[k]!r} -> {new[k]!r}" for k in changed) or "a minor cleanup"
        return Move(new, self._bug(), f"Change {moves}, which should raise the validation score.")

    def tune(self, parent: dict[str, Any], done: set[str]) -> Move | None:
        order = [p.name for p in self.land.params]
        free = [n for n in order if n.lower() not in done]
        if not free:
            return None
        name = self.rng.choice(free)
        new, _ = self._step(parent, [name])
        if new[name] == parent[name]:
            i = order.index(name)
            new[name] = self.land.params[i].value(min(1.0, self.land.coords(parent)[i] + 0.1))
        return Move({**parent, name: new[name]}, self._bug(), f"Tune {name} alone.", f"CHANGE: {name} = {new[name]!r}")

    def ablate(self, parent: dict[str, Any], done: set[str]) -> Move | None:
        free = [s for s in self.land.switches if s.lower() not in done and parent.get(s)]
        if not free:
            return None
        name = self.rng.choice(free)
        return Move({**parent, name: False}, self._bug(), f"Switch {name} off to measure what it contributes.",
                    f"ABLATION: {name}")

    def crossover(self, a: dict[str, Any], b: dict[str, Any]) -> Move:
        child = {k: (a[k] if self.rng.random() < 0.5 else b[k]) for k in a}
        return Move(child, self._bug(), "Combine the two scripts: take each setting from one of them.")

    def debug(self, cfg: dict[str, Any], bug: int | None, error: str) -> Move:
        cfg = dict(cfg)
        if bug is not None:
            if self.rng.random() < self.ch.fix_prob:
                return Move(cfg, None, "Remove the faulty line that crashes the run.")
            return Move(cfg, bug, "Rewrite the evaluation step that fails.")
        if any(w in error for w in ("diverged", "out of memory", "exploded", "overflow")):
            # Move the likely culprit back down into safer territory.
            u = self.land.coords(cfg)
            for region in self.land.constants["crash"]:
                for i, (lo, _hi) in region["box"].items():
                    if lo <= u[int(i)] and self.rng.random() < self.ch.fix_prob + 0.1:
                        u[int(i)] = max(0.0, lo - self.rng.uniform(0.05, 0.3))
            new = self.land.config(u)
            return Move(new, None, f"The run blew up; lower the culprit setting: {_describe(new)}.")
        return Move(cfg, None, "Fix the script so it runs to the end and writes its metric.")

    # -- judgements -------------------------------------------------------------------------------

    def estimate(self, cfg: dict[str, Any], bug: int | None) -> float | None:
        """The value agent's estimate for a script (None: a reply that is not JSON at all).

        Drawn from the script alone, not from the stream the code answers come from: asked
        whenever the engine asks (with several workers, between other nodes' proposals), it
        then shifts no later answer, and the same script always gets the same estimate.
        """
        rng = random.Random(f"value:{self.land.family}:{self.land.seed}:{self.seed}:{sorted(cfg.items())!r}:{bug}")
        if rng.random() < self.ch.value_garbage:
            return None
        crash = bug is not None or self.land.crashes(self.land.coords(cfg))
        signal = 0.0 if crash else max(0.0, min(1.0, self.land.value(cfg)))
        skill = self.ch.value_skill
        return max(0.0, min(1.0, skill * signal + (1 - skill) * rng.random() + rng.gauss(0, 0.05)))

    def value(self, text: str) -> str:
        scripts = [p for p in (parse_program(c, self.land) for c in _FENCE.findall(text) if MARK in c) if p]
        v = self.estimate(*scripts[0]) if scripts else 0.5
        if v is None:
            return "This looks like a reasonable next step and could well improve the score."
        return json.dumps({"value": round(v, 3), "explanation": "Judged from the settings and the method."})

    def aide_review(self, text: str) -> dict[str, Any]:
        out = text.split("Execution output", 1)[-1]
        m = re.search(r"validation score: (-?[\d.]+)", out)
        bug = "Traceback" in out or m is None
        return {"is_bug": bug, "summary": "It ran and reported its validation score." if not bug else "It crashed.",
                "metric": float(m.group(1)) if m and not bug else None, "lower_is_better": False}


@dataclass
class Move:
    """What an operator of the scientist proposes."""

    cfg: dict[str, Any]
    bug: int | None
    plan: str
    header: str = ""


def _listed(text: str, label: str) -> set[str]:
    """Names on the line that starts with ``label`` (what was already tuned or ablated), lower case."""
    line = text.split(label, 1)[-1].split("\n", 1)[0] if label in text else ""
    return {w.lower() for w in re.findall(r"[A-Za-z_][A-Za-z0-9_]*", line)}


def _describe(cfg: dict[str, Any]) -> str:
    return ", ".join(f"{k}={v!r}" for k, v in cfg.items())


def _tool_completion(req: Any, args: dict[str, Any]) -> dict[str, Any]:
    import time

    return {
        "id": "chatcmpl-scientist", "object": "chat.completion", "created": int(time.time()),
        "model": req.body.get("model", "scripted"),
        "choices": [{"index": 0, "finish_reason": "tool_calls", "message": {
            "role": "assistant", "content": None,
            "tool_calls": [{"id": "call_1", "type": "function",
                            "function": {"name": "submit_review", "arguments": json.dumps(args)}}]}}],
        "usage": {"prompt_tokens": max(1, len(req.text()) // 4), "completion_tokens": 50, "total_tokens": 0},
    }
