"""The loop's nodes and routes, each a module-level function of the state and the loop's dependencies.

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
- ``finish`` renders the mix (when there is an output folder) and writes the advice into the state.

Every node returns a partial update and appends one trace record. The dependencies
(:class:`LoopDeps`: the planner, the session's tool context, the step cap) come in
through LangGraph's runtime context, so nothing here closes over a session.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from anchormix.tools import REGISTRY, ToolContext, ToolError

from .advice import advice_markdown
from .planning import CONVERGENCE_DB, Planner
from .state import FINISH, INVALID, Action, AgentState, applied_gains
from .toolcall import ToolCallError, parse_tool_call
from .trace import trace_record

if TYPE_CHECKING:  # LangGraph passes the runtime by the parameter's name; the class only annotates
    from langgraph.runtime import Runtime

__all__ = ["LoopDeps", "listen", "plan", "act", "finish", "after_plan", "after_act", "MAX_INVALID_CALLS"]

MAX_INVALID_CALLS = 3  # invalid tool calls in a row before the balance stops


@dataclass(frozen=True)
class LoopDeps:
    """What the nodes work with besides the state: never checkpointed, given again on every run."""

    planner: Planner
    ctx: ToolContext  # the session and its measurements (its gains are ignored: the state's count)
    max_steps: int


def _call(deps: LoopDeps, tool: str, arguments: dict[str, Any], gains: dict[str, float]) -> tuple[Any, str | None, dict]:
    """Run one registry tool at ``gains``: (result, error, gains after it)."""
    try:
        result = REGISTRY.call(tool, arguments, deps.ctx.at(gains))
    except ToolError as err:
        return None, str(err), dict(gains)
    after = result["gains_db"] if tool == "apply_gains" else gains
    return result, None, dict(after)


def _step(state: AgentState) -> int:
    return state.get("step", 0) + 1


def listen(state: AgentState, runtime: Runtime[LoopDeps]) -> dict[str, Any]:
    started, deps = time.perf_counter(), runtime.context
    gains = state.get("gains_db", {})
    result, error, _ = _call(deps, "measure_loudness", {}, gains)
    update: dict[str, Any] = {"measurements": {"loudness": result}, "step": _step(state)}
    if "initial_lu_vs_anchor" not in state and result:
        update["initial_lu_vs_anchor"] = {n: r["lu_vs_anchor"] for n, r in result["stems"].items()}
    update["trace"] = [trace_record(_step(state), "listen", deps.ctx.at(gains), started, tool="measure_loudness",
                                    arguments={}, result=result, error=error)]
    return update


def _tidy(action: Action) -> Action:
    """An action whose free-text fields are text and whose reasons and flags map stems to text (arguments are the
    registry's)."""
    tidy = dict(action)
    for key in ("rationale", "advice"):
        if key in tidy and not isinstance(tidy[key], str):
            tidy[key] = str(tidy[key])
    for key in ("reasons", "flags"):
        texts = tidy.get(key)
        if texts is not None:
            tidy[key] = {str(k): str(v) for k, v in texts.items()} if isinstance(texts, dict) else {}
    return Action(**tidy)


def _ask_planner(state: AgentState, deps: LoopDeps, update: dict[str, Any]) -> Action:
    """The planner's action, validated; a planner that fails ends the balance. Raises ToolCallError (with the text
    as ``.text``) for a tool call written as text that does not validate."""
    raw = None
    try:
        action = deps.planner.plan(state, deps.ctx.at(state.get("gains_db", {})))
        if isinstance(action, str):  # a model's JSON tool call: validated, never run unchecked
            raw = action
            action = parse_tool_call(raw, deps.ctx.session.names)
        if not isinstance(action, dict) or not isinstance(action.get("tool"), str):
            raise TypeError(f"a planner must return an action with a 'tool' name, got {action!r}")
        return _tidy(action)
    except ToolCallError as err:
        err.text = raw
        raise
    except Exception as err:  # a planner bug must end the balance cleanly, not crash it
        update["status"] = "planner error"
        return Action(tool=FINISH, rationale=f"planner failed: {type(err).__name__}: {err}")


def _converged(action: Action, state: AgentState, update: dict[str, Any]) -> Action:
    """``action``, or a finish when it repeats a failing call, moves less than 0.5 dB, or repeats the last advice."""
    last = (state.get("messages") or [{}])[-1]
    if (last.get("error") and action.get("tool") == last.get("tool")
            and (action.get("arguments") or {}) == (last.get("arguments") or {})):
        update["status"] = "stuck"
        return Action(tool=FINISH, rationale=f"the planner repeated a call that just failed ({last['error']})")
    if action.get("tool") != "apply_gains":
        return action
    arguments = action.get("arguments")
    changes = arguments.get("changes_db") if isinstance(arguments, dict) else None
    numeric = isinstance(changes, dict) and all(
        isinstance(v, (int, float)) and not isinstance(v, bool) for v in changes.values())
    if not numeric:
        return action  # malformed: let the registry reject it in `act`, so the planner hears why
    largest = max((abs(v) for v in changes.values()), default=0.0)
    if largest < CONVERGENCE_DB:
        return Action(tool=FINISH, rationale=f"largest proposed change {largest:.2f} dB < {CONVERGENCE_DB} dB")
    if action.get("rationale") and action.get("rationale") == state.get("last_rationale"):
        return Action(tool=FINISH, rationale="the same advice twice in a row: converged")
    return action


def plan(state: AgentState, runtime: Runtime[LoopDeps]) -> dict[str, Any]:
    started, deps = time.perf_counter(), runtime.context
    iteration = state.get("iteration", 0)
    update: dict[str, Any] = {"iteration": iteration + 1, "step": _step(state)}
    if iteration >= deps.max_steps:
        action = Action(tool=FINISH, rationale=f"step cap of {deps.max_steps} planning steps reached")
        update["status"] = "step cap"
    else:
        try:
            action = _ask_planner(state, deps, update)
        except ToolCallError as err:
            return _invalid_call(state, deps, update, err.text, str(err), started)
        action = _converged(action, state, update)
    if action.get("tool") == FINISH:
        update.setdefault("status", "converged")
        update["converged"] = update["status"] == "converged"
    if action.get("targets"):  # held in the state, so a run resumed in another process keeps them
        update["targets"] = action["targets"]
    update["pending"] = action
    update["invalid_calls"] = 0
    update["trace"] = [trace_record(_step(state), "plan", deps.ctx.at(state.get("gains_db", {})), started,
                                    tool=action.get("tool"), arguments=action.get("arguments"),
                                    rationale=action.get("rationale"))]
    return update


def _invalid_call(state: AgentState, deps: LoopDeps, update: dict[str, Any], raw: str, error: str,
                  started: float) -> dict[str, Any]:
    """Record an invalid tool call and hand the planner the reason; give up after MAX_INVALID_CALLS in a row."""
    count = state.get("invalid_calls", 0) + 1
    update.update(invalid_calls=count, messages=[{"tool": INVALID, "arguments": {"text": raw}, "result": None,
                                                  "error": f"invalid tool call: {error}"}])
    if count >= MAX_INVALID_CALLS:
        update.update(status="invalid tool calls", converged=False,
                      pending=Action(tool=FINISH, rationale=f"{count} invalid tool calls in a row; last: {error}"))
    else:
        update["pending"] = Action(tool=INVALID, rationale=error)
    update["trace"] = [trace_record(_step(state), "plan", deps.ctx.at(state.get("gains_db", {})), started,
                                    tool=INVALID, arguments={"text": raw[:600]}, error=f"invalid tool call: {error}")]
    return update


def act(state: AgentState, runtime: Runtime[LoopDeps]) -> dict[str, Any]:
    started, deps = time.perf_counter(), runtime.context
    action = state["pending"]
    arguments = action.get("arguments") or {}
    gains = dict(state.get("gains_db", {}))
    result, error, after = _call(deps, action["tool"], arguments, gains)
    update: dict[str, Any] = {"gains_db": after, "step": _step(state)}
    if action["tool"] == "apply_gains" and error is None:
        update["reasons"] = {**state.get("reasons", {}), **(action.get("reasons") or {})}
        moved = arguments.get("changes_db") or {}
        for key in ("flags", "intervals"):  # a stem's latest move decides both
            update[key] = {**{n: v for n, v in (state.get(key) or {}).items() if n not in moved},
                           **(action.get(key) or {})}
        update["last_rationale"] = action.get("rationale", "")
    update["messages"] = [{"tool": action["tool"], "arguments": arguments, "result": result, "error": error}]
    update["trace"] = [trace_record(_step(state), "act", deps.ctx.at(gains), started, tool=action["tool"],
                                    arguments=arguments, result=result, gains_after=after,
                                    rationale=action.get("rationale"), error=error)]
    return update


def finish(state: AgentState, runtime: Runtime[LoopDeps]) -> dict[str, Any]:
    """Render the mix at the applied gains (the advised ones, or ``strength_pct`` % of each move) and write the
    advice; with less than the whole advice applied, the final levels are re-measured at what was applied."""
    started, deps = time.perf_counter(), runtime.context
    gains = applied_gains(state)
    strength = state.get("strength_pct", 100.0)
    update: dict[str, Any] = {"applied_gains_db": gains, "step": _step(state)}
    if strength < 100.0:
        update["measurements"] = {"loudness": _call(deps, "measure_loudness", {}, gains)[0]}
    result, error = None, None
    if deps.ctx.out_dir is not None:
        result, error, _ = _call(deps, "render", {}, gains)
    action = state.get("pending") or {}
    update["render"] = result or {}
    (update["written"], update["written_raw"]), failure = _written_advice({**state, **update}, deps)
    notes = "\n".join(n for n in (action.get("advice"), failure) if n)
    update["advice"] = advice_markdown({**state, **update}, deps.ctx.session.names, notes or None)
    arguments = {"strength_pct": strength, "applied_gains_db": gains} if strength < 100.0 else None
    update["trace"] = [trace_record(_step(state), "finish", deps.ctx.at(gains), started,
                                    tool="render" if deps.ctx.out_dir else None, arguments=arguments, result=result,
                                    rationale=action.get("rationale"), error=error)]
    return update


def _written_advice(state: AgentState, deps: LoopDeps) -> tuple[tuple[dict[str, str], dict[str, str]], str | None]:
    """The planner's own sentences per move, as shown and as first written (empty for a planner that writes none);
    and why writing failed, if it did (the advice then quotes the moves' reasons instead, and says so)."""
    try:
        return deps.planner.write_advice(state, deps.ctx), None
    except Exception as err:  # noqa: BLE001 - a failed sentence must not lose a finished balance
        return ({}, {}), f"(The advice writer failed, {type(err).__name__}: {err}; the moves' reasons are quoted instead.)"


def after_plan(state: AgentState) -> str:
    tool = state["pending"].get("tool")
    return "finish" if tool == FINISH else "plan" if tool == INVALID else "act"


def after_act(state: AgentState) -> str:
    last = state["messages"][-1]
    return "listen" if last["tool"] == "apply_gains" and last["error"] is None else "plan"
