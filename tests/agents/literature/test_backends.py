"""Each backend's parsing, on replies shaped like the real APIs' (from the fake service and hand-written)."""

from __future__ import annotations

import json

import pytest

from agents.literature.arxiv import Arxiv, parse_feed, search_query
from agents.literature.base import split_id
from agents.literature.bibtex import bibtex, cite_keys, reference_text
from agents.literature.crossref import Crossref
from agents.literature.http import LiteratureError
from agents.literature.openalex import OpenAlex, inverted_abstract
from agents.literature.rank import closest
from agents.literature.semantic_scholar import SemanticScholar
from tests.literature_server import CORPUS, LiteratureServer, arxiv_feed, crossref_item, openalex_work, s2_paper

SAM = CORPUS[0]  # arXiv only
NATURE = CORPUS[2]  # a DOI only
LANDSCAPE = CORPUS[3]  # both


def test_openalex_work_list() -> None:
    body = json.dumps({"meta": {"count": 3}, "results": [openalex_work(SAM), {"id": None, "title": "no id"},
                                                         openalex_work(NATURE)]})
    papers = OpenAlex().parse_search(body)
    assert [p.id for p in papers] == ["arxiv:2010.01412", "doi:10.1038/nature14539"]  # the entry without id skipped
    sam = papers[0]
    assert sam.source == "openalex" and sam.source_id == "W3093353926"
    assert sam.abstract == SAM.abstract  # rebuilt from the inverted index
    assert sam.authors[0] == "Pierre Foret" and sam.year == 2020 and sam.citations == 1500
    assert papers[1].venue == "Nature" and papers[1].doi == "10.1038/nature14539"
    assert inverted_abstract({"world": [1], "hello": [0], "bad": ["x"]}) == "hello world"
    with pytest.raises(LiteratureError, match="no 'results' list"):
        OpenAlex().parse_search('{"error": "Invalid query parameters"}')
    assert OpenAlex().paper_request("doi", "10.1038/nature14539").path == "/works/doi:10.1038/nature14539"


def test_semantic_scholar_search_and_paper() -> None:
    body = json.dumps({"total": 2, "offset": 0, "next": 2, "data": [s2_paper(LANDSCAPE), s2_paper(NATURE)]})
    papers = SemanticScholar().parse_search(body)
    assert [p.id for p in papers] == ["arxiv:1712.09913", "doi:10.1038/nature14539"]
    assert papers[0].doi == "10.5555/3327345.3327535" and papers[0].arxiv_id == "1712.09913"
    assert papers[0].source_id == LANDSCAPE.s2 and papers[0].abstract == LANDSCAPE.abstract
    # Nothing matched: the real API then sends no 'data' at all.
    assert SemanticScholar().parse_search('{"total": 0, "offset": 0}') == []
    with pytest.raises(LiteratureError):
        SemanticScholar().parse_search('{"message": "Too Many Requests", "code": "429"}')
    assert SemanticScholar().paper_request("arxiv", "1412.6980").path == "/graph/v1/paper/ARXIV:1412.6980"
    assert SemanticScholar().parse_paper(json.dumps(s2_paper(NATURE))).title == "Deep learning"


def test_arxiv_atom_feed() -> None:
    papers = parse_feed(arxiv_feed([SAM, LANDSCAPE], {"search_query": "all:sharp"}))
    assert [p.id for p in papers] == ["arxiv:2010.01412", "arxiv:1712.09913"]
    sam = papers[0]
    assert sam.arxiv_id == "2010.01412" and sam.source_id == "2010.01412v2"  # the version is not the paper
    assert sam.abstract == SAM.abstract and sam.year == 2020 and sam.url == "http://arxiv.org/abs/2010.01412v2"
    assert papers[1].doi == LANDSCAPE.doi
    error = ('<feed xmlns="http://www.w3.org/2005/Atom"><entry><id>http://arxiv.org/api/errors#incorrect_id_format'
             '</id><title>Error</title><summary>incorrect id format for 1234</summary></entry></feed>')
    with pytest.raises(LiteratureError, match="incorrect id format"):
        parse_feed(error)
    with pytest.raises(LiteratureError, match="not Atom XML"):
        parse_feed("<html>Rate exceeded.")
    assert search_query("How does sharpness of the minima relate to batch size?") == \
        "all:sharpness OR all:minima OR all:relate OR all:batch OR all:size"
    assert Arxiv().paper_request("arxiv", "1412.6980").params["id_list"] == "1412.6980"


def test_crossref_items() -> None:
    body = json.dumps({"status": "ok", "message-type": "work-list",
                       "message": {"items": [crossref_item(NATURE), {"DOI": "10.1/x"}, crossref_item(LANDSCAPE)]}})
    papers = Crossref().parse_search(body)
    assert [p.id for p in papers] == ["doi:10.1038/nature14539", "doi:10.5555/3327345.3327535"]  # no title: skipped
    nature = papers[0]
    assert nature.abstract == NATURE.abstract  # JATS markup and its "Abstract" heading stripped
    assert nature.authors == ["Yann LeCun", "Yoshua Bengio", "Geoffrey Hinton"] and nature.year == 2015
    assert Crossref(mailto="me@example.org").search_request("x", 5).params["mailto"] == "me@example.org"
    with pytest.raises(LiteratureError, match="not JSON"):
        Crossref().parse_search("Resource not found.")


def test_ids_keys_bibtex_and_references() -> None:
    assert split_id("https://doi.org/10.1038/NATURE14539") == ("doi", "10.1038/nature14539")
    assert split_id("arXiv:2010.01412") == ("arxiv", "2010.01412")
    assert split_id("https://arxiv.org/abs/1412.6980v9") == ("arxiv", "1412.6980")
    with pytest.raises(LiteratureError):
        split_id("not a paper")
    papers = OpenAlex().parse_search(json.dumps({"results": [openalex_work(p) for p in CORPUS]}))
    twin = papers[0].model_copy(update={"id": "s2:other", "title": "Sharpness matters again"})
    keys = cite_keys([*papers, twin])
    assert keys["arxiv:2010.01412"] == "foret2020sharpness" and keys["s2:other"] == "foret2020sharpnessa"
    assert len(set(keys.values())) == len(keys)
    evil = papers[2].model_copy(update={"title": "Deep {learning} } \\input{/etc/passwd} & 100% $x$ #1",
                                        "authors": ["Ýann LéCun"]})
    entry = bibtex(evil, "lecun2015deep")
    assert entry.startswith("@article{lecun2015deep,")
    assert "\\input" not in entry and "{learning}" not in entry and "\\& 100\\% \\$x\\$ \\#1" in entry
    assert entry.count("{") == entry.count("}") and "author = {Yann LeCun}" in entry
    sam = bibtex(papers[0], "foret2020sharpness")
    assert "eprint = {2010.01412}" in sam and "archivePrefix = {arXiv}" in sam
    assert reference_text(papers[2]) == "LeCun, Bengio et al. (2015). Deep learning. Nature. doi:10.1038/nature14539"


def test_closest_ranks_by_shared_words() -> None:
    papers = OpenAlex().parse_search(json.dumps({"results": [openalex_work(p) for p in CORPUS]}))
    ranked = closest("sharp minima and the generalization gap of large batch training", papers, 3)
    assert [p.source_id for p, _ in ranked][:2] == [CORPUS[1].openalex, CORPUS[0].openalex]
    assert ranked[0][1] > ranked[2][1] > 0


def test_the_fake_service_answers_like_each_api(lit: LiteratureServer) -> None:
    """The fake answers the same requests the backends make (a sanity check of the test server itself)."""
    status, _, body = lit.answer("semantic_scholar", "/graph/v1/paper/search", {"query": "adam optimization"})
    assert status == 200 and json.loads(body)["data"][0]["title"].startswith("Adam")
    status, _, body = lit.answer("crossref", "/works/10.1038/nature14539", {})
    assert status == 200 and json.loads(body)["message"]["DOI"] == "10.1038/nature14539"
    assert lit.answer("crossref", "/works/10.9999/none", {})[0] == 404
