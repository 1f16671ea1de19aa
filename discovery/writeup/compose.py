"""The report's sections, assembled as document blocks from the facts, the prose and the figures."""

from __future__ import annotations

import re
import shlex
import statistics

from discovery.durations import format_duration
from discovery.writeup.document import (
    Block,
    Bullets,
    Code,
    Document,
    Heading,
    Image,
    Para,
    Reference,
    References,
    Table,
    cited_keys,
)
from discovery.writeup.facts import TOP, Facts, fmt
from discovery.writeup.figures import Figure
from discovery.writeup.prose import Prose

_LIST_LINE = re.compile(r"^\s*(?:[-*+]|\d+[.)])\s+")


def plural(count: int, word: str) -> str:
    """``1 node``, ``2 nodes``."""
    return f"{count} {word}{'' if count == 1 else 's'}"


def prose_blocks(text: str) -> list[Block]:
    """Paragraphs and lists of a plain Markdown text (as models and templates write them)."""
    blocks: list[Block] = []
    for para in re.split(r"\n\s*\n", (text or "").strip()):
        lines = [line for line in para.splitlines() if line.strip()]
        if not lines:
            continue
        if all(_LIST_LINE.match(line) or line.startswith("  ") for line in lines) and _LIST_LINE.match(lines[0]):
            items: list[str] = []
            for line in lines:
                if _LIST_LINE.match(line):
                    items.append(_LIST_LINE.sub("", line, count=1).strip())
                else:
                    items[-1] += " " + line.strip()
            ordered = bool(re.match(r"^\s*\d", lines[0]))
            blocks.append(Bullets(items, ordered=ordered))
        else:
            blocks.append(Para(" ".join(line.strip() for line in lines)))
    return blocks


def build(f: Facts, prose: Prose, figures: list[Figure], plots: list[Figure]) -> Document:
    """The report up to (not including) the review and the note about how it was made."""
    run, idea = f.run, f.run.idea
    doc = Document(idea.title)
    doc.add(Para(f"Run `{run.id}` ({run.status}): {len(f.nodes)} nodes searched with the `{run.config.policy}` "
                 f"policy and the `{run.agent}` agent in the `{run.workspace}` workspace. The whole tree, "
                 "node by node: [tree.html](tree.html)."))
    if run.isolation:
        doc.add(Para(f"Nodes ran in the {run.isolation}."))
    doc.add(Heading("Abstract"), *prose_blocks(prose.abstract))
    doc.add(*_idea(f))
    if prose.related_work:
        doc.add(Heading("Related work"), *prose_blocks(prose.related_work))
    doc.add(*_method(f, prose))
    doc.add(*_results(f, figures, plots))
    doc.add(Heading("Discussion"), *prose_blocks(prose.discussion))
    doc.add(*_failures(f))
    doc.add(Heading("Limitations"), *prose_blocks(prose.limitations))
    doc.add(*_reproduce(f))
    doc.add(*_cost(f))
    doc.add(*_references(f, doc))
    return doc


def _references(f: Facts, doc: Document) -> list[Block]:
    """The stored papers the text cites, numbered in order of first citation."""
    from agents.literature.bibtex import bibtex, reference_text

    by_key = {f.cite_keys[p.id]: p for p in f.papers}
    order: list[str] = []
    for b in doc.blocks:
        texts = [b.text] if isinstance(b, Para) else b.items if isinstance(b, Bullets) else []
        for text in texts:
            order += [k for k in cited_keys(text) if k in by_key and k not in order]
    if not order:
        return []
    return [References([Reference(k, reference_text(by_key[k]), by_key[k].url, bibtex(by_key[k], k))
                        for k in order])]


def _idea(f: Facts) -> list[Block]:
    idea = f.run.idea
    blocks: list[Block] = [Heading("Idea and hypothesis")]
    if idea.hypothesis:
        blocks += [Para("**Hypothesis.**"), *prose_blocks(idea.hypothesis)]
    if idea.experiments:
        blocks += [Para("**Planned experiments.**"), *prose_blocks(idea.experiments)]
    if not idea.hypothesis and not idea.experiments and idea.body:
        blocks += prose_blocks(idea.body[:4000])
    if idea.task is not None:
        blocks.append(Para(f"A dataset task ({idea.task.layout} layout): each node writes `submission.csv`, which the "
                           f"framework scores with `{idea.metric.name}` ({idea.metric.direction}) on a validation "
                           "split of the training data it held back for the whole run; the chosen node is graded "
                           f"once on the private test answers. Each node may run for {fmt(idea.time_limit)} seconds."))
        return blocks
    blocks.append(Para(f"The search optimises `{idea.metric.name}` ({idea.metric.direction}), as the experiment "
                       f"writes it to `metrics.json`; each node may run for {fmt(idea.time_limit)} seconds."))
    return blocks


def _method(f: Facts, prose: Prose) -> list[Block]:
    cfg = f.run.config
    blocks: list[Block] = [Heading("Method"), *prose_blocks(prose.method_context)]
    blocks.append(Para(f"A tree search: the `{cfg.policy}` policy chose which node to expand next and with which "
                       f"operator ({operators_used(f)}); the `{f.run.agent}` agent wrote the experiment code; "
                       f"{plural(cfg.workers, 'worker')} ran nodes in parallel, within a budget of {cfg.budget} nodes."))
    if f.best is None:
        blocks.append(Para("No node produced a valid metric, so there is no best approach to describe."))
        return blocks
    b = f.best
    blocks.append(Para(f"**The best approach** (node {b.id}, {b.operator} at depth {b.depth}): "
                       + (" ".join(b.plan.split()) or "(no plan recorded)")))
    if b.params:
        blocks.append(Table(["parameter", "value"], [[k, fmt(v, 6) if not isinstance(v, str) else v]
                                                     for k, v in sorted(b.params.items())], align="lr"))
    if f.path:
        blocks.append(Para("**How the search got there**, from the first draft of this branch to the best node:"))
        items = []
        for n in f.path:
            score = fmt(n.metric, 6) if n.metric is not None else n.status.value
            items.append(f"node {n.id} ({n.operator}, {score}): {' '.join(n.plan.split())[:400]}")
        blocks.append(Bullets(items, ordered=True))
    return blocks


OPERATOR_ORDER = ("draft", "improve", "debug", "tune", "ablate")


def operators_used(f: Facts) -> str:
    """The operators that made nodes in this run, with counts: ``draft for 3 nodes, improve for 1 node``."""
    ran = sorted(f.operators.items(), key=lambda kv: (OPERATOR_ORDER.index(kv[0]) if kv[0] in OPERATOR_ORDER
                                                      else len(OPERATOR_ORDER), kv[0]))
    parts = [f"{op} for {plural(s.count, 'node')}" for op, s in ran if s.count]
    return "used here: " + ", ".join(parts) if parts else "no node was made"


def _results(f: Facts, figures: list[Figure], plots: list[Figure]) -> list[Block]:
    metric = f.metric_name
    blocks: list[Block] = [Heading("Results")]
    counts = ", ".join(f"{v} {k}" for k, v in sorted(f.counts.items()))
    items = [f"Nodes: {len(f.nodes)} ({counts})", f"Time searching: {format_duration(f.run.elapsed)}",
             f"Metric: `{metric}`, to {f.run.idea.metric.direction}"]
    if f.best is not None and f.best.metric is not None:
        items.append(f"Best: node {f.best.id}, `{metric}` = {f.best.metric:.6g}")
        if f.first_draft is not None and f.first_draft.id != f.best.id and f.gain is not None:
            items.append(f"First valid draft (node {f.first_draft.id}): `{metric}` = {f.first_draft.metric:.6g}; "
                         f"the best differs from it by {f.gain:+.6g}")
        if f.best.id in f.holdout:
            items.append(f"Held-out `{metric}` of the best node: {f.holdout[f.best.id]:.6g}")
        if f.task is not None:
            items += score_lines_of(f)
    else:
        items.append("No node produced a valid metric.")
    blocks.append(Bullets(items))
    if f.ranked:
        seeds = any(n.id in f.repeats for n in f.ranked[:TOP])
        held = any(n.id in f.holdout for n in f.ranked[:TOP])
        header = ["node", "parent", "operator", "depth", metric]
        if seeds:
            header += ["seeds", "mean", "std"]
        if held:
            header += ["held-out"]
        header.append("plan")
        rows = []
        for n in f.ranked[:TOP]:
            row = [str(n.id), str(n.parent_id or "-"), n.operator, str(n.depth), f"{n.metric:.6g}"]
            if seeds:
                rep = f.repeats.get(n.id)
                row += [str(rep.n), fmt(rep.mean), fmt(rep.std)] if rep else ["1", "-", "-"]
            if held:
                row.append(fmt(f.holdout.get(n.id)))
            row.append(" ".join(n.plan.split())[:200])
            rows.append(row)
        align = "rrlrr" + ("rrr" if seeds else "") + ("r" if held else "") + "l"
        blocks += [Heading(f"Top nodes (best first, {min(TOP, len(f.ranked))} of {len(f.ranked)} valid)", 3),
                   Table(header, rows, align=align, wide=len(header) - 1)]
    if figures:
        blocks.append(Heading("Figures", 3))
        blocks += [Image(fig.path, fig.caption) for fig in figures]
    if plots:
        blocks.append(Heading("Plots saved by the best experiments", 3))
        blocks += [Image(fig.path, fig.caption) for fig in plots]
    return blocks


def score_lines_of(f: Facts) -> list[str]:
    """A dataset task's validation, test and leaderboard lines (the first, a heading line, left out)."""
    t = f.task
    out = []
    if t.validation is not None:
        own = f" (its own estimate: {t.self_reported:.6g})" if t.self_reported is not None else ""
        out.append(f"Validation `{t.metric}` on {t.validation_rows} training rows the framework held back: "
                   f"{t.validation:.6g}{own}")
    if t.test is not None:
        out.append(f"Test `{t.metric}` on the private answers: {t.test:.6g}")
    elif not t.has_answers:
        out.append("Test: the task has no private answers (AIDE layout); only the validation score is known")
    elif t.test_error:
        out.append(f"Test: not graded ({t.test_error})")
    if t.standing:
        s = t.standing
        out.append(f"Leaderboard: rank {s['rank']} of {s['of']}, better than or equal to {100 * s['beats']:.0f}% of "
                   f"its entries; medal: {s['medal']}")
    if t.isolation:
        out.append(f"Isolation of the nodes from the answers: {t.isolation}")
    return out


def _failures(f: Facts) -> list[Block]:
    blocks: list[Block] = [Heading("What failed and why")]
    bad = {s: f.counts.get(s, 0) for s in ("buggy", "failed", "flagged", "cancelled") if f.counts.get(s)}
    if not bad:
        blocks.append(Para("Every node that ran produced a valid metric."))
        return blocks
    meaning = {"buggy": "ran but crashed, timed out or wrote no valid metric",
               "failed": "the agent produced no code, so nothing ran",
               "flagged": "ran, but a reviewer judged the result invalid (never chosen as best)",
               "cancelled": "stopped because the run stopped"}
    blocks.append(Table(["status", "nodes", "meaning"], [[s, str(c), meaning[s]] for s, c in bad.items()],
                        align="lrl", wide=2))
    timed_out = sum(1 for n in f.nodes if n.timed_out)
    notes = []
    if f.buggy_total:
        notes.append(f"Buggy nodes fixed by a chain of debug steps: {f.buggy_fixed} of {f.buggy_total}.")
    if timed_out:
        notes.append(f"{plural(timed_out, 'node')} hit the time limit.")
    if notes:
        blocks.append(Para(" ".join(notes)))
    if f.failure_reasons:
        blocks += [Para("Most common errors (first line):"),
                   Bullets([f"{count} x `{reason}`" for reason, count in f.failure_reasons])]
    if f.flagged:
        items = []
        for n in f.flagged[:10]:
            why = (n.error or "").strip().splitlines()[0][:200] if (n.error or "").strip() else ""
            reviews = f.node_reviews.get(n.id, [])
            said = next((str(r.get("summary")) for r in reviews if r.get("summary")), "")
            metric = f", {f.metric_name} {n.metric:.6g}" if n.metric is not None else ""
            items.append(f"node {n.id}{metric}: {why or said or 'flagged'}")
        blocks += [Para("Flagged nodes:"), Bullets(items)]
    return blocks


def _reproduce(f: Facts) -> list[Block]:
    if f.best is None:
        return []
    b = f.best
    folder = f.node_dir(b.id)
    return [Heading("Reproduce the best node"),
            Para(f"The script below is node {b.id}'s `experiment.py`; it wrote `metrics.json` in its folder."),
            Code(f"cd {shlex.quote(str(folder))} && python experiment.py\n"
                 f"discover show {shlex.quote(f.run.id)} --node {b.id}   # everything stored about it", "sh"),
            Code(b.code or "(no code stored)", "python")]


def _cost(f: Facts) -> list[Block]:
    exec_times = [n.exec_seconds for n in f.nodes if n.exec_seconds is not None]
    items = [f"Time searching: {format_duration(f.run.elapsed)} ({f.run.elapsed:.1f} s)"]
    if exec_times:
        items.append(f"Execution time of the experiments: {sum(exec_times):.1f} s in total, "
                     f"{statistics.fmean(exec_times):.2f} s per node on average, {max(exec_times):.2f} s at most")
    if f.run.agent != "offline" or f.search_cost:
        items.append(f"Model cost of the search: ${f.search_cost:.4f}")
    usage = f.llm_usage
    if usage:
        parts = [f"{int(usage.get('calls', 0))} calls"]
        if "tokens_in" in usage:
            parts.append(f"{int(usage['tokens_in'])} tokens in, {int(usage.get('tokens_out', 0))} out")
        if "cost" in usage:
            parts.append(f"${usage['cost']:.4f}")
        items.append("Model calls of the search: " + ", ".join(parts))
    return [Heading("Cost and time"), Bullets(items)]


def about(prose: Prose, outputs: list[str], pdf_message: str, writeup_calls: int, writeup_cost: float,
          reviewed_by: str, model: str | None = None) -> list[Block]:
    """How this report was made: who wrote which part, the grounding check, the files."""
    items = []
    if prose.author == "templates":
        items.append("The abstract, discussion and limitations were generated from templates filled with "
                     "numbers from the run store" + (f" (the model `{model}` was configured but did not write "
                                                     "them)." if model else " (no model was configured)."))
    else:
        parts = "the abstract, discussion, limitations, related work and the method's context" if (
            prose.related_work or prose.method_context) else "the abstract, discussion and limitations"
        items.append(f"{parts[0].upper()}{parts[1:]} were written by `{prose.author}` from a digest of the run "
                     "store.")
        g = prose.grounding
        if g is not None:
            text = f"Grounding check: {g.checked} numbers in that text were compared with the store"
            text += "; the text was sent back once to fix unsupported numbers" if g.rewritten else ""
            cites = " or cited papers the literature search did not store" if prose.related_work else ""
            text += (f"; {plural(len(g.dropped), 'sentence')} that still stated numbers the store does not hold"
                     f"{cites} {'was' if len(g.dropped) == 1 else 'were'} dropped (listed in `grounding.json`, not "
                     "repeated here)." if g.dropped
                     else "; every number shown matches a recorded one" + (" and every citation a stored paper."
                                                                           if cites else "."))
            items.append(text)
    items += [f"Note: {n}." for n in prose.notes]
    items.append(f"Review: {reviewed_by}.")
    if writeup_calls:
        items.append(f"Writing and reviewing this report took {writeup_calls} model calls (${writeup_cost:.4f}).")
    items.append("Files: " + ", ".join(f"`{o}`" for o in outputs) + f". {pdf_message}.")
    return [Heading("About this report"), Bullets(items)]
