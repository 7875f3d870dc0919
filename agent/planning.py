"""What every planner shares: the one-method interface and the helpers planners use.

A planner gets the state and the tool context at the state's gains, and returns an
:class:`~anchormix.agent.state.Action` (or the JSON text of one, as a language model
writes it: the graph validates it before anything runs). The graph never knows
which planner it runs: the rule and scripted planners (agent/rules.py) and the ALM
planner (model/alm/planner.py) implement the same method.
"""

from __future__ import annotations

from typing import Any, Protocol

from anchormix.tools import ToolContext
from anchormix.tools.toolbox import MAX_GAIN_CHANGE_DB

from .state import Action, AgentState

__all__ = ["Planner", "CONVERGENCE_DB", "clamp_move", "masking_results", "masking_reason", "writes_nothing"]

CONVERGENCE_DB = 0.5  # moves smaller than this are below what a listener would act on


class Planner(Protocol):
    name: str

    def plan(self, state: AgentState, ctx: ToolContext) -> Action | str:
        """The next action for ``state``; ``ctx`` is the session's tool context at the state's gains."""
        ...

    def write_advice(self, state: AgentState, ctx: ToolContext) -> tuple[dict[str, str], dict[str, str]]:
        """At the finish: the planner's own sentence per move, as shown and as first written ({} and {} for a
        planner that writes none: the advice then quotes each move's reason)."""
        ...


def writes_nothing(state: AgentState, ctx: ToolContext) -> tuple[dict[str, str], dict[str, str]]:
    """``write_advice`` of a planner that writes no sentences of its own."""
    return {}, {}


def clamp_move(change_db: float) -> float:
    """One step's move, rounded to 0.1 dB and held within the tool's limit; the next listen sees the rest."""
    return round(max(-MAX_GAIN_CHANGE_DB, min(MAX_GAIN_CHANGE_DB, change_db)), 1)


def masking_results(state: AgentState) -> dict[str, dict[str, Any]]:
    """Successful measure_masking observations so far, by target stem (latest wins)."""
    found = {}
    for message in state.get("messages", []):
        if message.get("tool") == "measure_masking" and message.get("error") is None:
            found[message["arguments"]["target"]] = message["result"]
    return found


def masking_reason(seen: dict[str, Any] | None) -> str:
    """The clause a move's reason gains from a masking check that found the stem buried (or "")."""
    if seen and seen.get("worst_range") and seen["masked_share"] >= 0.2:
        return f"; the rest of the mix masked it {seen['masked_share']:.0%} of the time at {seen['worst_range']}"
    return ""
