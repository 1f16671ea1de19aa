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
import os
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from discovery.limits import MIN_MODEL_SECONDS, assemble_seconds
from discovery.writeup.facts import Facts, best_so_far, collect, digest, ranked
from runs.models import Run
from runs.store import RunStore

__all__ = ["best_so_far", "ranked", "write_report"]
PROSE_CACHE = "prose.json"
_MATPLOTLIB_SECONDS = 2.0  # importing matplotlib before the first figure
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
                 reviewers: int = 3, refresh: bool = False, offline: bool = False, deadline: float | None = None,
                 interrupted: bool = False, max_cost: float | None = None) -> Path:
    """Write the run's report folder; return the path of ``report.md``.

    ``llm`` (an agents.llm.LLMConfig) defaults to the run's own model; an offline run, or
    ``offline=True``, means templates and the checklist. ``on_call`` receives every model
    call's record (agents.llm.LLMCall). ``panel=False`` skips the review panel; ``reviewers``
    is the panel's size (1-4); ``refresh`` asks the model again even when the facts and the
    write-up have not changed since the last report (otherwise the earlier text and review are reused).

    The model is held to the run's limits: ``deadline`` (a ``time.time()`` value, the end of
    the run's ``--time``) bounds its calls, leaving time to render the rest; the run's cost
    ledger stays under ``max_cost`` (default: the run's ``--max-cost``). When either leaves
    nothing, or the run was ``interrupted``, the text comes from templates and says why.
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
        # Drawing the figures is most of a model-free report's time: none is started once only
        # the time to put the report together is left.
        figure_deadline = None if deadline is None else deadline - assemble_seconds(len(facts.nodes))
        skipped: list[str] = []
        rushed = figure_deadline is not None and figure_deadline - time.time() < _MATPLOTLIB_SECONDS
        figures = [] if rushed else make_figures(facts, out, deadline=figure_deadline, skipped=skipped)
        plots = [] if rushed else copy_best_plots(facts, out)
        rushed = rushed or bool(skipped)
        checklist = run_checklist(facts.run.idea, facts.nodes, facts.best, claimed_best_id=facts.run.best_node_id,
                                  repeats={k: r.values for k, r in facts.repeats.items()}, holdout=facts.holdout)
        previous = reviews.load(out, store, run_id)
        from agents.llm import run_llm

        config = None if offline else (llm if llm is not None else run_llm(facts.run.config))
        limit = max_cost if max_cost is not None else facts.run.config.max_cost
        # The model gets what is left once the figures are drawn, less the time to put the report together.
        model_deadline = None if deadline is None else deadline - assemble_seconds(len(facts.nodes))

        def body(prose: Any) -> Any:
            return compose.build(facts, prose, figures, plots)

        held_back = None if config is None else _held_back(facts.run, interrupted, limit, model_deadline)
        if config is None or held_back is not None:
            written = _Written(prose=template_prose(facts))
            if held_back is not None:
                written.prose.notes.append(f"{held_back}, so the text comes from templates and no panel ran")
                written.panel_error = held_back
        else:
            written = _run(_with_model(config, on_call, root, facts, out, body, checklist, previous, panel,
                                       reviewers, refresh, _Limits(limit, model_deadline)))
        if rushed:
            written.prose.notes.append("the run's --time limit left too little time to draw every figure "
                                       "(`discover report` draws them)")
        doc = body(written.prose)
        text = to_markdown(doc)
        review = reviews.new_review(run_id, text, checklist, written.panel, written.panel_error,
                                    written.panel_calls, written.panel_cost)
        if config is not None and not panel and held_back is None:
            review.panel_error = "the panel was turned off for this report"
        _save_review(root, review, out)
        known = _known(facts)
        doc.add(*reviews.review_blocks(review, known, facts.ignore_words()))
        limit = {} if deadline is None else {"timeout": _pdf_seconds(deadline, len(facts.nodes))}
        pdf = build_pdf(doc, out, **limit)
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
        _write_atomic(path, to_markdown(doc))
        _write_atomic(out / "report.html", to_html(doc, out))
        return path
    finally:
        store.close()


@dataclass(frozen=True)
class _Limits:
    """What the model may still spend: the cost cap (None: none) and a time.time() deadline (None: none)."""

    max_cost: float | None
    deadline: float | None

    def left(self) -> float | None:
        return None if self.deadline is None else self.deadline - time.time()


def _held_back(run: Run, interrupted: bool, max_cost: float | None, model_deadline: float | None) -> str | None:
    """Why the model must not write this report, or None when it may."""
    if interrupted:
        return "the run was interrupted (`discover report` asks the model afterwards)"
    if max_cost is not None and run.cost >= max_cost:
        return (f"the run's cost limit (${max_cost:g}) was reached (${run.cost:.4f} spent; "
                "`discover report --max-cost` raises it)")
    if model_deadline is not None and model_deadline - time.time() < MIN_MODEL_SECONDS:
        return "the run's --time limit left too little time for the model"
    return None


def _pdf_seconds(deadline: float, nodes: int) -> float:
    """What the PDF may take: the time left once what is written after it (the tree page, the
    HTML) is allowed for. Below a second ``build_pdf`` skips it rather than overrun --time."""
    from discovery.writeup.latex import TIMEOUT

    return min(TIMEOUT, deadline - time.time() - max(2.0, assemble_seconds(nodes)))


def _write_atomic(path: Path, text: str) -> None:
    """Replace ``path`` whole: a reader (or a run killed mid-write) never sees half a report."""
    tmp = path.with_name(f".{path.name}.tmp")
    tmp.write_text(text, encoding="utf-8")
    os.replace(tmp, path)


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
                      checklist: Any, previous: Any, want_panel: bool, reviewers: int, refresh: bool,
                      limits: _Limits) -> _Written:
    recorder = None
    if on_call is None:
        # Record the calls through a connection of this thread's own (the caller's may live elsewhere).
        recorder = RunStore(root)
        run_id = facts.run.id

        def on_call(call: Any) -> None:
            recorder.add_llm_call(run_id, call.model_dump())
    try:
        return await _write_with_model(config, on_call, facts, out, body, checklist, previous, want_panel,
                                       reviewers, refresh, limits)
    finally:
        if recorder is not None:
            recorder.close()


async def _within(coro: Any, limits: _Limits) -> Any:
    """``await coro``, abandoned with TimeoutError at the deadline."""
    left = limits.left()
    if left is None:
        return await coro
    return await asyncio.wait_for(coro, max(0.0, left))


async def _write_with_model(config: Any, on_call: Any, facts: Facts, out: Path, body: Any, checklist: Any,
                            previous: Any, want_panel: bool, reviewers: int, refresh: bool,
                            limits: _Limits) -> _Written:
    from agents.extract import BadJSON
    from agents.llm import CostLedger, LLMClient, LLMError
    from discovery.writeup import review as reviews
    from discovery.writeup.document import to_markdown
    from discovery.writeup.prose import model_prose, template_prose
    from reviewers.panel import PERSONAS, review_panel

    # The run's ledger, so the write-up's calls count against the same cap as the search's.
    client = LLMClient(config, on_call, ledger=CostLedger(limit=limits.max_cost, spent=facts.run.cost))
    model = config.model_for("writeup")
    key = reviews.text_hash(digest(facts))
    prose = None if refresh else _cached_prose(out, key, model)
    if prose is None:
        try:
            prose = await _within(model_prose(client, facts), limits)
        except (LLMError, BadJSON) as exc:
            prose = template_prose(facts)
            prose.notes.append(f"the model could not write the text ({exc}), so templates were used")
        except TimeoutError:
            prose = template_prose(facts)
            prose.notes.append("the model had not written the text when the run's --time limit came, so "
                               "templates were used")
        prose.calls, prose.cost = client.calls, client.total_cost
        if prose.author != "templates":
            _cache_prose(out, key, prose)
    written = _Written(prose=prose)
    if not want_panel:
        return written
    text = to_markdown(body(prose))
    left = limits.left()
    if (previous is not None and not refresh and previous.panel is not None and previous.panel.reviews
            and previous.report_hash == reviews.text_hash(text)):
        written.panel, written.panel_calls, written.panel_cost = previous.panel, previous.calls, previous.cost
    elif client.ledger.reached:
        written.panel_error = f"the run's cost limit (${limits.max_cost:g}) was reached"
    elif left is not None and left < MIN_MODEL_SECONDS:
        written.panel_error = "the run's --time limit left too little time for the panel"
    else:
        calls, cost = client.calls, client.total_cost
        try:
            result = await _within(review_panel(client, text, digest(facts), checklist=checklist,
                                                personas=PERSONAS[:max(1, min(reviewers, len(PERSONAS)))]), limits)
        except TimeoutError:
            result = None
            written.panel_error = "the panel had not finished when the run's --time limit came"
        written.panel_calls, written.panel_cost = client.calls - calls, client.total_cost - cost
        if result is not None and result.reviews:
            written.panel = result
        elif result is not None:
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
