"""Test scores of the policies on the shipped tasks, with the offline agent and with a scripted model.

The scripted model answers over real HTTP (tests/llm_server.py) like a naive LLM: a draft
is the script it was shown with every search-space constant redrawn, an improvement moves one
constant, a debug returns the script unchanged; the value agent says 0.5 and reviewers
accept. It exercises the LLM agent's whole path (prompts, extraction, value and review
calls) with no model's judgement in it, so differences between policies are the policies'.

    python examples/tasks/build.py
    python bench/task_policies.py [--seeds 3] [--budget 12] [--policies mcts,greedy,bfts] [--models offline,scripted]

Prints the `discover bench` table (mean +- standard error over seeds of the validation and
test scores) and leaves bench.csv, bench.md and bench.png in --out.
"""

from __future__ import annotations

import argparse
import math
import random
import re
import sys
import threading
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from agents.params import find_params, set_params  # noqa: E402
from tests.llm_server import Reply, Request, ScriptedLLM  # noqa: E402

TASKS = [ROOT / "examples" / "tasks" / n for n in ("digits", "breast_cancer", "diabetes")]
_SPACE = re.compile(r"Search space suggested by the researcher: (.*)\.\n")
_CODE = re.compile(r"```python\n(.*?)```", re.S)


def _space(text: str) -> dict[str, object]:
    """The search space as the prompt states it: NAME: [a, b] or NAME: low..high [log]."""
    found = _SPACE.search(text)
    if not found:
        return {}
    out: dict[str, object] = {}
    for part in re.finditer(r"(\w+): (\[[^\]]*\]|[-\d.e+]+\.\.[-\d.e+]+(?: log)?)", found.group(1)):
        name, spec = part.group(1), part.group(2)
        if spec.startswith("["):
            out[name] = [eval(v) for v in spec[1:-1].split(", ")]  # noqa: S307 - our own prompt's literals
        else:
            low, _, high = spec.replace(" log", "").partition("..")
            out[name] = (float(low), float(high), spec.endswith("log"))
    return out


def _draw(spec: object, rng: random.Random) -> object:
    if isinstance(spec, list):
        return rng.choice(spec)
    low, high, log = spec  # type: ignore[misc]
    if log:
        return float(f"{math.exp(rng.uniform(math.log(low), math.log(high))):.4g}")
    return float(f"{rng.uniform(low, high):.4g}")


class NaiveModel:
    """The scripted model's replies, by what the prompt asks."""

    def __init__(self, seed: int = 0) -> None:
        self.rng = random.Random(seed)
        self.lock = threading.Lock()

    def __call__(self, req: Request) -> Reply:
        text = req.text()
        with self.lock:
            if "Reply with the word OK." in text:
                return Reply("OK")
            if '"verdict"' in text:
                return Reply('{"score": 7, "verdict": "valid", "issues": [], "summary": "Scored by the framework."}')
            if '"value"' in text:
                return Reply('{"value": 0.5, "explanation": "no idea yet"}')
            code = _CODE.findall(text)
            space = _space(text)
            if not code or "Task:" not in text:
                return Reply(status=400)
            script = code[0]
            names = [n for n in space if n in find_params(script)]
            if "failed:\n" in text or not names:
                return Reply(f"Run it again as it is.\n```python\n{script}```")
            if "Task: write a first complete" in text:
                change = {n: _draw(space[n], self.rng) for n in names}
            else:
                name = self.rng.choice(names)
                change = {name: _draw(space[name], self.rng)}
            plan = "Try " + ", ".join(f"{k} = {v!r}" for k, v in change.items()) + "."
            return Reply(f"{plan}\n```python\n{set_params(script, change)}```")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", default="3")
    parser.add_argument("--budget", type=int, default=12)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--policies", default="mcts,greedy,bfts")
    parser.add_argument("--models", default="offline,scripted")
    parser.add_argument("--runs-dir", default=str(ROOT / "runs"))
    parser.add_argument("--out", default=str(ROOT / "runs" / "bench-task-policies"))
    args = parser.parse_args()
    missing = [t for t in TASKS if not (t / "public").is_dir()]
    if missing:
        print(f"build the shipped tasks first: python examples/tasks/build.py ({missing[0].name} is not built)")
        return 2
    from discovery.bench import parse_list, parse_seeds, run_bench

    models = parse_list(args.models, "--models")
    with ScriptedLLM(handler=NaiveModel()) as server:
        names = ["openai/scripted" if m == "scripted" else m for m in models]
        run_bench(Path(args.runs_dir), [str(t) for t in TASKS], parse_list(args.policies, "--policies"), names,
                  parse_seeds(args.seeds), out=Path(args.out), budget=args.budget, workers=args.workers,
                  workspace="local", api_base=server.api_base, echo=lambda line: print(line, file=sys.stderr))
    print((Path(args.out) / "bench.md").read_text())
    return 0


if __name__ == "__main__":
    sys.exit(main())
