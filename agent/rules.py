"""The planners that need no model.

- :class:`RulePlanner` — the loudness-conventions baseline: brings every stem to
  its role's offset from the anchor (tools/conventions.py, genre-aware),
  inspecting masking for the stems it moves most so its advice can say why.
- :class:`PeakPlanner` — the same loop, each stem's target taken mostly from its
  peaks: where its true peak sits against the anchor's, as producers leave it
  (tools/conventions.py, ``PEAK_WEIGHT``; issue 28).
- :class:`ScriptedPlanner` — replays a fixed list of actions (tests, demos of
  the error path).
"""

from __future__ import annotations

from anchormix.tools import ToolContext
from anchormix.tools.conventions import PEAK_WEIGHT, ROLE_TARGETS_LU, genre_targets, peak_offset_db

from .planning import CONVERGENCE_DB, clamp_move, masking_reason, masking_results, writes_nothing
from .state import FINISH, Action, AgentState

__all__ = ["RulePlanner", "PeakPlanner", "ScriptedPlanner"]


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
        reasons = {name: self.reason(levels[name], levels[anchor], anchor) + masking_reason(masking.get(name))
                   for name in changes}
        summary = ", ".join(f"{n} {c:+.1f} dB" for n, c in changes.items())
        return Action(
            tool="apply_gains",
            arguments={"changes_db": changes},
            rationale=f"bring each stem to its {self.aim} the {anchor}: {summary}",
            reasons=reasons,
        )

    aim = "role's offset from"  # what the rationale says each stem is brought to

    def stem_target(self, row: dict, anchor_row: dict) -> float:
        """Where the stem measured as ``row`` belongs, LU against the anchor measured as ``anchor_row``."""
        return self.target_lu(row["role"], anchor_row["role"])

    def reason(self, row: dict, anchor_row: dict, anchor: str) -> str:
        """Why the stem measured as ``row`` moves, in the words of the trace."""
        return (f"was {row['lu_vs_anchor']:+.1f} LU against the {anchor}; {row['role']} sits at "
                f"{self.stem_target(row, anchor_row):+.1f} LU by convention")

    def _moves(self, levels: dict, anchor: str) -> tuple[dict[str, float], dict[str, tuple[float, float]]]:
        """The moves of at least 0.5 dB that take each active stem to its target, and (level, target) per stem."""
        changes, gaps = {}, {}
        for name, row in levels.items():
            if name == anchor or not row["active"] or row["lu_vs_anchor"] is None:
                continue
            target = self.stem_target(row, levels[anchor])
            change = clamp_move(target - row["lu_vs_anchor"])
            if abs(change) >= CONVERGENCE_DB:
                changes[name] = change
                gaps[name] = (row["lu_vs_anchor"], target)
        return changes, gaps


class PeakPlanner(RulePlanner):
    """Peak-aligned conventions (``--planner peaks``): each stem ``weight`` of the way from its role's offset to the
    level that puts its true peak the fitted offset from the anchor's (``offset_db``: one for every anchor; else
    the table's for the anchor's role, tools/conventions.py).

    Producers leave a stem where its peaks sit, more than where its role would: across the module and LMMS
    corpora a stem's crest factor (true peak less integrated loudness) against the anchor's tells its level better
    than its role does (README, "Modern productions"). The crest does not move with a gain, so this target is the
    same from any start. A stem or anchor without a measurable peak or loudness falls back on its role.
    """

    name = "peaks"
    aim = "peaks' level against"

    def __init__(self, weight: float = PEAK_WEIGHT, offset_db: float | None = None, **kwargs) -> None:
        super().__init__(**kwargs)
        self.weight, self.offset_db = weight, offset_db

    def peak_offset(self, anchor_row: dict) -> float:
        return peak_offset_db(anchor_row["role"]) if self.offset_db is None else self.offset_db

    def by_peak(self, row: dict, anchor_row: dict) -> float | None:
        """The level (LU against the anchor) that puts the stem's true peak the offset from the anchor's."""
        values = (row["true_peak_dbtp"], row["lufs"], anchor_row["true_peak_dbtp"], anchor_row["lufs"])
        if any(v is None for v in values):
            return None
        peak, lufs, anchor_peak, anchor_lufs = values
        return (anchor_peak - anchor_lufs) - (peak - lufs) + self.peak_offset(anchor_row)

    def stem_target(self, row: dict, anchor_row: dict) -> float:
        by_role, by_peak = super().stem_target(row, anchor_row), self.by_peak(row, anchor_row)
        return by_role if by_peak is None else self.weight * by_peak + (1.0 - self.weight) * by_role

    def reason(self, row: dict, anchor_row: dict, anchor: str) -> str:
        by_peak = self.by_peak(row, anchor_row)
        if by_peak is None:
            return super().reason(row, anchor_row, anchor)
        by_role = super().stem_target(row, anchor_row)
        return (f"was {row['lu_vs_anchor']:+.1f} LU against the {anchor}; its peaks stand "
                f"{row['true_peak_dbtp'] - row['lufs']:.1f} dB over its loudness (the {anchor}'s "
                f"{anchor_row['true_peak_dbtp'] - anchor_row['lufs']:.1f}), so {by_peak:+.1f} LU puts its peaks "
                f"{self.peak_offset(anchor_row):+.1f} dB from the {anchor}'s; with {row['role']} at {by_role:+.1f} LU "
                f"by convention, {self.stem_target(row, anchor_row):+.1f} LU")


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
