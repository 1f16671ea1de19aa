"""The review panel over real HTTP to the scripted OpenAI-compatible server."""

from __future__ import annotations

import asyncio
import json

import pytest

from agents.llm import LLMClient
from reviewers.checklist import CheckItem, Checklist
from reviewers.panel import PERSONAS, aggregate, review_panel
from tests.llm_server import Reply, Request, ScriptedLLM, fast_config

FORMS = {
    "methodologist": {"summary": "Sound search.", "strengths": ["clear"], "weaknesses": "one seed\n- no holdout",
                      "soundness": 3, "presentation": 3, "contribution": 2, "overall": 6, "confidence": 4,
                      "decision": "Weak Accept"},
    "domain expert": {"summary": "Small but honest.", "strengths": [], "weaknesses": ["toy data"],
                      "soundness": 2, "presentation": 3, "contribution": 1, "overall": 4, "confidence": 3,
                      "decision": "reject"},
    "reproducibility": {"summary": "Code is given.", "strengths": ["code"], "weaknesses": [],
                        "soundness": 4, "presentation": 4, "contribution": 3, "overall": 8, "confidence": 5,
                        "decision": "accept"},
}
META = {"summary": "Two of three accept.", "strengths": ["code"], "weaknesses": ["one seed"], "decision": "accept"}
CHECKLIST = Checklist(items=[CheckItem(name="repeats over seeds", status="warn", detail="one seed only")])


def persona_of(request: Request) -> str | None:
    system = request.messages[0]["content"]
    return next((p.name for p in PERSONAS if system.startswith(f"You are {p.brief}")), None)


def handler(request: Request) -> Reply:
    if "area chair" in request.messages[0]["content"]:
        return Reply(json.dumps(META))
    return Reply("Here is my review:\n```json\n" + json.dumps(FORMS[persona_of(request)]) + "\n```")


def test_panel_scores_aggregates_and_meta_reviews(llm: ScriptedLLM) -> None:
    llm.reset(handler)
    client = LLMClient(fast_config(llm))
    panel = asyncio.run(review_panel(client, "# Report\nbest 0.81", "best val_accuracy: 0.813333",
                                     checklist=CHECKLIST))
    assert [r.reviewer for r in panel.reviews] == ["methodologist", "domain expert", "reproducibility"]
    assert panel.errors == [] and panel.meta is not None and panel.meta.decision == "accept"
    overall = panel.scores["overall"]
    assert (overall.mean, overall.std, overall.min, overall.max, overall.n) == (6.0, 2.0, 4.0, 8.0, 3)
    assert panel.votes == {"accept": 2, "reject": 1} and panel.decision == "accept"
    assert panel.reviews[0].weaknesses == ["one seed", "no holdout"]  # a string became a list
    assert panel.reviews[0].model == "openai/scripted"
    # Each reviewer read the write-up, the facts and the checklist; the chair read the reviews.
    reviewer_prompts = [r.text() for r in llm.requests if persona_of(r)]
    assert len(reviewer_prompts) == 3
    assert all("best 0.81" in t and "0.813333" in t and "[warn] repeats over seeds" in t for t in reviewer_prompts)
    chair = [r.text() for r in llm.requests if "area chair" in r.messages[0]["content"]]
    assert len(chair) == 1 and "Small but honest." in chair[0] and "mean 6" in chair[0]


def test_a_failing_reviewer_is_named_and_the_rest_still_count(llm: ScriptedLLM) -> None:
    def flaky(request: Request) -> Reply:
        if persona_of(request) == "domain expert":
            return Reply(status=400)  # a permanent error: no retry
        if persona_of(request) == "reproducibility":
            return Reply("I liked it.")  # never valid JSON, also after the re-ask
        return handler(request)

    llm.reset(flaky)
    panel = asyncio.run(review_panel(LLMClient(fast_config(llm)), "report", "facts"))
    assert [r.reviewer for r in panel.reviews] == ["methodologist"]
    assert len(panel.errors) == 2
    assert panel.errors[0].startswith("domain expert:") and panel.errors[1].startswith("reproducibility:")
    assert panel.scores["overall"].std == 0.0 and panel.decision == "accept"
    reproducibility_asks = [r for r in llm.requests if persona_of(r) == "reproducibility"]
    assert len(reproducibility_asks) == 2  # asked once more with the reason


def test_no_reviewer_answers(llm: ScriptedLLM) -> None:
    llm.reset(lambda request: Reply(status=400))
    panel = asyncio.run(review_panel(LLMClient(fast_config(llm)), "report", "facts", personas=PERSONAS[:2]))
    assert panel.reviews == [] and len(panel.errors) == 2 and panel.meta is None and panel.decision is None


def test_aggregate_of_nothing() -> None:
    scores, votes, decision = aggregate([])
    assert scores == {} and votes == {"accept": 0, "reject": 0} and decision is None


@pytest.mark.parametrize(("said", "kept"),
                         [("Strong Reject", "reject"), ("weak accept", "accept"), ("ACCEPT", "accept")])
def test_decisions_are_normalised(said: str, kept: str) -> None:
    from reviewers.panel import ReviewForm

    form = ReviewForm.model_validate({**FORMS["methodologist"], "decision": said})
    assert form.decision == kept
