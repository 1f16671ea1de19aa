"""The write-up: files, content from the store only, the HTML pages in headless Chromium, the review."""

from __future__ import annotations

import html
import json
import re
import shutil
import subprocess
import time
from pathlib import Path

import pytest

from discovery.report import write_report
from discovery.writeup import review as reviews
from discovery.writeup.facts import collect
from discovery.writeup.latex import find_engine
from discovery.writeup.tree_page import write_tree_page
from reviewers.grounding import check_text
from runs.models import Evaluation, Idea, MetricSpec, Node, NodeStatus, Run, RunConfig
from runs.store import RunStore
from tests.llm_server import Reply, Request, ScriptedLLM, fast_config, llm, scripted_server  # noqa: F401 - fixtures

PNG_CHECK = """<script>
window.addEventListener("load", () => {
  const imgs = [...document.images];
  document.body.setAttribute("data-check", JSON.stringify({
    n: imgs.length,
    broken: imgs.filter(i => !i.complete || i.naturalWidth === 0).map(i => i.alt || i.src.slice(0, 60))}));
});
</script>"""
# Waits until the tree page has opened a node and its plots have loaded, then reports what it shows.
TREE_CHECK = """<script>
function probe() {
  const d = document.getElementById("details"), imgs = [...d.querySelectorAll("img")];
  if (!d.dataset.node || !imgs.every(i => i.complete)) { setTimeout(probe, 50); return; }
  document.body.setAttribute("data-check", JSON.stringify({node: +d.dataset.node,
    drawn: +document.getElementById("tree").dataset.drawn, widths: imgs.map(i => i.naturalWidth),
    text: d.textContent}));
}
window.addEventListener("load", probe);
</script>"""


# -- helpers ------------------------------------------------------------------------------------

@pytest.fixture(scope="session")
def browser() -> str:
    for name in ("chromium", "chromium-browser", "google-chrome", "google-chrome-stable"):
        path = shutil.which(name)
        if path:
            return path
    pytest.skip("headless Chromium is not installed here (apt-get install -y chromium)")


def in_browser(browser: str, page: Path, script: str, tmp: Path, fragment: str = "") -> dict:
    """Open a copy of ``page`` with ``script`` injected in headless Chromium; the JSON it left in the DOM."""
    probe = page.with_name(f"_probe_{page.name}")
    probe.write_text(page.read_text(encoding="utf-8").replace("</body>", script + "</body>"), encoding="utf-8")
    try:
        done = subprocess.run(
            [browser, "--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
             "--disable-component-update", "--no-first-run", f"--user-data-dir={tmp / 'chromium-profile'}",
             "--virtual-time-budget=15000", "--dump-dom", probe.resolve().as_uri() + fragment],
            capture_output=True, text=True, timeout=120, check=False)
    finally:
        probe.unlink()
    match = re.search(r'<body[^>]*data-check="([^"]*)"', done.stdout)
    assert match, f"the page left no result (exit {done.returncode}): {done.stderr[-2000:]}"
    return json.loads(html.unescape(match.group(1)))


def copy_run(finished_run: tuple[Path, str], tmp_path: Path) -> tuple[Path, str]:
    root, run_id = finished_run
    target = tmp_path / "runs"
    shutil.copytree(root, target)
    return target, run_id


def save_png(path: Path, label: str) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(3, 2))
    ax.plot([0, 1, 2], [0.3, 0.6, 0.8])
    ax.set_title(label)
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=60)
    plt.close(fig)


def body_of(markdown: str) -> str:
    """The report's text up to the review, without code blocks: what the store must back."""
    text = re.split(r"^## (?:Review panel|Automatic checklist|References)", markdown, flags=re.MULTILINE)[0]
    return re.sub(r"^```.*?^```", "", text, flags=re.MULTILINE | re.DOTALL)


def assert_grounded(markdown: str, root: Path, run_id: str) -> None:
    """Every sentence of the report's text is backed claim by claim (tables print stored values as they are)."""
    store = RunStore(root, readonly=True)
    facts = collect(store, run_id)
    store.close()
    text = body_of(markdown)
    # Paths and file names carry digits that are names, not claims.
    text = re.sub(r"\S+\.(?:png|html|json|md|py)\b", "", text)
    text = "\n".join(line for line in text.splitlines() if not line.startswith("|"))
    report = check_text(text, facts.record, ignore=facts.ignore_words())
    assert report.ok, [(f.sentence, f.reasons) for f in report.failures]
    assert report.checked > 20


# -- a finished offline run ----------------------------------------------------------------------

@pytest.mark.slow
def test_offline_report(finished_run: tuple[Path, str], tmp_path: Path, browser: str) -> None:
    root, run_id = copy_run(finished_run, tmp_path)
    store = RunStore(root, readonly=True)
    best = store.get_node(run_id, store.get_run(run_id).best_node_id)
    n_nodes = len(store.nodes(run_id, with_code=False))
    store.close()
    save_png(store.node_dir(run_id, best.id) / "curves" / "loss.png", "a plot the experiment saved")

    path = write_report(root, run_id)
    out = path.parent
    text = path.read_text()
    for name in ("report.md", "report.html", "tree.html", "review.json", "report.tex", "best_vs_nodes.png",
                 "best_vs_time.png", "tree.png", "by_operator.png", "by_depth.png"):
        assert (out / name).stat().st_size > 500, name
    for heading in ("Abstract", "Idea and hypothesis", "Method", "Results", "Discussion", "What failed and why",
                    "Limitations", "Reproduce the best node", "Cost and time", "Automatic checklist",
                    "About this report"):
        assert f"\n## {heading}\n" in text, heading
    assert f"Best: node {best.id}, `val_accuracy` = {best.metric:.6g}" in text
    assert "![`curves/loss.png`, saved by node" in text
    assert (out / "plots" / f"node{best.id:05d}_curves-loss.png").is_file()
    assert best.code.strip().splitlines()[0] in text
    assert "generated from templates" in text and "not a review" in text
    if find_engine():
        assert (out / "report.pdf").read_bytes()[:4] == b"%PDF" and "PDF written with" in text
    else:
        assert "PDF skipped: no TeX engine on PATH" in text and not (out / "report.pdf").exists()
    assert_grounded(text, root, run_id)

    review = reviews.load(out)
    assert review is not None and review.kind == "checklist" and review.panel is None
    assert review.report_hash and len(review.checklist.items) == 6
    assert any(line.startswith("checklist (automatic): ") for line in reviews.summary_lines(review))

    shown = in_browser(browser, out / "report.html", PNG_CHECK, tmp_path)
    assert shown == {"n": text.count("!["), "broken": []}
    assert "src=\"data:image/png;base64," in (out / "report.html").read_text()

    tree = in_browser(browser, out / "tree.html", TREE_CHECK, tmp_path)
    assert tree["node"] == best.id and tree["drawn"] == n_nodes  # opens on the best node, draws every node
    assert tree["widths"] and all(w > 0 for w in tree["widths"])  # its plot, embedded
    assert best.plan[:40] in tree["text"] and "val_accuracy" in tree["text"]


# -- a run with failures, repeats, a held-out score and a flagged node ------------------------------

GOOD_CODE = ("import json, numpy as np\nrng = np.random.default_rng(0)\nx_val = rng.normal(size=4)\n"
             "val_acc = float((x_val > 0).mean())\njson.dump({'acc': val_acc}, open('metrics.json', 'w'))\n")


def rich_run(root: Path) -> str:
    """A hand-built run in a real store: every kind of node outcome, evaluations and a node review."""
    store = RunStore(root)
    idea = Idea(title="Ridge degree sweep", hypothesis="A degree near 6 fits best.", metric=MetricSpec(name="acc"),
                holdout="print('held-out')", time_limit=60)
    run = Run(id="rich", idea=idea, config=RunConfig(budget=12, workers=2), created_at=1000.0, status="finished",
              best_node_id=4, elapsed=123.4, finished_at=1123.4)
    store.create_run(run)

    def node(i: int, parent: int | None, op: str, status: str, metric: float | None = None, **kw) -> Node:
        return Node(run_id="rich", id=i, parent_id=parent, operator=op, status=NodeStatus(status), metric=metric,
                    plan=f"plan of node {i}", code=GOOD_CODE, created_at=1000.0 + i, finished_at=1000.0 + 10 * i,
                    exec_seconds=1.5 * i, metrics={"acc": metric} if metric is not None else {},
                    depth=kw.pop("depth", 0), **kw)

    store.save_nodes([
        node(1, None, "draft", "good", 0.6),
        node(2, None, "draft", "buggy", error="exit code 1: ValueError: shapes (3,) and (4,) not aligned"),
        node(3, 2, "debug", "good", 0.7, depth=1),
        node(4, 3, "improve", "good", 0.85, depth=2, params={"DEGREE": 6}),
        node(5, 4, "improve", "flagged", 0.99, depth=3, error="reviewer: the metric is computed on training data"),
        node(6, 1, "improve", "buggy", depth=1, timed_out=True, error="timed out after 60.0s"),
        node(7, None, "draft", "failed", error="expansion failed: the model wrote no code"),
        node(8, 4, "tune", "good", 0.84, depth=3, pruned=True),
    ])
    for kind, seed, metric in [("seed", 1, 0.83), ("seed", 2, 0.86), ("holdout", 0, 0.81)]:
        store.save_evaluation(Evaluation(run_id="rich", node_id=4, kind=kind, seed=seed, status=NodeStatus.good,
                                         metric=metric))
    store._db["reviews"].insert({"run_id": "rich", "node_id": 5, "reviewer": "node", "verdict": "invalid",
                                "summary": "accuracy measured on the training split"}, alter=True)
    store._db.conn.commit()
    store.close()
    save_png(root / "rich" / "nodes" / "00004" / "fit.png", "fit of node 4")
    return "rich"


@pytest.mark.slow
def test_a_deadline_too_close_for_the_pdf_skips_it(finished_run: tuple[Path, str], tmp_path: Path) -> None:
    root, run_id = copy_run(finished_run, tmp_path)
    deadline = time.time() + 2.5  # past the 2 s kept for what is written after the PDF: no time for it
    path = write_report(root, run_id, deadline=deadline)
    text, out = path.read_text(), path.parent
    assert (out / "report.tex").stat().st_size > 500 and not (out / "report.pdf").exists()
    if find_engine():
        assert "PDF skipped: the run's --time limit left no time to compile it" in text
    assert time.time() <= deadline + 2.0  # nothing waited on TeX's minimum second any more


@pytest.mark.slow
def test_report_of_a_run_with_failures(tmp_path: Path, browser: str) -> None:
    root = tmp_path / "runs"
    run_id = rich_run(root)
    path = write_report(root, run_id)
    text = path.read_text()
    out = path.parent

    assert "Best: node 4, `acc` = 0.85" in text and "Held-out `acc` of the best node: 0.81" in text
    assert "| node | parent | operator | depth | acc | seeds | mean | std | held-out | plan |" in text
    assert "| 4 | 3 | improve | 2 | 0.85 | 3 | 0.8467 | 0.01528 | 0.81 |" in text
    assert "| 8 |" not in text  # pruned: out of the results
    assert "| buggy | 2 |" in text and "| flagged | 1 |" in text and "| failed | 1 |" in text
    assert "Buggy nodes fixed by a chain of debug steps: 1 of 2. 1 node hit the time limit." in text
    assert "`exit code 1: ValueError: shapes (3,) and (4,) not aligned`" in text
    assert "node 5, acc 0.99: reviewer: the metric is computed on training data" in text
    assert "held-out acc 0.81 against validation 0.85: worse by 0.04" in text
    assert "1 flagged nodes, none chosen as best; 1 of them scored better than the best" in text
    assert "plots/node00004_fit.png" in text
    assert_grounded(text, root, run_id)

    # The tree page opened on the flagged node shows its status, error and the reviewer's words.
    tree = in_browser(browser, out / "tree.html", TREE_CHECK, tmp_path, "#node-5")
    assert tree["node"] == 5 and tree["drawn"] == 8
    assert "flagged" in tree["text"] and "accuracy measured on the training split" in tree["text"]
    # Compressed details (as for a large run) are inflated by the browser on demand.
    big = tmp_path / "big"
    big.mkdir()
    store = RunStore(root, readonly=True)
    write_tree_page(collect(store, run_id), store, big, compress_over=0)
    store.close()
    assert '"encoding":"gzip"' in (big / "tree.html").read_text()
    tree = in_browser(browser, big / "tree.html", TREE_CHECK, tmp_path, "#node-4")
    assert tree["node"] == 4 and "plan of node 4" in tree["text"] and "DEGREE" in tree["text"]
    assert tree["widths"] and all(w > 0 for w in tree["widths"])


# -- a report written and reviewed by the scripted model -------------------------------------------

PLANTED = ("0.9731", "55.5", "0.9999")


def writeup_handler(best_id: int, best: float, gain: float):
    first = {"abstract": f"MODEL-ABSTRACT: node {best_id} reached {best:.4g} val_accuracy. "
                         "It reached 0.9731 on a rerun.",
             "discussion": f"Node {best_id} gained {gain:.4g} over the first draft. The gain was 55.5 points.",
             "limitations": "- Only one seed was used.\n- Accuracy would reach 0.9999 with more epochs."}
    second = {**first, "abstract": f"MODEL-ABSTRACT: node {best_id} reached {best:.4g} val_accuracy.",
              "discussion": f"Node {best_id} gained {gain:.4g} over the first draft."}
    forms = [{"summary": "Clear.", "strengths": ["honest"], "weaknesses": ["its 77.77 claim"], "soundness": 3,
              "presentation": 3, "contribution": 2, "overall": 6, "confidence": 4, "decision": "accept"},
             {"summary": "Toy.", "weaknesses": ["one seed"], "soundness": 2, "presentation": 3, "contribution": 1,
              "overall": 4, "confidence": 3, "decision": "reject"},
             {"summary": "Reproducible.", "soundness": 4, "presentation": 4, "contribution": 3, "overall": 8,
              "confidence": 5, "decision": "accept"}]

    def handle(request: Request) -> Reply:
        system = request.messages[0]["content"]
        if system.startswith("You write the abstract"):
            return Reply(json.dumps(second if "These sentences state numbers" in request.text() else first))
        if "area chair" in system:
            return Reply(json.dumps({"summary": "META-REVIEW: accept, one seed.", "strengths": ["code"],
                                     "weaknesses": ["one seed"], "decision": "accept"}))
        for i, word in enumerate(("methodologist", "expert in the idea", "reproducibility")):
            if word in system:
                return Reply(json.dumps(forms[i]))
        return Reply(status=400)
    return handle


@pytest.mark.slow
def test_report_with_scripted_model(finished_run: tuple[Path, str], tmp_path: Path,
                                    llm: ScriptedLLM, browser: str) -> None:  # noqa: F811 - the fixture
    root, run_id = copy_run(finished_run, tmp_path)
    store = RunStore(root, readonly=True)
    facts = collect(store, run_id)
    store.close()
    llm.reset(writeup_handler(facts.best.id, facts.best.metric, facts.gain))

    path = write_report(root, run_id, llm=fast_config(llm))
    text = path.read_text()
    out = path.parent

    writeups = [r.text() for r in llm.requests if r.messages[0]["content"].startswith("You write the abstract")]
    assert len(writeups) == 2  # the first answer had made-up numbers: asked once more
    assert f"best val_accuracy: {facts.best.metric:.6g}" in writeups[0]
    assert "It reached 0.9731 on a rerun." in writeups[1] and "(not recorded: 0.9731)" in writeups[1]
    assert f"MODEL-ABSTRACT: node {facts.best.id} reached" in text
    assert not any(p in text for p in PLANTED)
    grounding = json.loads((out / "grounding.json").read_text())
    assert grounding["dropped"] == ["Accuracy would reach 0.9999 with more epochs."] and grounding["rewritten"]
    assert "1 sentence that still stated numbers the store does not hold was dropped" in text
    assert "written by `openai/scripted`" in text
    assert_grounded(text, root, run_id)

    # The panel read the model's write-up; its scores and the meta-review are appended.
    reviewer_prompts = [r.text() for r in llm.requests if "You review a write-up" in r.messages[0]["content"]]
    assert len(reviewer_prompts) == 3 and all("MODEL-ABSTRACT" in t for t in reviewer_prompts)
    assert "## Review panel" in text and "META-REVIEW: accept, one seed." in text
    assert "| overall | 1-10 | 6.00 | 2.00 | 4-8 |" in text and "Decisions: 2 accept, 1 reject" in text
    assert "Numbers in this review that the run's records do not contain: 77.77." in text
    assert "## Automatic checklist" in text  # still there, below the panel
    review = reviews.load(out)
    assert review is not None and review.kind == "panel" and review.panel.scores["overall"].mean == 6.0
    store = RunStore(root, readonly=True)
    assert reviews.load(tmp_path / "nowhere", store, run_id).kind == "panel"  # kept in the store too
    roles = [c.role for c in store.llm_calls(run_id)]  # the report's own calls are recorded with the run's
    assert roles.count("writeup") == 1 and roles.count("writeup_rewrite") == 1
    assert roles.count("writeup_review") == 3 and roles.count("meta_review") == 1
    store.close()
    assert in_browser(browser, out / "report.html", PNG_CHECK, tmp_path)["broken"] == []

    # Nothing changed: the same report again costs no model call.
    asked = len(llm.requests)
    time.sleep(0.01)
    assert write_report(root, run_id, llm=fast_config(llm)).read_text() == text
    assert len(llm.requests) == asked


def test_model_failure_falls_back_to_templates_and_checklist(
        finished_run: tuple[Path, str], tmp_path: Path, llm: ScriptedLLM) -> None:  # noqa: F811 - the fixture
    root, run_id = copy_run(finished_run, tmp_path)
    llm.reset(lambda request: Reply(status=400))
    text = write_report(root, run_id, llm=fast_config(llm)).read_text()
    assert "the model `openai/scripted` was configured but did not write them" in text
    assert "the model could not write the text" in text and "so templates were used" in text
    assert "The review panel did not run:" in text and "## Review panel" not in text
    assert reviews.load(root / run_id / "report").kind == "checklist"
