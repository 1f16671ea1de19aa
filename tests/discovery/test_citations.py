"""Citations in the write-up: related work and method cite papers stored for the run, numbered the same in
report.md and report.html, as BibTeX in report.tex; a planted invented citation never reaches the report."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from agents.literature.openalex import OpenAlex
from discovery.report import write_report
from discovery.writeup.document import Document, Para, Reference, References, to_html, to_latex, to_markdown
from runs.store import RunStore
from tests.discovery.test_report import assert_grounded, rich_run
from tests.literature_server import CORPUS, LiteratureServer, lit, literature_server, openalex_work  # noqa: F401
from tests.llm_server import Reply, Request, ScriptedLLM, fast_config, llm, scripted_server  # noqa: F401 - fixtures

NOTES = {"arxiv:1609.04836": "the closest: sharp minima from large batches, no remedy tested"}


def cited_run(root: Path) -> tuple[str, list[str]]:
    """The rich hand-built run, with four stored papers linked to it."""
    run_id = rich_run(root)
    papers = OpenAlex().parse_search(json.dumps({"results": [openalex_work(p) for p in CORPUS]}))
    store = RunStore(root)
    store.save_papers(papers)
    wanted = [p.id for p in papers if p.id in ("arxiv:2010.01412", "arxiv:1609.04836", "doi:10.5555/3327345.3327535",
                                                "doi:10.1080/00401706.1970.10488634")]
    store.link_papers(run_id, wanted, "related", NOTES)
    store.close()
    return run_id, wanted


def references(text: str) -> list[str]:
    return re.findall(r"^\[(\d+)\] (.+)$", text.split("## References")[1].split("\n## ")[0], flags=re.MULTILINE)


@pytest.mark.slow
def test_offline_report_cites_the_stored_papers(tmp_path: Path) -> None:
    root = tmp_path / "runs"
    run_id, _ = cited_run(root)
    path = write_report(root, run_id)
    text, out = path.read_text(), path.parent
    related = text.split("## Related work")[1].split("\n## ")[0]
    assert "Papers a literature search found for this idea, closest to it first:" in related
    assert "- [1] *Ridge Regression: Biased Estimation for Nonorthogonal Problems*" in related
    assert "- [3] *On Large-Batch Training for Deep Learning: Generalization Gap and Sharp Minima*: the closest: " \
           "sharp minima from large batches" in related
    method = text.split("## Method")[1].split("\n## ")[0]
    assert method.lstrip().startswith("The closest published work a literature search found for this idea is "
                                      "[1] [2] [3] (see Related work).")
    refs = references(text)
    assert [n for n, _ in refs] == ["1", "2", "3", "4"]
    assert refs[0][1].startswith("Hoerl, Kennard (1970). Ridge Regression: Biased Estimation for Nonorthogonal "
                                 "Problems. Technometrics. doi:10.1080/00401706.1970.10488634")
    assert_grounded(text, root, run_id)

    html = (out / "report.html").read_text()
    assert '<a href="#ref-2" class="cite">[2]</a>' in html and '<li id="ref-4">[4] Li, Xu et al. (2018)' in html
    tex = (out / "report.tex").read_text()
    assert tex.startswith("\\begin{filecontents*}[overwrite]{report.bib}\n@article{hoerl1970ridge,")
    assert "\\cite{keskar2016large}" in tex and "\\bibitem{foret2020sharpness}" in tex
    bib = (out / "report.bib").read_text()
    assert bib.count("\n@") + 1 == 4 and "eprint = {2010.01412}" in bib


def writeup_handler(state: dict[str, list[str]]):
    first = {"abstract": "MODEL-ABSTRACT: node 4 reached 0.85 acc.",
             "discussion": "Node 4 gained 0.25 over the first draft.",
             "limitations": "- Only one seed was used.",
             "related_work": "Sharp minima hurt generalisation (Keskar et al., 2016). SAM [@foret2020sharpness] "
                             "seeks flat ones. Smith et al. (2019) showed that flat minima always win. "
                             "Transformers [@vaswani2017attention] are unrelated.",
             "method_context": "The search follows Foret et al. (2020). It also borrows from arXiv:9999.99999."}
    second = {**first,
              "related_work": "Sharp minima hurt generalisation (Keskar et al., 2016). SAM [@foret2020sharpness] "
                              "seeks flat ones. Smith et al. (2019) showed that flat minima always win.",
              "method_context": "The search follows Foret et al. (2020)."}

    def handle(request: Request) -> Reply:
        if request.messages[0]["content"].startswith("You write the abstract"):
            state.setdefault("writeup", []).append(request.text())
            return Reply(json.dumps(second if "These sentences cite papers" in request.text() else first))
        return Reply(status=400)
    return handle


@pytest.mark.slow
def test_a_planted_invented_citation_is_rejected(tmp_path: Path, llm: ScriptedLLM) -> None:  # noqa: F811
    root = tmp_path / "runs"
    run_id, _ = cited_run(root)
    seen: dict[str, list[str]] = {}
    llm.reset(writeup_handler(seen))
    path = write_report(root, run_id, llm=fast_config(llm), panel=False)
    text, out = path.read_text(), path.parent

    first, again = seen["writeup"]
    assert "[@keskar2016large] Nitish Shirish Keskar, Dheevatsa Mudigere, Jorge Nocedal et al. (2016)" in first
    assert "the only papers you may cite, as [@key]" in first
    assert "These sentences cite papers that are not in the list you were given" in again
    assert "Smith et al. (2019): not a paper the literature search stored" in again
    assert "[@vaswani2017attention]" in again and "arXiv:9999.99999" in again

    body = text.split("## References")[0]
    for invented in ("Smith", "vaswani", "9999.99999", "always win"):
        assert invented not in text
    assert "Sharp minima hurt generalisation [1]. SAM [2] seeks flat ones." in body
    assert "The search follows Foret et al. [2]." in body.split("## Method")[1]
    assert [r[1].split(" (")[0] for r in references(text)] == ["Keskar, Mudigere et al.", "Foret, Kleiner et al."]
    grounding = json.loads((out / "grounding.json").read_text())
    assert grounding["dropped"] == ["Smith et al. (2019) showed that flat minima always win."]
    assert "or cited papers the literature search did not store was dropped" in text
    assert_grounded(text, root, run_id)


def test_a_citation_of_no_listed_paper_is_never_rendered_as_one() -> None:
    doc = Document("t")
    doc.add(Para("Known [@a2020x], unknown [@b2021y]."), References([Reference("a2020x", "A (2020). X.")]))
    assert "Known [1], unknown [@b2021y]." in to_markdown(doc)
    html = to_html(doc, Path("."))
    assert 'href="#ref-1"' in html and "[@b2021y]" in html and "ref-2" not in html
    tex = to_latex(doc)
    assert "\\cite{a2020x}" in tex and "\\cite{b2021y}" not in tex


@pytest.mark.slow
def test_report_literature_searches_for_a_hand_written_idea(tmp_path: Path, lit: LiteratureServer,  # noqa: F811
                                                            monkeypatch: pytest.MonkeyPatch,
                                                            capsys: pytest.CaptureFixture[str]) -> None:
    from discovery.cli import main

    root = tmp_path / "runs"
    run_id = rich_run(root)  # "Ridge degree sweep": no papers of its own
    for name, value in lit.env().items():
        monkeypatch.setenv(name, value)
    monkeypatch.delenv("DISCOVER_LITERATURE", raising=False)
    assert main(["--runs-dir", str(root), "report", run_id, "--literature", "crossref"]) == 0
    assert "papers found for the idea" in capsys.readouterr().err
    assert {r.backend for r in lit.requests} == {"crossref"}
    assert lit.seen("crossref")[0].params["query"] == "Ridge degree sweep"
    store = RunStore(root, readonly=True)
    linked = store.run_papers(run_id)
    store.close()
    assert linked and linked[0].paper.id == "doi:10.1080/00401706.1970.10488634" and linked[0].purpose == "related"
    text = (root / run_id / "report" / "report.md").read_text()
    assert "Papers a literature search found for this idea" in text
    assert references(text)[0][1].startswith("Hoerl, Kennard (1970). Ridge Regression")
