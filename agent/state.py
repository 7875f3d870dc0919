"""The agent's state and actions: plain JSON-able data, so LangGraph can checkpoint them.

The audio itself never enters the state: nodes reach it through the
:class:`~anchormix.tools.ToolContext` the loop is run with (agent/nodes.py,
``LoopDeps``). The gains live here and only here.
"""

from __future__ import annotations

import operator
from typing import Annotated, Any, TypedDict

__all__ = ["Action", "AgentState", "FINISH", "INVALID", "start_state", "applied_gains"]

FINISH = "finish"  # the action that ends a balance
INVALID = "invalid_call"  # trace/message tool name of a call that failed validation


class Action(TypedDict, total=False):
    """What a planner wants next: a registry tool call, or ``tool == "finish"`` with advice."""

    tool: str  # a registry tool name, or "finish"
    arguments: dict[str, Any]
    rationale: str  # why, in words a person can check (quotes measured numbers)
    reasons: dict[str, str]  # per stem, for apply_gains: why this stem moves
    flags: dict[str, str]  # per stem, for apply_gains: why this move needs a person's ear before it is trusted
    intervals: dict[str, float]  # per stem, for apply_gains: half-width (dB) of the move's 80 % interval
    advice: str  # for finish: the planner's own closing advice (optional)
    targets: dict[str, float]  # where the planner puts each stem (LU vs the anchor), to be held by later steps


class AgentState(TypedDict, total=False):
    session_id: str
    session_path: str
    anchor: str
    fingerprint: str  # of the source files; a changed session is never resumed
    planner: str
    gains_db: dict[str, float]  # dB vs. the stems as loaded: the advised balance once the loop is done
    origin_gains_db: dict[str, float]  # the gains it started from: the advised moves are gains_db minus these
    strength_pct: float  # share of the advised moves the final mix gets (100: all of them; --strength)
    applied_gains_db: dict[str, float]  # what the final mix got: origin + strength x the advised moves
    initial_lu_vs_anchor: dict[str, float | None]
    measurements: dict[str, Any]  # last listen: {"loudness": measure_loudness result}
    pending: Action | None
    messages: Annotated[list[dict[str, Any]], operator.add]  # tool observations the planner reads
    trace: Annotated[list[dict[str, Any]], operator.add]  # one record per node run
    reasons: dict[str, str]  # latest reason per moved stem
    flags: dict[str, str]  # moves to check by ear (unlike anything in the corpus), per stem, as of its latest move
    intervals: dict[str, float]  # 80 % interval half-width (dB) of each stem's latest move, where the planner says
    last_rationale: str
    iteration: int  # planner calls so far
    invalid_calls: int  # invalid JSON tool calls in a row
    step: int  # node runs so far
    converged: bool
    status: str  # running | converged | step cap | stuck | planner error | invalid tool calls
    targets: dict[str, float]  # the planner's targets (LU vs the anchor) as of its latest plan that gave them
    written: dict[str, str]  # the planner's own sentence per move (the ALM's writer; agent/grounding.py backs it)
    written_raw: dict[str, str]  # those sentences as first written, before unbacked clauses were dropped
    advice: str
    render: dict[str, Any]  # result of the final render


def start_state(session_id: str, anchor: str, planner: str, gains_db: dict[str, float], **more: Any) -> AgentState:
    """The state a balance starts from: ``gains_db`` as they are now, nothing planned yet (``more``: the batch
    runner's session path and fingerprint, and ``strength_pct`` when less than the whole advice is to be applied)."""
    more = {"strength_pct": 100.0, **more}
    if not 0.0 <= more["strength_pct"] <= 100.0:
        raise ValueError(f"strength {more['strength_pct']} %: give 0 to 100")
    return AgentState(session_id=session_id, anchor=anchor, planner=planner, gains_db=dict(gains_db),
                      origin_gains_db=dict(gains_db), iteration=0, step=0, status="running", converged=False,
                      reasons={}, messages=[], trace=[], **more)


def applied_gains(state: AgentState) -> dict[str, float]:
    """The gains the final mix gets: each stem's origin plus ``strength_pct`` % of its advised move."""
    share = state.get("strength_pct", 100.0) / 100.0
    origin = state.get("origin_gains_db") or {}
    return {n: round(origin.get(n, 0.0) + share * (g - origin.get(n, 0.0)), 2) for n, g in state.get("gains_db", {}).items()}
