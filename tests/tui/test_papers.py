"""The TUI lists the papers a run used (key l), read from the store like everything else it shows."""

from __future__ import annotations

from runs.models import Paper
from runs.store import RunStore
from tests.tui.conftest import RUN_ID, notices, screen_text
from tui.app import DiscoverApp
from tui.screens.papers import PapersScreen

SIZE = (140, 40)
SAM = Paper(id="arxiv:2010.01412", source="openalex", title="Sharpness-Aware Minimization", year=2020,
            authors=["Pierre Foret", "Ariel Kleiner", "Hossein Mobahi"], arxiv_id="2010.01412",
            abstract="We propose Sharpness-Aware Minimization (SAM), which seeks flat minima.")
NATURE = Paper(id="doi:10.1038/nature14539", source="crossref", title="Deep learning", year=2015,
               authors=["Yann LeCun"], doi="10.1038/nature14539", venue="Nature")


async def test_papers_screen_lists_the_papers_the_run_used(demo_store) -> None:
    root, run_id = demo_store
    store = RunStore(root)
    store.save_papers([SAM, NATURE])
    store.update_run(run_id, idea=store.get_run(run_id).idea.model_copy(update={"papers": [SAM.id]}))
    store.link_papers(run_id, [NATURE.id], "related", {NATURE.id: "found by searching 'deep learning'"})
    store.close()
    app = DiscoverApp(root, run_id, poll_seconds=0)
    async with app.run_test(size=SIZE) as pilot:
        await pilot.press("l")
        await pilot.pause()
        assert isinstance(app.screen, PapersScreen)
        text = app.screen.query_one("#papers").document.source
        assert "Papers this run used (2)" in text
        assert "Foret, Kleiner et al. (2020). Sharpness-Aware Minimization. arXiv:2010.01412" in text
        assert "the idea was checked against it" in text and "We propose Sharpness-Aware Minimization" in text
        assert "LeCun (2015). Deep learning. Nature. doi:10.1038/nature14539" in text
        assert "found for the write-up; found by searching 'deep learning'" in text
        await pilot.press("escape")
        assert not isinstance(app.screen, PapersScreen)


async def test_no_papers_is_said(demo_store) -> None:
    app = DiscoverApp(demo_store[0], RUN_ID, poll_seconds=0)
    async with app.run_test(size=SIZE) as pilot:
        await pilot.press("l")
        assert not isinstance(app.screen, PapersScreen)
        assert any("No papers" in n for n in notices(app))
        assert "tree" in screen_text(app)
