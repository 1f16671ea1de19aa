"""The abstract, discussion and limitations (and, when the run has stored papers, the related work
and the method's context, which cite them): from templates offline, from a model when one is set.

A model writes from the digest of the store only, and its text is checked number by number
against what the store holds (reviewers.grounding, reviewers.claims) and citation by citation
against the papers stored for the run (reviewers.citations). Sentences that fail are sent back
once with the reason; what still fails is dropped, and the report says what was dropped.
"""

from __future__ import annotations

import statistics
from dataclasses import dataclass, field
from typing import Any

from pydantic import BaseModel, Field

from discovery.writeup.facts import Facts, digest, fmt, seconds_text, train_gap
from reviewers.citations import Citations, check_citations, normalise
from reviewers.citations import describe as describe_citations
from reviewers.grounding import (
    GroundingReport,
    KnownNumbers,
    check_text,
    describe_failures,
    drop_sentences,
    drop_unsupported,
)

SECTIONS = ("abstract", "discussion", "limitations")
CITING = ("related_work", "method_context")  # written only when the run has stored papers


@dataclass
class Prose:
    """The three written sections and who wrote them."""

    abstract: str
    discussion: str
    limitations: str
    related_work: str = ""  # cites the stored papers as [@key]
    method_context: str = ""  # the Method section's first paragraph: which papers the approach relates to
    author: str = "templates"  # or the model's name
    grounding: GroundingReport | None = None
    notes: list[str] = field(default_factory=list)  # fallbacks and failures, said in the report
    calls: int = 0  # model calls it took (cached with the text, so a reused text keeps its count)
    cost: float = 0.0


class WriteupReply(BaseModel):
    """What the model must answer."""

    abstract: str = Field(min_length=1, max_length=6000)
    discussion: str = Field(min_length=1, max_length=12000)
    limitations: str = Field(min_length=1, max_length=8000)
    related_work: str = Field(default="", max_length=8000)
    method_context: str = Field(default="", max_length=3000)


def sections(f: Facts) -> tuple[str, ...]:
    """The sections written for this run."""
    return SECTIONS + (CITING if f.papers else ())


# -- templates ------------------------------------------------------------------------------------

def template_prose(f: Facts) -> Prose:
    """The sections written from the store by fixed templates: every number is a stored one."""
    return Prose(abstract=_abstract(f), discussion=_discussion(f), limitations=_limitations(f),
                 related_work=_related_work(f), method_context=_method_context(f))


def _related_work(f: Facts) -> str:
    if not f.papers:
        return ""
    intro = ("Before the search, the idea was checked for novelty against the closest papers a literature search "
             "found for it:" if f.papers_from_idea else
             "Papers a literature search found for this idea, closest to it first:")
    items = []
    for p in f.papers:
        title = " ".join(p.title.replace("*", "").replace("`", "").split())
        note = " ".join(f.paper_notes.get(p.id, "").split())[:300]
        items.append(f"- [@{f.cite_keys[p.id]}] *{title}*" + (f": {note}" if note else ""))
    return intro + "\n\n" + "\n".join(items)


def _method_context(f: Facts) -> str:
    if not f.papers:
        return ""
    cites = " ".join(f"[@{f.cite_keys[p.id]}]" for p in f.papers[:3])
    if f.papers_from_idea:
        return (f"The idea was written with `discover ideate` and checked for overlap with the closest published "
                f"work found for it {cites} (see Related work); the search below tests it.")
    return f"The closest published work a literature search found for this idea is {cites} (see Related work)."


def _abstract(f: Facts) -> str:
    run, metric = f.run, f.metric_name
    good = f.counts.get("good", 0)
    text = (f"We searched {len(f.nodes)} experiments for the idea \"{run.idea.title}\" with the "
            f"{run.config.policy} policy and the {run.agent} agent, optimising `{metric}` "
            f"({run.idea.metric.direction}). {good} of them produced a valid metric.")
    if f.best is None or f.best.metric is None:
        return text + " None produced a usable result, so there is no best experiment to report."
    b = f.best
    text += (f" The best, node {b.id} ({b.operator}, depth {b.depth}), reached `{metric}` = {fmt(b.metric)}")
    if f.first_draft is not None and f.first_draft.id != b.id and f.gain is not None:
        text += f", against {fmt(f.first_draft.metric)} for the first valid draft (node {f.first_draft.id})"
    text += "."
    rep = f.repeats.get(b.id)
    if rep is not None and rep.n > 1:
        text += f" Over {rep.n} seeds it scored {fmt(rep.mean)} on average (standard deviation {fmt(rep.std)})."
    if b.id in f.holdout:
        text += f" On the held-out evaluation it scored {fmt(f.holdout[b.id])}."
    return text


def _discussion(f: Facts) -> str:
    if f.best is None or f.best.metric is None:
        reasons = "; ".join(f"{c} x {r}" for r, c in f.failure_reasons[:3])
        return "No experiment produced a valid metric" + (f" (most common failures: {reasons})." if reasons else ".")
    b, metric = f.best, f.metric_name
    paras = []
    steps = [n for n in f.path]
    if len(steps) > 1:
        chain = " -> ".join(f"node {n.id} ({n.operator}, {fmt(n.metric) if n.metric is not None else n.status.value})"
                            for n in steps)
        paras.append(f"The best node was reached in {len(steps) - 1} steps from a draft: {chain}.")
    else:
        paras.append(f"The best node is a draft (node {b.id}); no improvement of it scored higher.")
    if b.params:
        params = ", ".join(f"`{k}` = {fmt(v) if not isinstance(v, str) else v}" for k, v in sorted(b.params.items()))
        paras[-1] += f" It used {params}."
    ops = []
    for op, s in sorted(f.operators.items()):
        if s.metrics:
            best = max(s.metrics) if f.maximize else min(s.metrics)
            mean = statistics.fmean(s.metrics)
            ops.append(f"{op} ({s.count} node{'' if s.count == 1 else 's'}, {s.good} valid, best {fmt(best)}, "
                       f"mean {fmt(mean)})")
        else:
            ops.append(f"{op} ({s.count} node{'' if s.count == 1 else 's'}, none valid)")
    if ops:
        paras.append("By operator: " + "; ".join(ops) + ".")
    if f.best_found is not None:
        done, seconds = f.best_found
        paras[-1] += (f" The best node finished {seconds_text(seconds)} seconds into the search (of "
                      f"{seconds_text(f.run.elapsed)} seconds searching), when {done} nodes had finished.")
    gap = train_gap(f)
    if gap is not None:
        paras.append(f"The best node's `{gap[0]}` exceeds its `{metric}` by {fmt(gap[1])}."
                     if gap[1] > 0 else f"The best node's `{gap[0]}` is not above its `{metric}` "
                     f"(difference {fmt(gap[1])}).")
    paras.append("Whether this supports the hypothesis is for the reader to judge from the numbers above: "
                 "this section was written from templates, which report but do not interpret.")
    return "\n\n".join(paras)


def _limitations(f: Facts) -> str:
    items = []
    best = f.best
    if best is not None and f.repeats.get(best.id) is not None and f.repeats[best.id].n > 1:
        items.append(f"Repeats over seeds cover {len(f.repeats)} of the {len(f.ranked)} valid nodes; the others "
                     "ran once.")
    else:
        items.append("Each node ran once with one seed: differences smaller than the run-to-run noise of the "
                     "experiment are not evidence.")
    if f.run.idea.has_holdout:
        if best is not None and best.id in f.holdout and best.metric is not None:
            items.append(f"The held-out score of the best node ({fmt(f.holdout[best.id])}) is the unbiased "
                         "estimate; the validation score was used to select it.")
        else:
            items.append("A held-out script exists, but the best node has no held-out score.")
    else:
        items.append(f"The metric is the validation score the search selected on: picking the best of "
                     f"{len(f.ranked)} valid nodes on it biases it in the search's favour, and no held-out "
                     "script was declared.")
    if f.run.agent == "offline":
        items.append("The offline agent only varies the constants of the idea's search space; it does not "
                     "change the method itself.")
    if len(f.nodes) < f.run.config.budget:
        items.append(f"The search ran {len(f.nodes)} of its budget of {f.run.config.budget} nodes.")
    failed = sum(f.counts.get(s, 0) for s in ("buggy", "failed", "cancelled"))
    if failed:
        fixed = f"; buggy nodes fixed by a debug step: {f.buggy_fixed} of {f.buggy_total}" if f.buggy_total else ""
        items.append(f"{failed} of the {len(f.nodes)} nodes did not produce a result{fixed}.")
    if f.flagged:
        items.append(f"Nodes flagged invalid by a reviewer, and excluded from the results: {len(f.flagged)}.")
    return "\n".join(f"- {i}" for i in items)


# -- written by a model -----------------------------------------------------------------------------

_SYSTEM = ("You write the abstract, discussion and limitations of a short research report about an automated "
           "search over experiments. You write only from the recorded facts you are given. Every number you "
           "write must appear in the recorded facts (you may round it, keeping at least two significant "
           "digits); do not compute new numbers such as ratios or differences unless they are listed; do "
           "not invent experiments, baselines or citations. Say plainly what the evidence does not show.")


def _request(f: Facts) -> list[dict[str, Any]]:
    citing = ""
    answer = '{"abstract": "...", "discussion": "...", "limitations": "..."}'
    if f.papers:
        citing = ("- related_work: one paragraph relating the idea and its result to the papers listed above, "
                  "citing each one you mention as [@key] with its key from the list.\n"
                  "- method_context: one or two sentences that open the Method section: which of the listed papers "
                  "the approach builds on or differs from, cited as [@key].\n"
                  "Cite only the listed papers, only as [@key]; write no other reference, author-year citation, "
                  "DOI or arXiv id.\n")
        answer = answer[:-1] + ', "related_work": "...", "method_context": "..."}'
    return [
        {"role": "system", "content": _SYSTEM},
        {"role": "user", "content": digest(f) + "\n\n"
         f"Write {'five' if f.papers else 'three'} sections in plain prose (Markdown inline code allowed, "
         "no headings):\n"
         "- abstract: one paragraph, at most 150 words: the idea, what was searched, the main result.\n"
         "- discussion: two or three paragraphs: what the search found, which changes mattered, whether "
         "the result supports the hypothesis and how strongly.\n"
         "- limitations: a Markdown list (lines starting with '- ') of the threats to the conclusion.\n"
         + citing + f"Answer with only a JSON object: {answer}"},
    ]


async def model_prose(client: Any, f: Facts) -> Prose:
    """The sections written by ``client``'s writeup model and checked against the store.

    One re-ask when numbers or citations fail; sentences that still fail are dropped. LLMError
    and agents.extract.BadJSON pass through: the caller falls back to the templates.
    """
    from agents.extract import ask_json

    known = f.record if f.record is not None else KnownNumbers(f.numbers)
    cites = Citations.of(f.papers, f.cite_keys)
    ignore = f.ignore_words()
    names = sections(f)
    messages = _request(f)
    reply = await ask_json(client, messages, WriteupReply, role="writeup", purpose="writeup")
    numbers, citations = _check(reply, names, known, cites, ignore)
    rewritten = False
    if not (numbers.ok and citations.ok):
        rewritten = True
        problems = []
        if not numbers.ok:
            problems.append("These sentences state numbers that are not in the recorded facts:\n"
                            + describe_failures(numbers))
        if not citations.ok:
            problems.append("These sentences cite papers that are not in the list you were given:\n"
                            + describe_citations(citations))
        again = [*messages, {"role": "assistant", "content": reply.model_dump_json()},
                 {"role": "user", "content": "\n".join(problems) + "\nRewrite them using only numbers from the "
                  "recorded facts (or without numbers) and citing only the listed papers as [@key] (or none), keep "
                  "everything else, and answer with the same JSON object."}]
        reply = await ask_json(client, again, WriteupReply, role="writeup", purpose="writeup_rewrite")
    written: dict[str, str] = {}
    total = GroundingReport(rewritten=rewritten)
    notes = []
    fallback = template_prose(f)
    for name in names:
        text, invented = drop_sentences(getattr(reply, name), lambda sentence: bool(normalise(sentence, cites)[2]))
        text = normalise(text, cites)[0]
        text, checked = drop_unsupported(text, known, ignore=ignore)
        total = total.merge(checked)
        total.dropped += invented
        if not text.strip():
            notes.append(f"the model's {name.replace('_', ' ')} stated nothing the store backs, so the template's "
                         "is shown")
            text = getattr(fallback, name)
        written[name] = text
    model = client.config.model_for("writeup")
    return Prose(**written, author=model, grounding=total, notes=notes)


def _check(reply: WriteupReply, names: tuple[str, ...], known: Any, cites: Citations,
           ignore: list[str]) -> tuple[GroundingReport, GroundingReport]:
    """(sentences with unsupported numbers, sentences with invented citations) of the reply."""
    numbers, citations = GroundingReport(), GroundingReport()
    for name in names:
        text = getattr(reply, name)
        citations = citations.merge(check_citations(text, cites))
        numbers = numbers.merge(check_text(normalise(text, cites)[0], known, ignore=ignore))
    return numbers, citations
