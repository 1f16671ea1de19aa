"""The orchestrator as two LangGraph graphs.

The run loop:   launch -> wait -> record -> (launch | writeup)
One node:       expand -> execute -> evaluate

LangGraph runs every branch of a step to completion before the next step starts, so a
graph that fanned out K executions would idle K-1 workers behind the slowest. Instead,
``launch`` starts each node's own small graph as an asyncio task and ``wait`` returns as
soon as any of them is done: the loop reacts to each completion. Graph state holds only
counters and ids; nodes live in the run store.
"""

from __future__ import annotations

from functools import lru_cache
from typing import Any, TypedDict

from langchain_core.runnables import RunnableConfig
from langgraph.graph import END, START, StateGraph


class LoopState(TypedDict, total=False):
    launched: int
    recorded: int
    just_done: list[int]


class NodeState(TypedDict, total=False):
    node_id: int
    expanded: bool


def _engine(config: RunnableConfig) -> Any:
    return config["configurable"]["engine"]


# -- one node -----------------------------------------------------------------------------

async def _expand(state: NodeState, config: RunnableConfig) -> NodeState:
    return {"expanded": await _engine(config).expand(state["node_id"])}


async def _execute(state: NodeState, config: RunnableConfig) -> NodeState:
    await _engine(config).execute(state["node_id"])
    return {}


async def _evaluate(state: NodeState, config: RunnableConfig) -> NodeState:
    # The verdict itself is computed when the loop records the node (discovery.evaluate);
    # here the reviewers, the metric reader and the value agent look at it (with an LLM).
    await _engine(config).evaluate(state["node_id"])
    return {}


@lru_cache(maxsize=1)
def node_graph() -> Any:
    """expand -> execute -> evaluate for one node (compiled once, reused by every node)."""
    g = StateGraph(NodeState)
    g.add_node("expand", _expand)
    g.add_node("execute", _execute)
    g.add_node("evaluate", _evaluate)
    g.add_edge(START, "expand")
    g.add_conditional_edges("expand", lambda s: "execute" if s.get("expanded") else END, ["execute", END])
    g.add_edge("execute", "evaluate")
    g.add_edge("evaluate", END)
    return g.compile()


# -- the run loop ---------------------------------------------------------------------------

async def _launch(state: LoopState, config: RunnableConfig) -> LoopState:
    return {"launched": state.get("launched", 0) + _engine(config).launch()}


async def _wait(state: LoopState, config: RunnableConfig) -> LoopState:
    engine = _engine(config)
    if not engine.tasks:
        await engine.idle()
        return {"just_done": []}
    return {"just_done": await engine.wait_any()}


async def _record(state: LoopState, config: RunnableConfig) -> LoopState:
    done = state.get("just_done", [])
    _engine(config).record(done)
    return {"recorded": state.get("recorded", 0) + len(done), "just_done": []}


async def _writeup(state: LoopState, config: RunnableConfig) -> LoopState:
    await _engine(config).finish()
    return {}


def _after_record(state: LoopState, config: RunnableConfig) -> str:
    return "launch" if _engine(config).should_continue() else "writeup"


@lru_cache(maxsize=1)
def loop_graph() -> Any:
    """launch -> wait -> record, looping until the run ends, then writeup."""
    g = StateGraph(LoopState)
    g.add_node("launch", _launch)
    g.add_node("wait", _wait)
    g.add_node("record", _record)
    g.add_node("writeup", _writeup)
    g.add_edge(START, "launch")
    g.add_edge("launch", "wait")
    g.add_edge("wait", "record")
    g.add_conditional_edges("record", _after_record, ["launch", "writeup"])
    g.add_edge("writeup", END)
    return g.compile()


async def run_loop(engine: Any) -> None:
    """Drive ``engine`` through the loop graph until its run ends."""
    # Each poll while nodes run is a few steps, so a days-long run takes millions: no cap.
    limit = 2**62
    await loop_graph().ainvoke({}, {"configurable": {"engine": engine}, "recursion_limit": limit})
