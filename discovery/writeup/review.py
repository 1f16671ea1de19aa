"""The review of a write-up: the checklist always, the panel when a model is configured.

Stored in the run store when it offers ``save_writeup_review``/``writeup_reviews`` and always as
``runs/<run>/report/review.json``, read back from the store first. A review is kept with
the hash of the write-up it judged, so ``discover report`` run again on an unchanged
write-up reuses it instead of paying the panel again.
"""

from __future__ import annotations

import hashlib
import time
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ValidationError

from discovery.writeup.document import Block, Bullets, Heading, Para, Table
from reviewers.checklist import Checklist
from reviewers.grounding import KnownNumbers, extract_numbers
from reviewers.panel import PanelResult

REVIEW_FILE = "review.json"


class WriteupReview(BaseModel):
    """What the report's review section shows."""

    run_id: str
    created_at: float
    report_hash: str  # sha256 of the write-up the reviewers read
    checklist: Checklist
    panel: PanelResult | None = None
    panel_error: str | None = None  # why there is no panel although a model was configured
    calls: int = 0  # model calls the panel took
    cost: float = 0.0

    @property
    def kind(self) -> str:
        return "panel" if self.panel is not None and self.panel.reviews else "checklist"


def text_hash(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()


def save(review: WriteupReview, report_dir: Path, store: Any | None = None) -> Path:
    """Write review.json; also into ``store`` when given (a writable RunStore)."""
    path = report_dir / REVIEW_FILE
    payload = review.model_dump_json(indent=1)
    path.write_text(payload, encoding="utf-8")
    if store is not None:
        store.save_writeup_review(review.run_id, review.kind, payload)
    return path


def load(report_dir: Path, store: Any | None = None, run_id: str | None = None) -> WriteupReview | None:
    """The latest stored review of the run (store first, then review.json); None when there is none."""
    if store is not None and run_id is not None:
        rows = store.writeup_reviews(run_id)
        if rows:
            try:
                return WriteupReview.model_validate_json(rows[-1].payload or "{}")
            except ValidationError:
                pass
    path = report_dir / REVIEW_FILE
    if not path.is_file():
        return None
    try:
        return WriteupReview.model_validate_json(path.read_text(encoding="utf-8"))
    except (ValidationError, ValueError):
        return None



def new_review(run_id: str, report_text: str, checklist: Checklist, panel: PanelResult | None = None,
               panel_error: str | None = None, calls: int = 0, cost: float = 0.0) -> WriteupReview:
    return WriteupReview(run_id=run_id, created_at=time.time(), report_hash=text_hash(report_text),
                         checklist=checklist, panel=panel, panel_error=panel_error, calls=calls, cost=cost)


# -- rendering -----------------------------------------------------------------------------------

def review_blocks(review: WriteupReview, known: KnownNumbers | None = None, ignore: list[str] | None = None,
                  ) -> list[Block]:
    """The review section of the report."""
    blocks: list[Block] = []
    panel = review.panel
    if panel is not None and panel.reviews:
        n = len(panel.reviews)
        blocks += [Heading("Review panel"),
                   Para(f"{n} reviewers, each a model given a persona, read this report, the run's recorded "
                        f"facts and the automatic checklist, and filled in a conference-style form "
                        f"(model: `{panel.reviews[0].model}`). Their scores are opinions, not measurements.")]
        rows = []
        for key, s in panel.scores.items():
            scale = {"overall": "1-10", "confidence": "1-5"}.get(key, "1-4")
            rows.append([key, scale, f"{s.mean:.2f}", f"{s.std:.2f}", f"{s.min:g}-{s.max:g}"])
        blocks.append(Table(["score", "scale", "mean", "std", "range"], rows, align="llrrr"))
        votes = ", ".join(f"{v} {k}" for k, v in panel.votes.items())
        blocks.append(Para(f"Decisions: {votes}; majority: **{panel.decision}**."))
        if panel.meta is not None:
            blocks += [Heading("Meta-review", 3), Para(panel.meta.summary)]
            if panel.meta.strengths:
                blocks += [Para("Strengths the reviewers agree on:"), Bullets(panel.meta.strengths)]
            if panel.meta.weaknesses:
                blocks += [Para("Weaknesses the reviewers agree on:"), Bullets(panel.meta.weaknesses)]
            blocks.append(Para(f"Area chair's decision: **{panel.meta.decision}**."))
        elif panel.meta_error:
            blocks.append(Para(f"No meta-review: {panel.meta_error}"))
        for r in panel.reviews:
            blocks += [Heading(f"Reviewer: {r.reviewer}", 3),
                       Para(f"Soundness {r.soundness:g}/4, presentation {r.presentation:g}/4, contribution "
                            f"{r.contribution:g}/4, overall {r.overall:g}/10, confidence {r.confidence:g}/5, "
                            f"decision **{r.decision}**."),
                       Para(r.summary)]
            for title, items in (("Strengths", r.strengths), ("Weaknesses", r.weaknesses), ("Questions", r.questions)):
                if items:
                    blocks += [Para(f"{title}:"), Bullets(items)]
            if known is not None:
                text = " ".join([r.summary, *r.strengths, *r.weaknesses, *r.questions])
                stray = [m.text for m in extract_numbers(text, ignore or []) if not known.supports(m)]
                if stray:
                    blocks.append(Para("Numbers in this review that the run's records do not contain: "
                                       + ", ".join(dict.fromkeys(stray)) + "."))
        if panel.errors:
            blocks.append(Para("Reviewers that could not answer: " + "; ".join(panel.errors)))
    c = review.checklist
    blocks += [Heading("Automatic checklist"), Para(c.note)]
    if review.panel_error:
        blocks.append(Para(f"The review panel did not run: {review.panel_error}"))
    blocks.append(Table(["check", "result", "detail"], [[i.name, i.status, i.detail] for i in c.items],
                        align="lll", wide=2))
    blocks.append(Para(f"Checklist: {c.summary()}."))
    return blocks


def summary_lines(review: WriteupReview) -> list[str]:
    """A few lines for ``discover show`` and the TUI's run header."""
    lines = []
    panel = review.panel
    if panel is not None and panel.reviews:
        overall = panel.scores.get("overall")
        score = f"overall {overall.mean:.1f}/10 (std {overall.std:.1f}, {overall.n} reviewers)" if overall else ""
        meta = f", area chair: {panel.meta.decision}" if panel.meta else ""
        lines.append(f"review panel: {panel.decision}{meta}; {score}".rstrip("; "))
    lines.append(f"checklist (automatic): {review.checklist.summary()}")
    lines += [f"  [{i.status}] {i.name}: {i.detail}" for i in review.checklist.items if i.status in ("warn", "fail")]
    return lines


def review_summary(report_dir: Path, store: Any | None = None, run_id: str | None = None) -> list[str]:
    """``summary_lines`` of the stored review, or [] when the run has none yet."""
    review = load(report_dir, store, run_id)
    return summary_lines(review) if review is not None else []

