"""code_key: what makes two proposals the same experiment (the engine runs it once)."""

from __future__ import annotations

from agents.base import code_key

SCRIPT = '''"""Train a model."""
import json

LR = 0.1


class Net:
    """A network."""

    def fit(self, x):
        """Fit it."""
        for i in range(3):
            "a string statement at the top of a loop body"
            x += i
        try:
            "and in a try body"
            pass
        except ValueError:
            "and in a handler"
            raise
        return x


if LR > 0:
    "in an if body"
    json.dump({"score": Net().fit(LR)}, open("metrics.json", "w"))
'''


def test_comments_blank_lines_formatting_and_docstrings_do_not_count() -> None:
    bare = "\n".join(line for line in SCRIPT.splitlines() if not line.strip().startswith(('"', "'")))
    bare = bare.replace("import json\n", "import json  # for the metrics\n\n\n").replace("x += i", "x  +=  i")
    assert code_key(bare) == code_key(SCRIPT)


def test_any_change_to_the_code_counts() -> None:
    assert code_key(SCRIPT.replace("LR = 0.1", "LR = 0.2")) != code_key(SCRIPT)
    assert code_key(SCRIPT.replace("range(3)", "range(4)")) != code_key(SCRIPT)


def test_keys_are_stable_across_versions() -> None:
    # Keys are stored with the nodes: a resumed run compares new proposals against them, so
    # the normalisation may get faster but must not change what it produces.
    assert code_key(SCRIPT) == "b3e21137ed401825c52dbfa3"


def test_code_that_does_not_parse_is_keyed_by_its_words() -> None:
    broken = "def f(:\n    return  1\n"
    assert code_key(broken) == code_key("def f(:\n\n  return 1")
    assert code_key(broken) != code_key("def f(:\n    return 2\n")


def test_a_proposal_carries_its_key() -> None:
    from agents.base import Proposal

    assert Proposal(plan="Run it.", code=SCRIPT).key == code_key(SCRIPT)
