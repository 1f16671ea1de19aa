"""The methodology and code reviewer: does a node's result mean what it claims?"""

from __future__ import annotations

from agents import prompts
from agents.extract import BadJSON, ask_json
from agents.llm import LLMError
from reviewers.models import Review, ReviewReply
from runs.models import Idea, Node

CHECKS = (
    "- leakage between training and validation data (fitting scalers, features or early stopping on "
    "validation data; overlapping splits)\n"
    "- the metric computed on the wrong split, or not the metric the idea asks for\n"
    "- test or validation data used to select hyperparameters and then reported as unbiased\n"
    "- a result too good to be true, or a metric written as a constant instead of computed\n"
    "- printed output that contradicts metrics.json\n"
    "- bugs that make the experiment not test the hypothesis"
)


async def review_node(client, idea: Idea, node: Node) -> Review:  # noqa: ANN001 - an LLMClient
    """A structured review of an executed node; verdict ``invalid`` flags it. LLMError on failure."""
    msgs = prompts.messages(
        prompts.SYSTEM_JUDGE, prompts.idea_text(idea), prompts.protocol(idea),
        f"Node {node.id} ({node.operator}). Plan: {node.plan}", prompts.code_block(node.code),
        prompts.outcome_text(node),
        f"Review this experiment. Check in particular:\n{CHECKS}\n"
        "Verdict: valid (the metric can be trusted), suspect (doubts, but not proven wrong), "
        "invalid (the metric is wrong or meaningless: the node must not count as a result).",
        prompts.json_instructions({
            "score": "0 (worthless) to 10 (sound and convincing)",
            "verdict": '"valid", "suspect" or "invalid"',
            "issues": '[{"severity": "minor"|"major"|"critical", "description": "..."}]',
            "summary": "two or three sentences",
        }),
    )
    try:
        reply = await ask_json(client, msgs, ReviewReply, role="review", purpose="review")
    except BadJSON as exc:
        raise LLMError(f"node reviewer: {exc}") from exc
    return Review(**reply.model_dump(), reviewer="node", model=client.config.model_for("review"))
