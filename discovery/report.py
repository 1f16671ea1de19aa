"""The write-up of a run, made only from what the store holds.

``write_report`` writes ``runs/<run>/report/``: report.md, a self-contained report.html,
the figures as PNG, tree.html (the interactive tree), review.json, report.tex and, with a
TeX engine on PATH, report.pdf. Offline the prose comes from templates and the review is
an automatic checklist; with a model configured the model writes the abstract, discussion
and limitations (every number checked against the store) and a panel reviews the result.
The parts live in ``discovery.writeup``; this module puts them together.
"""

from __future__ import annotations

import asyncio
import json
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from discovery.writeup.facts import Facts, best_so_far, collect, digest, ranked
from runs.store import RunStore

__all__ = ["best_so_far", "ranked", "write_report"]
PROSE_CACHE = "prose.json"
GROUNDING_FILE = "grounding.json"


@dataclass
class _Written:
    """What the model-dependent steps produced, and the calls the panel took."""

    prose: Any
    panel: Any = None
    panel_error: str | None = None
    panel_calls: int = 0
    panel_cost: float = 0.0


def write_report(root: str | Path, run_id: str, *, llm: Any = None, on_call: Any = None, panel: bool = True,
                 reviewers: int = 3, refresh: bool = False, offline: bool = False) -> Path:
    """Write the run's report folder; return the path of ``report.md``.

    ``llm`` (an agents.llm.LLMConfig) defaults to the run's own model; an offline run, or
    ``offline=True``, means templates and the checklist. ``on_call`` receives every model
    call's record (agents.llm.LLMCall). ``panel=False`` skips the review panel; ``reviewers``
    is the panel's size (1-4); ``refresh`` asks the model again even when the facts and the
    write-up have not changed since the last report (otherwise the earlier text and review are reused).
    """
    from discovery.writeup import compose
    from discovery.writeup import review as reviews
    from discovery.writeup.document import to_html, to_markdown
    from discovery.writeup.figures import copy_best_plots, make_figures
    from discovery.writeup.latex import build_pdf
    from discovery.writeup.prose import template_prose
    from discovery.writeup.tree_page import write_tree_page
    from reviewers.checklist import run_checklist

    store = RunStore(root, readonly=True)
    try:
        facts = collect(store, run_id)
        out = facts.run_dir / "report"
        out.mkdir(parents=True, exist_ok=True)
        figures = make_figures(facts, out)
        plots = copy_best_plots(facts, out)
        checklist = run_checklist(facts.run.idea, facts.nodes, facts.best, claimed_best_id=facts.run.best_node_id,
                                  repeats={k: r.values for k, r in facts.repeats.items()}, holdout=facts.holdout)
        previous = reviews.load(out, store, run_id)
        from agents.llm import run_llm

        config = None if offline else (llm if llm is not None else run_llm(facts.run.config))

        def body(prose: Any) -> Any:
            return compose.build(facts, prose, figures, plots)

        if config is None:
            written = _Written(prose=template_prose(facts))
        else:
            written = _run(_with_model(config, on_call, root, facts, out, body, checklist, previous, panel,
                                       reviewers, refresh))
        doc = body(written.prose)
        text = to_markdown(doc)
        review = reviews.new_review(run_id, text, checklist, written.panel, written.panel_error,
                                    written.panel_calls, written.panel_cost)
        if config is not None and not panel:
            review.panel_error = "the panel was turned off for this report"
        _save_review(root, review, out)
        known = _known(facts)
        doc.add(*reviews.review_blocks(review, known, facts.ignore_words()))
        pdf = build_pdf(doc, out)
        tree = write_tree_page(facts, store, out)
        outputs = ["report.md", "report.html", tree.name, *(fig.path for fig in figures), "review.json",
                   "report.tex"] + (["report.pdf"] if pdf.path else [])
        if plots:
            outputs.append(f"plots/ ({len(plots)} files)")
        reviewed_by = (f"a panel of {len(review.panel.reviews)} model reviewers and the automatic checklist"
                       if review.kind == "panel" else "the automatic checklist only (no review panel)")
        doc.add(*compose.about(written.prose, outputs, pdf.message, written.prose.calls + review.calls,
                               written.prose.cost + review.cost, reviewed_by,
                               config.model_for("writeup") if config is not None else None))
        path = out / "report.md"
        path.write_text(to_markdown(doc), encoding="utf-8")
        (out / "report.html").write_text(to_html(doc, out), encoding="utf-8")
        return path
    finally:
        store.close()


def _known(facts: Facts) -> Any:
    from reviewers.grounding import KnownNumbers

    return KnownNumbers(facts.numbers)


def _save_review(root: str | Path, review: Any, out: Path) -> None:
    from discovery.writeup import review as reviews

    writable = RunStore(root)
    try:
        reviews.save(review, out, writable)
    finally:
        writable.close()


def _run(coro: Any) -> Any:
    """Run a coroutine to completion from sync code, even when this thread has a loop running."""
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        return asyncio.run(coro)
    with ThreadPoolExecutor(max_workers=1) as pool:
        return pool.submit(asyncio.run, coro).result()


async def _with_model(config: Any, on_call: Any, root: str | Path, facts: Facts, out: Path, body: Any,
                      checklist: Any, previous: Any, want_panel: bool, reviewers: int, refresh: bool) -> _Written:
    recorder = None
    if on_call is None and hasattr(RunStore, "add_llm_call"):
        # Record the calls through a connection of this thread's own (the caller's may live elsewhere).
        recorder = RunStore(root)
        run_id = facts.run.id

        def on_call(call: Any) -> None:
            recorder.add_llm_call(run_id, call.model_dump())
    try:
        return await _write_with_model(config, on_call, facts, out, body, checklist, previous, want_panel,
                                       reviewers, refresh)
    finally:
        if recorder is not None:
            recorder.close()


async def _write_with_model(config: Any, on_call: Any, facts: Facts, out: Path, body: Any, checklist: Any,
                            previous: Any, want_panel: bool, reviewers: int, refresh: bool) -> _Written:
    from agents.extract import BadJSON
    from agents.llm import LLMClient, LLMError
    from discovery.writeup import review as reviews
    from discovery.writeup.document import to_markdown
    from discovery.writeup.prose import model_prose, template_prose
    from reviewers.panel import PERSONAS, review_panel

    client = LLMClient(config, on_call)
    model = config.model_for("writeup")
    key = reviews.text_hash(digest(facts))
    prose = None if refresh else _cached_prose(out, key, model)
    if prose is None:
        try:
            prose = await model_prose(client, facts)
        except (LLMError, BadJSON) as exc:
            prose = template_prose(facts)
            prose.notes.append(f"the model could not write the text ({exc}), so templates were used")
        prose.calls, prose.cost = client.calls, client.total_cost
        if prose.author != "templates":
            _cache_prose(out, key, prose)
    written = _Written(prose=prose)
    if want_panel:
        text = to_markdown(body(prose))
        reusable = (previous is not None and not refresh and previous.panel is not None and previous.panel.reviews
                    and previous.report_hash == reviews.text_hash(text))
        if reusable:
            written.panel, written.panel_calls, written.panel_cost = previous.panel, previous.calls, previous.cost
        else:
            calls, cost = client.calls, client.total_cost
            result = await review_panel(client, text, digest(facts), checklist=checklist,
                                        personas=PERSONAS[:max(1, min(reviewers, len(PERSONAS)))])
            written.panel_calls, written.panel_cost = client.calls - calls, client.total_cost - cost
            if result.reviews:
                written.panel = result
            else:
                written.panel_error = "; ".join(result.errors) or "no reviewer answered"
    return written


def _cached_prose(out: Path, key: str, model: str) -> Any:
    from discovery.writeup.prose import Prose
    from reviewers.grounding import GroundingReport

    path = out / PROSE_CACHE
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    if data.get("digest") != key or data.get("author") != model:
        return None
    g = data.get("grounding") or {}
    return Prose(abstract=data["abstract"], discussion=data["discussion"], limitations=data["limitations"],
                 related_work=data.get("related_work", ""), method_context=data.get("method_context", ""),
                 author=model, grounding=GroundingReport(checked=g.get("checked", 0), dropped=g.get("dropped", []),
                                                         rewritten=g.get("rewritten", False)),
                 notes=data.get("notes", []), calls=int(data.get("calls", 0)), cost=float(data.get("cost", 0.0)))


def _cache_prose(out: Path, key: str, prose: Any) -> None:
    g = prose.grounding
    grounding = {"checked": g.checked, "rewritten": g.rewritten, "dropped": g.dropped} if g else {}
    data = {"digest": key, "author": prose.author, "abstract": prose.abstract, "discussion": prose.discussion,
            "limitations": prose.limitations, "related_work": prose.related_work,
            "method_context": prose.method_context, "notes": prose.notes, "grounding": grounding, "calls": prose.calls,
            "cost": prose.cost}
    (out / PROSE_CACHE).write_text(json.dumps(data, indent=1), encoding="utf-8")
    (out / GROUNDING_FILE).write_text(json.dumps({"author": prose.author, **grounding}, indent=1), encoding="utf-8")
