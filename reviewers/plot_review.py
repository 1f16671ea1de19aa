"""The plot reviewer: a vision model looks at the PNGs a node saved."""

from __future__ import annotations

import base64
from pathlib import Path

from agents import prompts
from agents.extract import BadJSON, ask_json
from agents.llm import LLMError
from reviewers.models import Review, ReviewReply
from runs.models import Idea, Node

MAX_PLOTS = 4
MAX_BYTES = 2_000_000  # per image: bigger ones are skipped, not resized


def find_plots(folder: Path, artifacts: list[str] | None = None) -> list[Path]:
    """PNG files a node saved (from its artifact list, else its folder), at most MAX_PLOTS."""
    names = artifacts if artifacts is not None else [str(p.relative_to(folder)) for p in sorted(folder.rglob("*.png"))]
    out = []
    root = folder.resolve()
    for name in names:
        path = folder / name
        # Not through a link the node planted (plot.png -> a key of the user's): the image goes to a model.
        if (path.suffix.lower() == ".png" and path.is_file() and not path.is_symlink()
                and path.resolve().is_relative_to(root) and 0 < path.stat().st_size <= MAX_BYTES):
            out.append(path)
    return out[:MAX_PLOTS]


async def review_plots(client, idea: Idea, node: Node, plots: list[Path]) -> Review | None:  # noqa: ANN001
    """A review of ``plots``; None when there are none or the review model cannot see images."""
    if not plots:
        return None
    await client.ready()  # supports_vision imports litellm: not on the loop while the check loads it
    if not client.supports_vision("review"):
        return None
    text = prompts.messages(
        prompts.SYSTEM_JUDGE, prompts.idea_text(idea), f"Node {node.id}. Plan: {node.plan}",
        prompts.outcome_text(node),
        f"The experiment saved the {len(plots)} plot(s) attached. Check that they are readable (axes, "
        "labels, legends), that they support the reported metric, and look for signs of trouble "
        "(divergence, over-fitting, a flat or suspiciously perfect curve). Verdict invalid only when "
        "the plots show the result cannot be trusted.",
        prompts.json_instructions({
            "score": "0 to 10", "verdict": '"valid", "suspect" or "invalid"',
            "issues": '[{"severity": "minor"|"major"|"critical", "description": "..."}]',
            "summary": "two or three sentences",
        }),
    )
    parts = [{"type": "text", "text": text[1]["content"]}]
    for path in plots:
        data = base64.b64encode(path.read_bytes()).decode()
        parts.append({"type": "text", "text": f"Plot {path.name}:"})
        parts.append({"type": "image_url", "image_url": {"url": f"data:image/png;base64,{data}"}})
    msgs = [text[0], {"role": "user", "content": parts}]
    try:
        reply = await ask_json(client, msgs, ReviewReply, role="review", purpose="plot_review")
    except BadJSON as exc:
        raise LLMError(f"plot reviewer: {exc}") from exc
    return Review(**reply.model_dump(), reviewer="plot", model=client.config.model_for("review"),
                  plots=[p.name for p in plots])
