"""The LLM agent: each operator is a short module; this class picks one and turns failures into
ExpansionError, so the engine records a failed expansion and the run goes on."""

from __future__ import annotations

from agents import ablate, crossover, debug, draft, improve, tune
from agents.base import ExpansionContext, ExpansionError, Proposal
from agents.extract import NoCode
from agents.llm import LLMClient, LLMConfig, LLMError, OnCall

OPERATORS = {"draft": draft.propose, "debug": debug.propose, "improve": improve.propose,
             "tune": tune.propose, "ablate": ablate.propose, "crossover": crossover.propose}


class LLMAgent:
    """Draft, debug, improve, tune, ablate and cross over with a language model (agents.base.Agent)."""

    reads_lessons = True  # the engine adds the whole tree's lessons to its contexts

    def __init__(self, config: LLMConfig, on_call: OnCall | None = None, *, client: LLMClient | None = None) -> None:
        self.config = config
        self.client = client or LLMClient(config, on_call)
        self.name = f"llm:{config.model}"

    async def propose(self, ctx: ExpansionContext) -> Proposal:
        """A proposal for ``ctx.operator``; ExpansionError (or NothingToTry) when there is none."""
        operator = OPERATORS.get(ctx.operator)
        if operator is None:
            raise ExpansionError(f"the LLM agent has no {ctx.operator!r} operator")
        try:
            return await operator(self.client, ctx, attempts=self.config.code_attempts)
        except (NoCode, LLMError) as exc:
            raise ExpansionError(str(exc)) from exc
