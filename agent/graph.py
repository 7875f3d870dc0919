"""The balancing loop's wiring, and :func:`run_balance`, the one way every caller runs it.

::

    START -> listen -> plan -> act -> (apply_gains? listen : plan) ...
                          \\-> finish -> END

The nodes are in agent/nodes.py; the batch runner, the conversation and both
evaluation protocols all start a balance through :func:`run_balance`, which owns
the step cap and LangGraph's recursion limit.
"""

from __future__ import annotations

from typing import Callable

from anchormix.tools import ToolContext

from .nodes import LoopDeps, act, after_act, after_plan, finish, listen, plan
from .planning import Planner
from .state import AgentState

__all__ = ["MAX_STEPS", "build_graph", "run_balance", "saved_state"]

MAX_STEPS = 16  # planner calls per balance


def build_graph(checkpointer=None):
    """The loop compiled (with ``checkpointer``, a run can be resumed by its thread id)."""
    from langgraph.graph import END, START, StateGraph  # lazy: LangGraph takes 0.5 s to import; a bad argument is said first

    graph = StateGraph(AgentState, context_schema=LoopDeps)
    graph.add_node("listen", listen)
    graph.add_node("plan", plan)
    graph.add_node("act", act)
    graph.add_node("finish", finish)
    graph.add_edge(START, "listen")
    graph.add_edge("listen", "plan")
    graph.add_conditional_edges("plan", after_plan, {"act": "act", "finish": "finish", "plan": "plan"})
    graph.add_conditional_edges("act", after_act, {"listen": "listen", "plan": "plan"})
    graph.add_edge("finish", END)
    return graph.compile(checkpointer=checkpointer)


def _config(max_steps: int, thread_id: str | None) -> dict:
    # Each planning step runs at most three nodes (plan, act, listen); the margin covers invalid calls and finish.
    config: dict = {"recursion_limit": 4 * max_steps + 20}
    if thread_id is not None:
        config["configurable"] = {"thread_id": thread_id}
    return config


def run_balance(planner: Planner, ctx: ToolContext, start: AgentState | None, *, max_steps: int = MAX_STEPS,
                checkpointer=None, thread_id: str | None = None,
                on_step: Callable[[AgentState], None] | None = None) -> AgentState:
    """Balance the session of ``ctx`` from ``start`` (see :func:`~anchormix.agent.state.start_state`) and return the
    final state. With a ``checkpointer``, every step is saved under ``thread_id``, and ``start=None`` continues that
    thread's saved run. ``on_step`` sees the state after every node."""
    graph = build_graph(checkpointer)
    config = _config(max_steps, thread_id)
    final: AgentState = {}
    # "sync": each step is in the checkpoint before the next starts, so what on_step shows (the trace a batch writes)
    # never runs ahead of what a killed run resumes from (LangGraph's default writes it while the next step runs).
    durability = {"durability": "sync"} if checkpointer is not None else {}
    for final in graph.stream(start, config, context=LoopDeps(planner, ctx, max_steps), stream_mode="values",
                              **durability):
        if on_step:
            on_step(final)
    return graph.get_state(config).values if checkpointer is not None else final


def saved_state(checkpointer, thread_id: str) -> tuple[AgentState, bool]:
    """The state saved for ``thread_id`` (empty when none), and whether that run was interrupted mid-way: its next
    step has tasks. Not ``snapshot.next``, which leaves out a task whose writes are already saved: a run killed
    after its next node finished but before that step's checkpoint has an empty ``next`` and still resumes (once
    seen as "resumed 0" in tests/test_ray.py)."""
    snapshot = build_graph(checkpointer).get_state(_config(MAX_STEPS, thread_id))
    return snapshot.values, bool(snapshot.next or snapshot.tasks)
