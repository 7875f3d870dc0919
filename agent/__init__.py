"""anchormix.agent: the LangGraph balancing loop, its planners, traces, the batch runner and the conversation.

Never imports anchormix.model: the ALM planner plugs in from above through the
:class:`~anchormix.agent.planning.Planner` interface.
"""

from .balance import BalanceResult, balance_session
from .outcome import BalanceOutcome
from .graph import MAX_STEPS, build_graph, run_balance
from .planning import Planner
from .rules import PeakPlanner, RulePlanner, ScriptedPlanner
from .state import Action, AgentState, start_state

__all__ = [
    "MAX_STEPS",
    "Action",
    "AgentState",
    "BalanceOutcome",
    "BalanceResult",
    "PeakPlanner",
    "Planner",
    "RulePlanner",
    "ScriptedPlanner",
    "balance_session",
    "build_graph",
    "run_balance",
    "start_state",
]
