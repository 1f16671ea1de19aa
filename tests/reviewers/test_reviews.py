"""The node and plot reviewers return validated reviews from scripted replies."""

from __future__ import annotations

import base64
import json
import struct
import zlib
from pathlib import Path

import pytest

from agents.llm import LLMClient, LLMError
from reviewers.models import Review
from reviewers.node_review import review_node
from reviewers.plot_review import find_plots, review_plots
from runs.models import Idea, MetricSpec, Node, NodeStatus
from tests.llm_server import ScriptedLLM, fast_config

IDEA = Idea(title="Tiny", metric=MetricSpec(name="val_acc"))
LEAKY = "from sklearn.preprocessing import StandardScaler\nX = StandardScaler().fit_transform(X_all)\n"
NODE = Node(run_id="r", id=7, operator="improve", plan="Scale features.", code=LEAKY, status=NodeStatus.good,
            metric=0.999, metrics={"val_acc": 0.999}, stdout_tail="val_acc 0.999\n")


def client(server: ScriptedLLM, **kw) -> LLMClient:
    return LLMClient(fast_config(server, **kw))


def png(path: Path, width: int = 2, height: int = 2) -> Path:
    """A real (tiny, grey) PNG file."""
    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))
    rows = b"".join(b"\x00" + b"\x80" * width for _ in range(height))
    path.write_bytes(b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0))
                     + chunk(b"IDAT", zlib.compress(rows)) + chunk(b"IEND", b""))
    return path


async def test_node_review_flags_leakage(llm: ScriptedLLM) -> None:
    llm.script(json.dumps({"score": 2, "verdict": "Invalid", "summary": "Scaler fit on all data.",
                           "issues": ["scaler sees validation data",
                                      {"severity": "critical", "description": "leakage"}]}))
    review = await review_node(client(llm, models={"review": "openai/judge"}), IDEA, NODE)
    assert review.invalid and review.reviewer == "node" and review.model == "openai/judge"
    assert [(i.severity, i.description) for i in review.issues] == [("minor", "scaler sees validation data"),
                                                                     ("critical", "leakage")]
    assert review.notes()[0] == "node review (invalid, 2/10): Scaler fit on all data."
    prompt = llm.requests[0].text()
    assert "fit_transform(X_all)" in prompt and "leakage between training and validation" in prompt
    assert "val_acc 0.999" in prompt and llm.requests[0].body["model"] == "judge"


async def test_node_review_valid_and_malformed(llm: ScriptedLLM) -> None:
    llm.script('{"score": 8.5, "verdict": "valid", "issues": [], "summary": "Sound."}')
    assert not (await review_node(client(llm), IDEA, NODE)).invalid
    llm.script('{"score": 11, "verdict": "valid"}', '{"score": 5, "verdict": "maybe"}')
    with pytest.raises(LLMError, match="node reviewer: 2 replies without valid JSON; last: verdict: Input should be"):
        await review_node(client(llm), IDEA, NODE)


async def test_plot_review_sends_the_images_to_a_vision_model(llm: ScriptedLLM, tmp_path: Path) -> None:
    first, second = png(tmp_path / "loss.png"), png(tmp_path / "acc.png", 3, 3)
    (tmp_path / "notes.txt").write_text("not a plot")
    plots = find_plots(tmp_path, ["loss.png", "notes.txt", "acc.png"])
    assert plots == [first, second]
    llm.script('{"score": 3, "verdict": "suspect", "summary": "Validation curve is flat.", "issues": []}')
    review = await review_plots(client(llm, model="openai/gpt-4o"), IDEA, NODE, plots)
    assert review is not None and review.reviewer == "plot" and review.plots == ["loss.png", "acc.png"]
    assert review.verdict == "suspect" and not review.invalid
    images = llm.requests[0].images()
    assert images == [f"data:image/png;base64,{base64.b64encode(p.read_bytes()).decode()}" for p in plots]
    assert "saved the 2 plot(s)" in llm.requests[0].text()


async def test_no_plot_review_without_vision_or_plots(llm: ScriptedLLM, tmp_path: Path) -> None:
    plots = [png(tmp_path / "loss.png")]
    assert await review_plots(client(llm), IDEA, NODE, plots) is None  # openai/scripted: unknown, text only
    assert await review_plots(client(llm, model="openai/gpt-4o"), IDEA, NODE, []) is None
    assert llm.requests == []
    llm.script('{"score": 6, "verdict": "valid"}')
    forced = await review_plots(client(llm, vision=True), IDEA, NODE, find_plots(tmp_path))
    assert isinstance(forced, Review) and len(llm.requests[0].images()) == 1
