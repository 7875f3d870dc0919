"""anchormix.agent: the LangGraph balancing loop, its planners, traces and runner."""

from .graph import MAX_STEPS, build_graph
from .planners import ROLE_TARGETS_LU, Planner, RulePlanner, ScriptedPlanner, make_planner
from .runner import BalanceResult, balance_session
from .state import Action, AgentState

__all__ = [
    "MAX_STEPS",
    "ROLE_TARGETS_LU",
    "Action",
    "AgentState",
    "BalanceResult",
    "Planner",
    "RulePlanner",
    "ScriptedPlanner",
    "balance_session",
    "build_graph",
    "make_planner",
]
