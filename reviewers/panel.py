"""The review panel: several reviewer personas score a write-up on a conference-style form.

Each reviewer reads the write-up, the run's recorded facts and the automatic checklist,
and fills in the form (summary, strengths, weaknesses, soundness, presentation,
contribution, overall, confidence, decision). Scores are aggregated with their spread; an
area chair writes the meta-review. A reviewer whose call fails is left out and named, so
a panel of two is still a panel; with every call failed the caller falls back to the checklist.
"""

from __future__ import annotations

import asyncio
import json
import statistics
from dataclasses import dataclass
from typing import Any, Literal

from pydantic import BaseModel, Field, field_validator

from agents.extract import BadJSON, ask_json
from agents.llm import LLMError
from reviewers.checklist import Checklist

Decision = Literal["accept", "reject"]
SCORES = ("soundness", "presentation", "contribution", "overall", "confidence")
_WRITEUP_CAP = 24_000
_FACTS_CAP = 10_000


@dataclass(frozen=True)
class Persona:
    """A reviewer's point of view."""

    name: str
    brief: str


PERSONAS: tuple[Persona, ...] = (
    Persona("methodologist", "a methodologist: you check the experimental design, the data splits, leakage, "
            "baselines, and whether the statistics support the claims"),
    Persona("domain expert", "an expert in the idea's field: you judge whether the hypothesis was really "
            "tested and whether the findings matter"),
    Persona("reproducibility", "a reproducibility reviewer: you check seeds, repeats, variance, the code and "
            "whether the reported numbers could be reproduced"),
    Persona("presentation", "a reviewer of presentation: you judge whether the write-up is clear, well "
            "organised and honest about its limits"),
)


def _as_list(v: object) -> object:
    # Models sometimes give one string where a list is asked for.
    if isinstance(v, str):
        return [line.strip(" -*\t") for line in v.splitlines() if line.strip(" -*\t")] or []
    return v


def _decision(v: object) -> object:
    if isinstance(v, str):
        text = v.strip().lower()
        if "reject" in text:
            return "reject"
        if "accept" in text:
            return "accept"
    return v


class ReviewForm(BaseModel):
    """What one reviewer must answer (validated before it is kept)."""

    summary: str = Field(min_length=1, max_length=4000)
    strengths: list[str] = Field(default_factory=list, max_length=20)
    weaknesses: list[str] = Field(default_factory=list, max_length=20)
    questions: list[str] = Field(default_factory=list, max_length=20)
    soundness: float = Field(ge=1, le=4)  # 1 poor, 2 fair, 3 good, 4 excellent
    presentation: float = Field(ge=1, le=4)
    contribution: float = Field(ge=1, le=4)
    overall: float = Field(ge=1, le=10)  # 1 strong reject .. 10 award quality
    confidence: float = Field(ge=1, le=5)  # 1 guess .. 5 certain
    decision: Decision

    @field_validator("strengths", "weaknesses", "questions", mode="before")
    @classmethod
    def _lists(cls, v: object) -> object:
        return _as_list(v)

    @field_validator("decision", mode="before")
    @classmethod
    def _decide(cls, v: object) -> object:
        return _decision(v)


class PanelReview(ReviewForm):
    """One stored review of the write-up."""

    reviewer: str
    model: str = ""


class MetaReply(BaseModel):
    """The area chair's answer."""

    summary: str = Field(min_length=1, max_length=6000)
    strengths: list[str] = Field(default_factory=list, max_length=20)
    weaknesses: list[str] = Field(default_factory=list, max_length=20)
    decision: Decision

    @field_validator("strengths", "weaknesses", mode="before")
    @classmethod
    def _lists(cls, v: object) -> object:
        return _as_list(v)

    @field_validator("decision", mode="before")
    @classmethod
    def _decide(cls, v: object) -> object:
        return _decision(v)


class ScoreStats(BaseModel):
    """One score over the panel."""

    mean: float
    std: float  # sample standard deviation; 0 with one reviewer
    min: float
    max: float
    n: int


class PanelResult(BaseModel):
    """The panel's reviews, their aggregate and the meta-review."""

    kind: Literal["panel"] = "panel"
    reviews: list[PanelReview] = Field(default_factory=list)
    errors: list[str] = Field(default_factory=list)  # reviewers whose call failed, and why
    scores: dict[str, ScoreStats] = Field(default_factory=dict)
    votes: dict[str, int] = Field(default_factory=dict)
    decision: Decision | None = None  # the majority of the reviewers (ties: reject)
    meta: MetaReply | None = None
    meta_error: str | None = None


def aggregate(reviews: list[PanelReview]) -> tuple[dict[str, ScoreStats], dict[str, int], Decision | None]:
    """Per-score mean, spread and range; the vote count; the majority decision."""
    scores = {}
    for key in SCORES:
        values = [float(getattr(r, key)) for r in reviews]
        if values:
            scores[key] = ScoreStats(mean=statistics.fmean(values), std=statistics.stdev(values) if len(values) > 1
                                     else 0.0, min=min(values), max=max(values), n=len(values))
    votes = {d: sum(1 for r in reviews if r.decision == d) for d in ("accept", "reject")}
    decision: Decision | None = None
    if reviews:
        decision = "accept" if votes["accept"] > votes["reject"] else "reject"
    return scores, votes, decision


def _system(persona: Persona) -> str:
    return (f"You are {persona.brief}. You review a write-up produced by an automated tree search over "
            "experiments, as you would review a workshop paper. Judge only from the evidence given: the "
            "write-up, the recorded facts of the run and the automatic checks. Be specific and sceptical; "
            "reward honest limitations. Answer in the exact JSON format asked for.")


def _form_instructions() -> str:
    fields = {
        "summary": "what the write-up claims, in two or three sentences",
        "strengths": "[short strings]", "weaknesses": "[short strings]", "questions": "[short strings]",
        "soundness": "1 poor, 2 fair, 3 good, 4 excellent", "presentation": "1 to 4 as above",
        "contribution": "1 to 4 as above",
        "overall": "1 (strong reject) to 10 (award quality); 6 is a weak accept",
        "confidence": "1 (educated guess) to 5 (certain)", "decision": '"accept" or "reject"',
    }
    spec = "\n".join(f'  "{k}": {v}' for k, v in fields.items())
    return f"Answer with only a JSON object with these fields:\n{{\n{spec}\n}}"


def _cut(text: str, cap: int) -> str:
    return text if len(text) <= cap else text[:cap] + f"\n[... {len(text) - cap} characters cut ...]"


def _evidence(writeup: str, facts: str, checklist: Checklist | None) -> str:
    parts = ["# The write-up\n\n" + _cut(writeup, _WRITEUP_CAP),
             "# Recorded facts of the run\n\n" + _cut(facts, _FACTS_CAP)]
    if checklist is not None:
        lines = [f"- [{i.status}] {i.name}: {i.detail}" for i in checklist.items]
        parts.append("# Automatic checks\n\n" + "\n".join(lines))
    return "\n\n".join(parts)


async def review_one(client: Any, persona: Persona, writeup: str, facts: str,
                     checklist: Checklist | None = None) -> PanelReview:
    """One reviewer's form; LLMError when the model fails or never answers in the format."""
    msgs = [{"role": "system", "content": _system(persona)},
            {"role": "user", "content": _evidence(writeup, facts, checklist) + "\n\n" + _form_instructions()}]
    try:
        form = await ask_json(client, msgs, ReviewForm, role="review", purpose="writeup_review")
    except BadJSON as exc:
        raise LLMError(f"{persona.name} reviewer: {exc}") from exc
    return PanelReview(**form.model_dump(), reviewer=persona.name, model=client.config.model_for("review"))


async def meta_review(client: Any, reviews: list[PanelReview], scores: dict[str, ScoreStats]) -> MetaReply:
    """The area chair's summary of the panel; LLMError on failure."""
    body = json.dumps([r.model_dump(exclude={"model"}) for r in reviews], indent=1)
    table = "\n".join(f"- {k}: mean {s.mean:.3g}, std {s.std:.3g}, range {s.min:g}-{s.max:g}"
                      for k, s in scores.items())
    msgs = [
        {"role": "system", "content": "You are the area chair. You read the reviews of an automatically written "
         "research report and write the meta-review: what the reviewers agree on, where they disagree, and a "
         "decision. Do not add claims the reviews do not make. Answer in the exact JSON format asked for."},
        {"role": "user", "content": f"Reviews:\n{_cut(body, 30_000)}\n\nAggregated scores:\n{table}\n\n"
         'Answer with only a JSON object: {"summary": "one paragraph", "strengths": ["..."], '
         '"weaknesses": ["..."], "decision": "accept" or "reject"}'},
    ]
    try:
        return await ask_json(client, msgs, MetaReply, role="review", purpose="meta_review")
    except BadJSON as exc:
        raise LLMError(f"meta-review: {exc}") from exc


async def review_panel(client: Any, writeup: str, facts: str, *, checklist: Checklist | None = None,
                       personas: tuple[Persona, ...] | list[Persona] = PERSONAS[:3]) -> PanelResult:
    """Ask every persona at once, aggregate, then ask for the meta-review. Never raises LLMError:
    failures are recorded in ``errors``/``meta_error``; no review at all means an empty panel."""
    results = await asyncio.gather(*(review_one(client, p, writeup, facts, checklist) for p in personas),
                                   return_exceptions=True)
    reviews, errors = [], []
    for persona, result in zip(personas, results):
        if isinstance(result, PanelReview):
            reviews.append(result)
        elif isinstance(result, LLMError):
            errors.append(f"{persona.name}: {result}")
        else:
            raise result  # a bug of ours, not a model failure: let it show
    scores, votes, decision = aggregate(reviews)
    panel = PanelResult(reviews=reviews, errors=errors, scores=scores, votes=votes, decision=decision)
    if reviews:
        try:
            panel.meta = await meta_review(client, reviews, scores)
        except LLMError as exc:
            panel.meta_error = str(exc)
    return panel
