"""The planners that need no model.

- :class:`RulePlanner` — the loudness-conventions baseline: brings every stem to
  its role's offset from the anchor (tools/conventions.py, genre-aware),
  inspecting masking for the stems it moves most so its advice can say why.
- :class:`ScriptedPlanner` — replays a fixed list of actions (tests, demos of
  the error path).
"""

from __future__ import annotations

from anchormix.tools import ToolContext
from anchormix.tools.conventions import ROLE_TARGETS_LU, genre_targets

from .planning import CONVERGENCE_DB, clamp_move, masking_reason, masking_results, writes_nothing
from .state import FINISH, Action, AgentState

__all__ = ["RulePlanner", "ScriptedPlanner"]


class RulePlanner:
    """Loudness conventions: each role to its table offset from the anchor."""

    name = "rules"
    write_advice = staticmethod(writes_nothing)  # the advice quotes each move's reason

    def __init__(self, targets_lu: dict[str, float] | None = None, inspect_masking: int = 4,
                 genre: str | None = None) -> None:
        self.targets_lu = {**(ROLE_TARGETS_LU if targets_lu is None else targets_lu), **genre_targets(genre)}
        self.inspect_masking = inspect_masking  # masking checks for the N largest moves

    def target_lu(self, role: str, anchor_role: str) -> float:
        return self.targets_lu.get(role, self.targets_lu["other"]) - self.targets_lu.get(anchor_role, 0.0)

    def plan(self, state: AgentState, ctx: ToolContext | None = None) -> Action:
        levels = state["measurements"]["loudness"]["stems"]
        anchor = state["anchor"]
        changes, gaps = self._moves(levels, anchor)
        if not changes:
            return Action(tool=FINISH, rationale=f"every stem is within {CONVERGENCE_DB} dB of its target against the {anchor}")
        masking = masking_results(state)
        biggest = sorted(changes, key=lambda n: -abs(changes[n]))[: self.inspect_masking]
        for name in biggest:
            if name not in masking:
                return Action(
                    tool="measure_masking",
                    arguments={"target": name},
                    rationale=f"{name} is {gaps[name][0]:+.1f} LU against the {anchor}, target {gaps[name][1]:+.1f} LU: "
                    f"check what masks it before moving it {changes[name]:+.1f} dB",
                )
        reasons = {}
        for name in changes:
            now, target = gaps[name]
            reasons[name] = (f"was {now:+.1f} LU against the {anchor}; {levels[name]['role']} sits at {target:+.1f} LU "
                             f"by convention" + masking_reason(masking.get(name)))
        summary = ", ".join(f"{n} {c:+.1f} dB" for n, c in changes.items())
        return Action(
            tool="apply_gains",
            arguments={"changes_db": changes},
            rationale=f"bring each stem to its role's offset from the {anchor}: {summary}",
            reasons=reasons,
        )

    def _moves(self, levels: dict, anchor: str) -> tuple[dict[str, float], dict[str, tuple[float, float]]]:
        """The moves of at least 0.5 dB that take each active stem to its target, and (level, target) per stem."""
        anchor_role = levels[anchor]["role"]
        changes, gaps = {}, {}
        for name, row in levels.items():
            if name == anchor or not row["active"] or row["lu_vs_anchor"] is None:
                continue
            target = self.target_lu(row["role"], anchor_role)
            change = clamp_move(target - row["lu_vs_anchor"])
            if abs(change) >= CONVERGENCE_DB:
                changes[name] = change
                gaps[name] = (row["lu_vs_anchor"], target)
        return changes, gaps


class ScriptedPlanner:
    """Plays back ``actions`` in order, then finishes. For tests and reproducible examples."""

    name = "scripted"
    write_advice = staticmethod(writes_nothing)

    def __init__(self, actions: list[Action]) -> None:
        self.actions = list(actions)

    def plan(self, state: AgentState, ctx: ToolContext | None = None) -> Action:
        index = state.get("iteration", 0)
        if index < len(self.actions):
            return self.actions[index]
        return Action(tool=FINISH, rationale="script finished")
