"""The orchestrator: each node's pipeline as a LangGraph graph, and the loop that runs them.

One node, with a model::

    expand ─┬─ execute ──────┬─ read_metric ─ review ─ value_after ─ END
            └─ value_before ─┘      (value_before and value_after with --value-agent)

and offline ``expand ─ execute ─ END``. Each step is one call of the agent, the workspace,
the metric reader, the reviewers or the value agent (the engine's ``*_step`` methods). The
state holds the node's id and what each step found, in small values (the execution's output
cut to the tails the node keeps); plan and code are in the node's row.

LangGraph writes a checkpoint into the run's database after every step (discovery/checkpoint.py),
in the node's own thread. A node that a crash interrupted goes on, in the next session, from
its last finished step: a finished execution is not run again and a model call whose answer
was kept is not paid again. The value agent's estimate and the execution run side by side in
one step; when one of them finished before the crash, LangGraph keeps its result and runs
only the other.

The run loop (launch, wait for the first node to finish, record it, repeat) is plain asyncio,
not a graph: its state is the run store itself, which a resume reads back whole, and a graph
step per poll would add a checkpoint, or a recursion limit, for nothing (docs/architecture.md).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, TypedDict

if TYPE_CHECKING:
    from langchain_core.runnables import RunnableConfig

# LangGraph takes over a second to import (langsmith's models): it is loaded only to build the
# node graph, in a thread, while the run's first nodes start (Engine.pipeline); the functions
# below run only once it is.


class NodeState(TypedDict, total=False):
    """What one node's pipeline has found so far (each value small: checkpointed after every step)."""

    node_id: int
    expanded: bool  # the node has code (in its row); False: the agent had none
    error: str  # why it has no code
    exhausted: bool  # the agent has nothing new from this parent
    cut: bool  # not expanded because the run hit a limit
    result: dict[str, Any]  # workspace.base.ExecResult, its output cut to the tails the store keeps
    metric_source: str  # "llm" when a model read the metric from the output
    flagged: str  # why a reviewer judged the result invalid
    value: float  # the value agent's latest estimate


def _engine(config: RunnableConfig) -> Any:
    return config["configurable"]["engine"]


def _step(name: str) -> Any:
    async def step(state: NodeState, config: RunnableConfig) -> NodeState:
        return await getattr(_engine(config), f"{name}_step")(state["node_id"])

    step.__name__ = name
    return step


def _after_expand(state: NodeState, config: RunnableConfig) -> list[str] | str:
    from langgraph.graph import END

    if not state.get("expanded"):
        return END
    engine = _engine(config)
    return ["execute", "value_before"] if engine.llm is not None and engine.config.value_agent else ["execute"]


def build_node_graph(*, model: bool, value_agent: bool, checkpointer: Any = None) -> Any:
    """The pipeline of one node, compiled with ``checkpointer`` (discovery.checkpoint.StoreCheckpointer)."""
    from langchain_core.runnables import RunnableConfig
    from langgraph.graph import END, START, StateGraph

    # LangGraph reads the steps' annotations at run time: the lazily imported name must resolve.
    globals()["RunnableConfig"] = RunnableConfig
    g = StateGraph(NodeState)
    g.add_node("expand", _step("expand"))
    g.add_node("execute", _step("execute"))
    g.add_edge(START, "expand")
    targets = ["execute", END]
    if model:
        for name in ("read_metric", "review"):
            g.add_node(name, _step(name))
        g.add_edge("execute", "read_metric")
        g.add_edge("read_metric", "review")
        last = "review"
        if value_agent:
            g.add_node("value_before", _step("value_before"))
            g.add_node("value_after", _step("value_after"))
            g.add_edge("value_before", "read_metric")  # joined with the execution
            g.add_edge("review", "value_after")
            targets.append("value_before")
            last = "value_after"
        g.add_edge(last, END)
    else:
        g.add_edge("execute", END)
    g.add_conditional_edges("expand", _after_expand, targets)
    return g.compile(checkpointer=checkpointer)


async def run_loop(engine: Any) -> None:
    """Drive ``engine`` until its run ends: fill the free workers, wait for the first node to
    finish (or a poll to be due), record what finished; then the final selection and report."""
    while True:
        engine.launch()
        if engine.tasks:
            engine.record(await engine.wait_any())
        else:
            await engine.idle()
        if not engine.should_continue():
            break
    await engine.finish()
