"""``discover ideate TOPIC.md``: research ideas for a topic, checked for novelty against the literature.

The model proposes N ideas. For each, the literature client searches the queries the model
gave (and the idea's title), the closest abstracts are picked by wording, and the model judges
how much each overlaps with the idea; the papers are stored in the run store. The idea is then
refined once with that critique and written as ``ideas/NAME.md`` in the idea format (metric,
direction, hypothesis, experiments, risks; ``papers:`` lists the ids of the papers it was checked
against) plus ``ideas/NAME.json`` in AI-Scientist-v2's idea format. Ideas are rated by the
judge's novelty plus feasibility; ``--run`` hands the best one to ``discover run``.

A topic is Markdown, with optional front matter: ``title``, ``ideas`` (how many), ``metric`` and
``direction`` (fixed for every idea), and fields copied into each idea (``baseline``, ``data``,
``time_limit``, ``gpus_per_node``, ``network``, ``image``, ``holdout``, ``search_space``).
"""

from __future__ import annotations

import json
import os
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import BaseModel, Field, ValidationError, field_validator

from discovery.idea import _FRONT_MATTER as FRONT_MATTER  # the same front matter as an idea's
from discovery.idea import IdeaError, load_idea
from runs.models import MetricSpec, Paper

_COPIED = ("baseline", "data", "time_limit", "gpus_per_node", "network", "image", "holdout", "search_space")
_PATHS = ("baseline", "holdout", "data")
_TOPIC_FIELDS = {"title", "ideas", "metric", "direction", *_COPIED}
MAX_IDEAS = 20


@dataclass
class Topic:
    """What the user asked ideas for."""

    title: str
    text: str  # the whole Markdown body: topic, constraints, compute
    ideas: int
    metric: MetricSpec | None
    copied: dict[str, Any]  # front-matter fields every idea gets, paths absolute
    source: Path


def load_topic(path: str | Path) -> Topic:
    """Read TOPIC.md; IdeaError (one line naming the file and field) when it is unusable."""
    path = Path(path)
    if not path.is_file():
        raise IdeaError(f"{path}: no such topic file")
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise IdeaError(f"{path}: cannot read the topic file ({exc})") from None
    front: dict[str, Any] = {}
    match = FRONT_MATTER.match(text)
    if match:
        try:
            front = yaml.safe_load(match.group(1)) or {}
        except yaml.YAMLError:
            raise IdeaError(f"{path}: front matter is not valid YAML") from None
        if not isinstance(front, dict):
            raise IdeaError(f"{path}: front matter must be a mapping of fields")
        text = text[match.end():]
    unknown = sorted(set(front) - _TOPIC_FIELDS)
    if unknown:
        raise IdeaError(f"{path}: unknown front-matter field {unknown[0]!r} (known: {', '.join(sorted(_TOPIC_FIELDS))})")
    body = text.strip()
    if not body:
        raise IdeaError(f"{path}: the topic is empty: describe it below the front matter")
    title = str(front.get("title") or next((line[2:].strip() for line in body.splitlines()
                                            if line.startswith("# ")), "") or path.stem)
    n = front.get("ideas", 3)
    if not isinstance(n, int) or isinstance(n, bool) or not 1 <= n <= MAX_IDEAS:
        raise IdeaError(f"{path}: ideas: expected a whole number from 1 to {MAX_IDEAS}, got {n!r}")
    metric = None
    if front.get("metric") is not None:
        spec = front["metric"] if isinstance(front["metric"], dict) else {"name": front["metric"]}
        spec = {**spec, **({"direction": front["direction"]} if "direction" in front else {})}
        direction = str(spec.get("direction", "maximize")).lower()
        spec["direction"] = {"max": "maximize", "min": "minimize"}.get(direction, direction)
        try:
            metric = MetricSpec.model_validate(spec)
        except ValidationError as exc:
            err = exc.errors()[0]
            raise IdeaError(f"{path}: metric.{'.'.join(map(str, err['loc']))}: {err['msg']}") from None
    copied = {k: front[k] for k in _COPIED if front.get(k) is not None}
    for key in _PATHS:
        if key in copied:
            values = copied[key] if isinstance(copied[key], list) else [copied[key]]
            resolved = []
            for value in values:
                target = (path.parent / str(value)).resolve()
                if not target.exists():
                    raise IdeaError(f"{path}: {key}: {value} does not exist")
                resolved.append(str(target))
            copied[key] = resolved if isinstance(copied[key], list) else resolved[0]
    return Topic(title=title, text=body, ideas=n, metric=metric, copied=copied, source=path)


# -- what the model answers ----------------------------------------------------------------------

class Proposal(BaseModel):
    """One research idea, in the fields AI-Scientist-v2's ideation writes plus the metric and queries."""

    name: str = Field(min_length=1, max_length=80)  # short snake_case name
    title: str = Field(min_length=1, max_length=300)
    short_hypothesis: str = Field(min_length=1, max_length=3000)
    abstract: str = Field(default="", max_length=6000)
    experiments: list[str] = Field(min_length=1, max_length=20)
    risks: str = Field(default="", max_length=4000)
    metric: str = Field(default="", max_length=80)  # the key the experiment writes to metrics.json
    direction: Literal["maximize", "minimize"] = "maximize"
    queries: list[str] = Field(default_factory=list, max_length=5)  # literature searches for the novelty check

    @field_validator("experiments", mode="before")
    @classmethod
    def _listed(cls, v: Any) -> Any:
        return [line.strip("- ").strip() for line in v.splitlines() if line.strip()] if isinstance(v, str) else v

    @field_validator("title", "name", "metric")
    @classmethod
    def _one_line(cls, v: str) -> str:
        # They become a heading, a file name and a YAML value: no line breaks from the model.
        return " ".join(v.split())


class Proposals(BaseModel):
    ideas: list[Proposal] = Field(min_length=1)


class Overlap(BaseModel):
    paper: str  # the label it was shown with: P1, P2...
    overlap: Literal["high", "medium", "low", "none"] = "low"
    note: str = Field(default="", max_length=600)


class Verdict(BaseModel):
    """The novelty check of one idea against the closest papers found."""

    overlaps: list[Overlap] = Field(default_factory=list)
    novel: bool
    novelty: int = Field(ge=1, le=10)
    feasibility: int = Field(ge=1, le=10)
    critique: str = Field(min_length=1, max_length=6000)


@dataclass
class Ideated:
    """One idea as written: its proposal after refinement, the papers it was checked against, the verdict."""

    proposal: Proposal
    papers: list[Paper]
    verdict: Verdict | None
    notes: dict[str, str] = field(default_factory=dict)  # paper id -> overlap and why
    path: Path | None = None
    json_path: Path | None = None
    search_errors: list[str] = field(default_factory=list)

    @property
    def rating(self) -> int:
        return self.verdict.novelty + self.verdict.feasibility if self.verdict else 0


@dataclass
class IdeationResult:
    ideas: list[Ideated]  # best rated first
    calls: int = 0
    cost: float = 0.0
    requests: int = 0  # literature HTTP requests made
    all_json: Path | None = None

    @property
    def best(self) -> Ideated:
        return self.ideas[0]


# -- prompts ---------------------------------------------------------------------------------------

PROPOSE_SYSTEM = ("You propose research ideas that a small automated tree search over experiment code can test "
                  "within the compute described. Each idea must name one number the experiment writes to "
                  "metrics.json, and whether higher or lower is better. Propose distinct ideas, not variants.")
JUDGE_SYSTEM = ("You judge the novelty of a research idea against the closest published papers a literature search "
                "found. For each paper say how much it overlaps with the idea (high, medium, low, none) and why, "
                "using only what its abstract says. Be strict: an idea a listed paper already tested is not novel.")
REFINE_SYSTEM = ("You refine a research idea once, using a reviewer's critique of its novelty and feasibility: "
                 "sharpen what differs from the closest papers, drop what they already did, keep it testable.")

_PROPOSAL_SHAPE = ('{"name": "short_snake_case", "title": "...", "short_hypothesis": "...", "abstract": "...", '
                   '"experiments": ["...", "..."], "risks": "...", "metric": "val_accuracy", '
                   '"direction": "maximize", "queries": ["literature search query", "..."]}')


def _propose_messages(topic: Topic, n: int) -> list[dict[str, Any]]:
    metric = (f"Every idea optimises `{topic.metric.name}` ({topic.metric.direction}); write that metric."
              if topic.metric else "Name the metric each idea optimises.")
    return [{"role": "system", "content": PROPOSE_SYSTEM},
            {"role": "user", "content": f"Topic ({topic.source.name}):\n\n{topic.text}\n\n{metric}\n"
             f"Propose {n} ideas. For each give 1-3 literature search queries that would find the closest prior "
             f'work. Answer with only a JSON object: {{"ideas": [{_PROPOSAL_SHAPE}, ...]}}'}]


def _paper_block(papers: list[Paper]) -> str:
    lines = []
    for i, p in enumerate(papers, 1):
        who = ", ".join(p.authors[:3]) + (" et al." if len(p.authors) > 3 else "")
        abstract = " ".join((p.abstract or "(no abstract)").split())[:1200]
        lines.append(f"[P{i}] {who} ({p.year or 'n.d.'}). {p.title}.\nAbstract: {abstract}")
    return "\n\n".join(lines)


def _judge_messages(proposal: Proposal, papers: list[Paper], errors: list[str]) -> list[dict[str, Any]]:
    found = _paper_block(papers) if papers else (
        "No papers were found" + (f" (the literature search failed: {'; '.join(errors)[:500]})" if errors else "")
        + ". Judge novelty from what you know, and say that the literature check found nothing.")
    return [{"role": "system", "content": JUDGE_SYSTEM},
            {"role": "user", "content": f"The idea:\n{proposal.model_dump_json(indent=1, exclude={'queries'})}\n\n"
             f"The closest papers found:\n\n{found}\n\nAnswer with only a JSON object: "
             '{"overlaps": [{"paper": "P1", "overlap": "high|medium|low|none", "note": "..."}], "novel": true, '
             '"novelty": 1-10, "feasibility": 1-10, "critique": "what to change"}'}]


def _refine_messages(proposal: Proposal, verdict: Verdict, topic: Topic) -> list[dict[str, Any]]:
    metric = f" Keep the metric `{topic.metric.name}` ({topic.metric.direction})." if topic.metric else ""
    return [{"role": "system", "content": REFINE_SYSTEM},
            {"role": "user", "content": f"The idea:\n{proposal.model_dump_json(indent=1)}\n\nThe critique "
             f"(novelty {verdict.novelty}/10, feasibility {verdict.feasibility}/10, "
             f"{'novel' if verdict.novel else 'not novel'}):\n{verdict.critique}\n\nRewrite the idea once.{metric} "
             f"Answer with only a JSON object with the same fields: {_PROPOSAL_SHAPE}"}]


# -- the ideation ------------------------------------------------------------------------------------

async def ideate(topic: Topic, llm: Any, literature: Any, out_dir: Path, *, ideas: int | None = None,
                 papers_per_idea: int = 5, per_query: int = 8,
                 progress: Callable[[str], None] = lambda _: None) -> IdeationResult:
    """Propose, check, refine and write ideas for ``topic``.

    ``llm`` is an agents.llm.LLMClient; ``literature`` an agents.literature.client.LiteratureClient.
    agents.llm.LLMError and agents.extract.BadJSON pass through (nothing is written then).
    """
    from agents.extract import ask_json
    from agents.literature.rank import closest

    n = ideas or topic.ideas
    proposals = (await ask_json(llm, _propose_messages(topic, n), Proposals, role="code",
                                purpose="ideate_propose")).ideas[:n]
    progress(f"{len(proposals)} ideas proposed")
    done: list[Ideated] = []
    for proposal in proposals:
        proposal = _fix_metric(proposal, topic)
        found: dict[str, Paper] = {}
        errors: list[str] = []
        for query in [*proposal.queries[:3], proposal.title]:
            result = await literature.search(query, limit=per_query)
            errors += result.errors if not result.answered else []
            for paper in result.papers:
                found.setdefault(paper.id, paper)
        text = " ".join([proposal.title, proposal.short_hypothesis, proposal.abstract, *proposal.experiments])
        nearest = [p for p, _ in closest(text, list(found.values()), papers_per_idea)]
        verdict = await ask_json(llm, _judge_messages(proposal, nearest, errors), Verdict, role="review",
                                 purpose="ideate_novelty")
        notes = {}
        for o in verdict.overlaps:
            index = int(o.paper.strip("[]Pp")) - 1 if o.paper.strip("[]Pp").isdigit() else -1
            if 0 <= index < len(nearest):  # a paper it was not shown is ignored
                notes[nearest[index].id] = f"overlap {o.overlap}" + (f": {o.note}" if o.note else "")
        refined = await ask_json(llm, _refine_messages(proposal, verdict, topic), Proposal, role="code",
                                 purpose="ideate_refine")
        refined = _fix_metric(refined, topic)
        progress(f"{refined.name}: novelty {verdict.novelty}/10, feasibility {verdict.feasibility}/10, "
                 f"{len(nearest)} papers checked")
        done.append(Ideated(refined, nearest, verdict, notes, search_errors=errors))
    ranked = sorted(done, key=lambda i: -i.rating)  # stable: among equals the first proposed
    if literature.store is not None:  # kept with the papers: the report of a run of the idea quotes the verdicts
        for idea in ranked:
            literature.store.note_idea_papers(idea.proposal.title, idea.notes)
    out_dir.mkdir(parents=True, exist_ok=True)
    taken: set[str] = set()
    for idea in ranked:
        write_idea(idea, topic, out_dir, taken)
    all_json = out_dir / f"{_slug(topic.source.stem)}_ideas.json"
    all_json.write_text(json.dumps([ai_scientist_json(i, topic) for i in ranked], indent=2), encoding="utf-8")
    return IdeationResult(ranked, calls=llm.calls, cost=llm.total_cost, requests=literature.requests,
                          all_json=all_json)


def _fix_metric(p: Proposal, topic: Topic) -> Proposal:
    if topic.metric is not None:
        return p.model_copy(update={"metric": topic.metric.name, "direction": topic.metric.direction})
    if not p.metric.strip():
        return p.model_copy(update={"metric": "score"})
    return p


# -- the files -------------------------------------------------------------------------------------

def write_idea(idea: Ideated, topic: Topic, out_dir: Path, taken: set[str]) -> None:
    """Write ``NAME.md`` and ``NAME.json`` in ``out_dir`` (never over an existing file; their paths are set on
    ``idea``); check the Markdown parses as an idea."""
    base = _slug(idea.proposal.name) or "idea"
    name, n = base, 2
    while name in taken or (out_dir / f"{name}.md").exists() or (out_dir / f"{name}.json").exists():
        name, n = f"{base}_{n}", n + 1
    taken.add(name)
    md, js = out_dir / f"{name}.md", out_dir / f"{name}.json"
    idea.path, idea.json_path = md, js
    md.write_text(idea_markdown(idea, topic, out_dir), encoding="utf-8")
    js.write_text(json.dumps(ai_scientist_json(idea, topic, out_dir), indent=2), encoding="utf-8")
    try:
        load_idea(md)
    except IdeaError as exc:
        raise IdeaError(f"the idea written to {md} does not parse ({exc}); the topic's fields may be wrong") from None


def _front(idea: Ideated, topic: Topic, out_dir: Path) -> dict[str, Any]:
    p = idea.proposal
    front: dict[str, Any] = {"title": p.title, "metric": p.metric, "direction": p.direction}
    for key, value in topic.copied.items():
        if key in _PATHS:
            rel = [os.path.relpath(v, out_dir.resolve()) for v in (value if isinstance(value, list) else [value])]
            value = rel if isinstance(value, list) else rel[0]
        front[key] = value
    if idea.papers:
        front["papers"] = [paper.id for paper in idea.papers]
    return front


def idea_markdown(idea: Ideated, topic: Topic, out_dir: Path) -> str:
    """The idea in this project's idea format (docs/idea-format.md)."""
    p = idea.proposal
    lines = ["---", yaml.safe_dump(_front(idea, topic, out_dir), sort_keys=False, allow_unicode=True).strip(), "---",
             "", f"# {p.title}", "", "## Hypothesis", "", p.short_hypothesis.strip(), ""]
    if p.abstract.strip():
        lines += ["## Abstract", "", p.abstract.strip(), ""]
    lines += ["## Experiments", "", *(f"- {e}" for e in p.experiments), ""]
    if p.risks.strip():
        lines += ["## Risks", "", p.risks.strip(), ""]
    lines += ["## Related work", ""]
    if idea.papers:
        for paper in idea.papers:
            who = ", ".join(paper.authors[:3]) + (" et al." if len(paper.authors) > 3 else "")
            note = idea.notes.get(paper.id, "not judged")
            lines.append(f"- {who} ({paper.year or 'n.d.'}). {paper.title}. `{paper.id}`: {note}")
    else:
        lines.append("No papers were found" + (f" (the search failed: {'; '.join(idea.search_errors)[:300]})"
                                                if idea.search_errors else "") + ".")
    if idea.verdict is not None:
        v = idea.verdict
        verdict = (f"{'Novel' if v.novel else 'Not novel'} by the model's judgement against the papers above: "
                   f"novelty {v.novelty}/10, feasibility {v.feasibility}/10. The critique it was refined with once:")
        lines += ["", "## Novelty check", "", verdict, "", v.critique.strip()]
    lines += ["", f"(Written by `discover ideate {topic.source.name}`.)", ""]
    return "\n".join(lines)


def ai_scientist_json(idea: Ideated, topic: Topic, out_dir: Path | None = None) -> dict[str, Any]:
    """AI-Scientist-v2's idea object (Name, Title, Short Hypothesis, Related Work, Abstract, Experiments, Risk
    Factors and Limitations), plus the fields ``discover run idea.json`` reads."""
    p = idea.proposal
    related = "; ".join(f"{', '.join(x.authors[:1])}{' et al.' if len(x.authors) > 1 else ''} ({x.year}) "
                        f"{x.title} [{idea.notes.get(x.id, 'not judged')}]" for x in idea.papers)
    data: dict[str, Any] = {
        "Name": (idea.path.stem if idea.path else _slug(p.name)), "Title": p.title,
        "Short Hypothesis": p.short_hypothesis, "Related Work": related or "No papers were found.",
        "Abstract": p.abstract, "Experiments": p.experiments, "Risk Factors and Limitations": p.risks,
        "metric": {"name": p.metric, "direction": p.direction},
    }
    if out_dir is not None:
        data.update({k: v for k, v in _front(idea, topic, out_dir).items() if k not in ("title", "metric", "direction")})
    if idea.verdict is not None:
        data["Novelty"] = {"novel": idea.verdict.novel, "novelty": idea.verdict.novelty,
                           "feasibility": idea.verdict.feasibility, "critique": idea.verdict.critique}
    return data


def _slug(text: str) -> str:
    return re.sub(r"[^a-z0-9]+", "_", text.lower()).strip("_")[:60]


def summary(result: IdeationResult) -> str:
    """The ideas as a table, best first, and what the ideation cost."""
    lines = [f"{'rank':>4}  {'novelty':>7}  {'feasible':>8}  {'novel':<5}  {'papers':>6}  idea"]
    for i, idea in enumerate(result.ideas, 1):
        v = idea.verdict
        lines.append(f"{i:>4}  {v.novelty if v else '-':>7}  {v.feasibility if v else '-':>8}  "
                     f"{('yes' if v.novel else 'no') if v else '-':<5}  {len(idea.papers):>6}  {idea.path}")
    lines.append(f"{result.calls} model calls (${result.cost:.4f}), {result.requests} literature requests; "
                 f"AI-Scientist-v2 JSON of all ideas: {result.all_json}")
    return "\n".join(lines)
