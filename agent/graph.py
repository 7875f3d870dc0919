"""The balancing loop as a hand-built LangGraph ``StateGraph``.

::

    START -> listen -> plan -> act -> (apply_gains? listen : plan) ...
                          \\-> finish -> END

- ``listen`` measures every stem at the current gains (the loudness tool).
- ``plan`` asks the planner for one action, and decides convergence: a proposed
  move whose largest change is under 0.5 dB, the same rationale twice in a row,
  an explicit finish, or the step cap all lead to ``finish``.
- ``act`` runs the action through the tool registry; a tool error is recorded
  and handed back to the planner, never raised.
- A planner may answer with JSON text (a language model's tool call): it is
  validated against the registry's schemas and the session's stems first; an invalid call is recorded
  as ``invalid_call`` in the trace, handed back to the planner, and never run
  (three in a row end the balance with status "invalid tool calls"); repeating a call
  that just failed ends it with status "stuck" instead of running into the step cap.
- ``finish`` renders the mix and writes the advice into the state.

Every node returns a partial update and appends one trace record.
"""

from __future__ import annotations

import time
from typing import Any

from langgraph.graph import END, START, StateGraph

from anchormix.tools import REGISTRY, ToolContext, ToolError

from .advice import advice_markdown
from .planners import CONVERGENCE_DB, Planner
from .state import FINISH, Action, AgentState
from .toolcall import ToolCallError, parse_tool_call

__all__ = ["build_graph", "MAX_STEPS"]

MAX_STEPS = 16  # planner calls per balance
MAX_INVALID_CALLS = 3  # invalid tool calls in a row before the balance stops
INVALID = "invalid_call"  # trace/message tool name of a call that failed validation


def _summary(result: Any, limit: int = 600) -> Any:
    """Keep trace records readable: large results are summarised, not dumped."""
    if isinstance(result, dict) and "stems" in result and isinstance(result["stems"], dict):
        return {
            "anchor": result.get("anchor"),
            "lu_vs_anchor": {n: r.get("lu_vs_anchor") for n, r in result["stems"].items()},
        }
    if isinstance(result, dict) and "mutual" in result:
        return {"stems": result["stems"], "mutual": result["mutual"]}
    text = repr(result)
    return result if len(text) <= limit else text[:limit] + "..."


def _tidy(action: Action) -> Action:
    """An action whose free-text fields are text and whose reasons map stems to text (arguments are the registry's)."""
    tidy = dict(action)
    for key in ("rationale", "advice"):
        if key in tidy and not isinstance(tidy[key], str):
            tidy[key] = str(tidy[key])
    reasons = tidy.get("reasons")
    if reasons is not None:
        tidy["reasons"] = {str(k): str(v) for k, v in reasons.items()} if isinstance(reasons, dict) else {}
    return Action(**tidy)


def build_graph(planner: Planner, ctx: ToolContext, max_steps: int = MAX_STEPS, checkpointer=None):
    """Compile the loop for one session: ``ctx`` holds its audio, the state its gains."""

    def lufs(gains: dict[str, float]) -> dict[str, float | None]:
        return {n: (round(ctx.base_lufs[n] + gains.get(n, 0.0), 2) if ctx.base_lufs[n] > -1e9 else None)
                for n in ctx.session.names}

    def record(state: AgentState, node: str, started: float, **fields: Any) -> dict[str, Any]:
        gains = dict(state.get("gains_db", {}))
        entry = {
            "step": state.get("step", 0) + 1,
            "node": node,
            "tool": None,
            "arguments": None,
            "result": None,
            "gains_before": gains,
            "gains_after": gains,
            "lufs_before": lufs(gains),
            "lufs_after": lufs(gains),
            "rationale": None,
            "error": None,
        }
        entry.update(fields)
        if "gains_after" in fields:
            entry["lufs_after"] = lufs(fields["gains_after"])
        entry["wall_ms"] = round((time.perf_counter() - started) * 1000.0, 2)
        return entry

    def call(tool: str, arguments: dict[str, Any], gains: dict[str, float]) -> tuple[Any, str | None, dict]:
        ctx.gains_db = dict(gains)
        try:
            return REGISTRY.call(tool, arguments, ctx), None, dict(ctx.gains_db)
        except ToolError as err:
            return None, str(err), dict(gains)

    def listen(state: AgentState) -> dict[str, Any]:
        started = time.perf_counter()
        result, error, _ = call("measure_loudness", {}, state.get("gains_db", {}))
        update: dict[str, Any] = {"measurements": {"loudness": result}, "step": state.get("step", 0) + 1}
        if "initial_lu_vs_anchor" not in state and result:
            update["initial_lu_vs_anchor"] = {n: r["lu_vs_anchor"] for n, r in result["stems"].items()}
        update["trace"] = [record(state, "listen", started, tool="measure_loudness", arguments={},
                                  result=_summary(result), error=error)]
        return update

    def plan(state: AgentState) -> dict[str, Any]:
        started = time.perf_counter()
        iteration = state.get("iteration", 0)
        update: dict[str, Any] = {"iteration": iteration + 1, "step": state.get("step", 0) + 1}
        if iteration >= max_steps:
            action = Action(tool=FINISH, rationale=f"step cap of {max_steps} planning steps reached")
            update["status"] = "step cap"
        else:
            try:
                action = planner.plan(state)
                if isinstance(action, str):  # a model's JSON tool call: validated, never run unchecked
                    raw, action = action, None
                    action = parse_tool_call(raw, ctx.session.names)
                if not isinstance(action, dict) or not isinstance(action.get("tool"), str):
                    raise TypeError(f"a planner must return an action with a 'tool' name, got {action!r}")
                action = _tidy(action)
            except ToolCallError as err:
                return invalid_call(state, update, raw, str(err), started)
            except Exception as err:  # a planner bug must end the balance cleanly, not crash it
                action = Action(tool=FINISH, rationale=f"planner failed: {type(err).__name__}: {err}")
                update["status"] = "planner error"
        last = (state.get("messages") or [{}])[-1]
        if (last.get("error") and action.get("tool") == last.get("tool")
                and (action.get("arguments") or {}) == (last.get("arguments") or {})):
            action = Action(tool=FINISH, rationale=f"the planner repeated a call that just failed ({last['error']})")
            update["status"] = "stuck"
        tool = action.get("tool")
        if tool == "apply_gains":
            arguments = action.get("arguments")
            changes = arguments.get("changes_db") if isinstance(arguments, dict) else None
            numeric = isinstance(changes, dict) and all(
                isinstance(v, (int, float)) and not isinstance(v, bool) for v in changes.values())
            largest = max((abs(v) for v in changes.values()), default=0.0) if numeric else None
            if largest is None:
                pass  # malformed: let the registry reject it in `act`, so the planner hears why
            elif largest < CONVERGENCE_DB:
                action = Action(tool=FINISH, rationale=f"largest proposed change {largest:.2f} dB < {CONVERGENCE_DB} dB")
            elif action.get("rationale") and action.get("rationale") == state.get("last_rationale"):
                action = Action(tool=FINISH, rationale="the same advice twice in a row: converged")
        if action.get("tool") == FINISH:
            update.setdefault("status", "converged")
            update["converged"] = update["status"] == "converged"
        update["pending"] = action
        update["invalid_calls"] = 0
        update["trace"] = [record(state, "plan", started, tool=action.get("tool"), arguments=action.get("arguments"),
                                  rationale=action.get("rationale"))]
        return update

    def invalid_call(state: AgentState, update: dict[str, Any], raw: str, error: str, started: float) -> dict[str, Any]:
        """Record an invalid tool call and hand the planner the reason; give up after MAX_INVALID_CALLS in a row."""
        count = state.get("invalid_calls", 0) + 1
        update.update(invalid_calls=count, messages=[{"tool": INVALID, "arguments": {"text": raw}, "result": None,
                                                      "error": f"invalid tool call: {error}"}])
        if count >= MAX_INVALID_CALLS:
            update.update(status="invalid tool calls", converged=False,
                          pending=Action(tool=FINISH, rationale=f"{count} invalid tool calls in a row; last: {error}"))
        else:
            update["pending"] = Action(tool=INVALID, rationale=error)
        update["trace"] = [record(state, "plan", started, tool=INVALID, arguments={"text": raw[:600]},
                                  error=f"invalid tool call: {error}")]
        return update

    def act(state: AgentState) -> dict[str, Any]:
        started = time.perf_counter()
        action = state["pending"]
        arguments = action.get("arguments") or {}
        gains = dict(state.get("gains_db", {}))
        result, error, after = call(action["tool"], arguments, gains)
        update: dict[str, Any] = {"gains_db": after, "step": state.get("step", 0) + 1}
        if action["tool"] == "apply_gains" and error is None:
            update["reasons"] = {**state.get("reasons", {}), **(action.get("reasons") or {})}
            update["last_rationale"] = action.get("rationale", "")
        update["messages"] = [{"tool": action["tool"], "arguments": arguments, "result": result, "error": error}]
        update["trace"] = [record(state, "act", started, tool=action["tool"], arguments=arguments,
                                  result=_summary(result), gains_after=after, rationale=action.get("rationale"),
                                  error=error)]
        return update

    def finish(state: AgentState) -> dict[str, Any]:
        started = time.perf_counter()
        gains = dict(state.get("gains_db", {}))
        result, error, _ = (None, None, gains)
        if ctx.out_dir is not None:
            result, error, _ = call("render", {}, gains)
        action = state.get("pending") or {}
        advice = advice_markdown({**state, "render": result or {}}, ctx.session.names, action.get("advice"))
        return {
            "render": result or {},
            "advice": advice,
            "step": state.get("step", 0) + 1,
            "trace": [record(state, "finish", started, tool="render" if ctx.out_dir else None, result=result,
                             rationale=action.get("rationale"), error=error)],
        }

    def after_plan(state: AgentState) -> str:
        tool = state["pending"].get("tool")
        return "finish" if tool == FINISH else "plan" if tool == INVALID else "act"

    def after_act(state: AgentState) -> str:
        last = state["messages"][-1]
        return "listen" if last["tool"] == "apply_gains" and last["error"] is None else "plan"

    graph = StateGraph(AgentState)
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
