"""The structured reviews that reviewers return and the store keeps."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, Field, field_validator

Verdict = Literal["valid", "suspect", "invalid"]
Severity = Literal["minor", "major", "critical"]


class ReviewIssue(BaseModel):
    """One problem a reviewer found."""

    severity: Severity = "minor"
    description: str = Field(min_length=1, max_length=2000)


class ReviewReply(BaseModel):
    """What a reviewer model must answer (validated before it becomes a Review)."""

    score: float = Field(ge=0, le=10)  # 0: worthless or wrong, 10: sound and convincing
    verdict: Verdict
    issues: list[ReviewIssue] = Field(default_factory=list, max_length=20)
    summary: str = Field(default="", max_length=4000)

    @field_validator("issues", mode="before")
    @classmethod
    def _plain_strings(cls, v: object) -> object:
        # Models often list issues as bare strings: take them as minor issues.
        if isinstance(v, list):
            return [{"description": i} if isinstance(i, str) else i for i in v]
        return v

    @field_validator("verdict", mode="before")
    @classmethod
    def _lower(cls, v: object) -> object:
        return v.strip().lower() if isinstance(v, str) else v


class Review(ReviewReply):
    """A stored review of one node by one reviewer."""

    reviewer: Literal["node", "plot"]
    model: str = ""
    plots: list[str] = Field(default_factory=list)  # the images a plot review looked at

    @property
    def invalid(self) -> bool:
        """True when the reviewer judged the node's result invalid: never select it as best."""
        return self.verdict == "invalid"

    def notes(self) -> list[str]:
        """The review as short lines, for the improve operator's prompt."""
        lines = [f"{self.reviewer} review ({self.verdict}, {self.score:g}/10): {self.summary}".strip()]
        lines += [f"[{i.severity}] {i.description}" for i in self.issues]
        return lines
