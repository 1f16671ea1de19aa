"""The citation check: only papers stored for the run may be cited; every other citation is invented."""

from __future__ import annotations

import pytest

from reviewers.citations import Citations, check_citations, normalise
from runs.models import Paper

PAPERS = [
    Paper(id="arxiv:2010.01412", source="arxiv", title="Sharpness-Aware Minimization", year=2020,
          authors=["Pierre Foret", "Ariel Kleiner"], arxiv_id="2010.01412"),
    Paper(id="doi:10.1038/nature14539", source="crossref", title="Deep learning", year=2015,
          authors=["Yann LeCun", "Yoshua Bengio", "Geoffrey Hinton"], doi="10.1038/nature14539"),
    Paper(id="arxiv:1609.04836", source="arxiv", title="On Large-Batch Training", year=2016,
          authors=["Nitish Shirish Keskar", "Jorge Nocedal"], arxiv_id="1609.04836"),
]
KEYS = {"arxiv:2010.01412": "foret2020sharpness", "doi:10.1038/nature14539": "lecun2015deep",
        "arxiv:1609.04836": "keskar2016large"}
KNOWN = Citations.of(PAPERS, KEYS)


@pytest.mark.parametrize(("sentence", "expected"), [
    ("SAM [@foret2020sharpness] seeks flat minima.", "SAM [@foret2020sharpness] seeks flat minima."),
    ("Foret et al. (2020) seek flat minima.", "Foret et al. [@foret2020sharpness] seek flat minima."),
    ("Flat minima generalise (Foret et al., 2020; Keskar et al., 2016).",
     "Flat minima generalise [@foret2020sharpness][@keskar2016large]."),
    ("Large batches find sharp minima (Keskar and Nocedal, 2016).",
     "Large batches find sharp minima [@keskar2016large]."),
    ("See LeCun and Bengio (2015).", "See LeCun and Bengio [@lecun2015deep]."),
    ("As in arXiv:2010.01412v2, we perturb the weights.", "As in [@foret2020sharpness], we perturb the weights."),
    ("A review (doi:10.1038/nature14539).", "A review ([@lecun2015deep])."),
    ("Both agree [@foret2020sharpness; @keskar2016large].", "Both agree [@foret2020sharpness][@keskar2016large]."),
    ("The learning rate was in [0.1, 0.3] and `L2` stayed at 0.",
     "The learning rate was in [0.1, 0.3] and `L2` stayed at 0."),
])
def test_stored_papers_may_be_cited_in_any_usual_form(sentence: str, expected: str) -> None:
    text, _, bad = normalise(sentence, KNOWN)
    assert bad == [] and text == expected
    assert check_citations(sentence, KNOWN).ok


@pytest.mark.parametrize(("sentence", "invented"), [
    ("Smith et al. (2019) showed the same.", "Smith et al. (2019)"),
    ("Flat minima generalise (Smith, 2019).", "Smith, 2019"),
    ("Foret et al. (2021) extended it.", "Foret et al. (2021)"),  # the stored paper is from 2020
    ("As shown in [@smith2019deep], it works.", "[@smith2019deep]"),
    ("As shown in [smith2019deep], it works.", "[smith2019deep]"),
    ("As shown in [3], it works.", "[3]"),
    ("See arXiv:9999.99999 for details.", "arXiv:9999.99999"),
    ("See doi:10.1145/3290605.3300233 for details.", "doi:10.1145/3290605.3300233"),
])
def test_invented_citations_are_rejected(sentence: str, invented: str) -> None:
    _, _, bad = normalise(sentence, KNOWN)
    assert bad == [invented]
    report = check_citations(sentence, KNOWN)
    assert not report.ok and report.failures[0].sentence == sentence
    assert "not a paper the literature search stored" in report.failures[0].reasons[0]


def test_nothing_is_citable_without_stored_papers() -> None:
    assert not check_citations("Foret et al. (2020) did it.", Citations()).ok
    assert check_citations("No citations at all, 12 nodes.", Citations()).ok
