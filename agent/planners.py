"""Planners: state in, action out. The graph never knows which one it runs.

- :class:`RulePlanner` — the loudness-conventions baseline: brings every stem to
  a per-role offset from the anchor (:data:`ROLE_TARGETS_LU`), inspecting masking
  for the stems it moves most so its advice can say why.
- :class:`ScriptedPlanner` — replays a fixed list of actions (tests, demos of
  the error path).

The ALM planner (model/) implements the same one-method interface.
"""

from __future__ import annotations

from typing import Any, Protocol

from .state import FINISH, Action, AgentState

__all__ = ["Planner", "RulePlanner", "ScriptedPlanner", "ROLE_TARGETS_LU", "make_planner", "PLANNERS", "clamp_move",
           "masking_results"]

# Where each role conventionally sits against the bass, in LU (integrated loudness of the
# stem minus that of the bass). A starting point an engineer would recognise from
# pop/rock/electronic mixes: kick level with the bass, vocal on top, snare just under,
# hats, pads and effects well below. Against another anchor the table is re-referenced:
# target(stem) = table[stem role] - table[anchor role].
ROLE_TARGETS_LU: dict[str, float] = {
    "bass": 0.0,
    "kick": 0.0,
    "snare": -1.0,
    "drums": 0.0,
    "hats": -10.0,
    "vocals": 2.0,
    "guitar": -3.0,
    "keys": -5.0,
    "pad": -8.0,
    "lead": -3.0,
    "strings": -5.0,
    "brass": -4.0,
    "fx": -12.0,
    "other": -6.0,
}
CONVERGENCE_DB = 0.5  # moves smaller than this are below what a listener would act on


def clamp_move(change_db: float) -> float:
    """One step's move, rounded to 0.1 dB and held within the tool's limit; the next listen sees the rest."""
    from anchormix.tools.toolbox import MAX_GAIN_CHANGE_DB

    return round(max(-MAX_GAIN_CHANGE_DB, min(MAX_GAIN_CHANGE_DB, change_db)), 1)


def genre_targets(genre: str) -> dict[str, float]:
    """Role offsets from the bass (LU) a genre's conventions set, where they differ from :data:`ROLE_TARGETS_LU`.

    The genre presets of the demo generator (tools/demo.py) are the house's written-down conventions;
    an unknown genre changes nothing.
    """
    from anchormix.tools.demo import GENRES

    preset = GENRES.get(genre)
    if preset is None:
        return {}
    bass = preset.reference_lu.get("bass", 0.0)
    return {role: lu - bass for role, lu in preset.reference_lu.items()}


class Planner(Protocol):
    name: str

    def plan(self, state: AgentState) -> Action:
        """Return the next action for ``state``."""
        ...


def masking_results(state: AgentState) -> dict[str, dict[str, Any]]:
    """Successful measure_masking observations so far, by target stem (latest wins)."""
    found = {}
    for message in state.get("messages", []):
        if message.get("tool") == "measure_masking" and message.get("error") is None:
            found[message["arguments"]["target"]] = message["result"]
    return found


class RulePlanner:
    """Loudness conventions: each role to its table offset from the anchor."""

    name = "rules"

    def __init__(self, targets_lu: dict[str, float] | None = None, inspect_masking: int = 4,
                 genre: str | None = None) -> None:
        self.targets_lu = dict(ROLE_TARGETS_LU if targets_lu is None else targets_lu)
        if genre is not None:
            self.targets_lu.update(genre_targets(genre))
        self.inspect_masking = inspect_masking  # masking checks for the N largest moves

    def target_lu(self, role: str, anchor_role: str) -> float:
        return self.targets_lu.get(role, self.targets_lu["other"]) - self.targets_lu.get(anchor_role, 0.0)

    def plan(self, state: AgentState) -> Action:
        levels = state["measurements"]["loudness"]["stems"]
        anchor = state["anchor"]
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
        for name, change in changes.items():
            now, target = gaps[name]
            reason = f"was {now:+.1f} LU against the {anchor}; {levels[name]['role']} sits at {target:+.1f} LU by convention"
            seen = masking.get(name)
            if seen and seen.get("worst_range") and seen["masked_share"] >= 0.2:
                reason += f"; the rest of the mix masked it {seen['masked_share']:.0%} of the time at {seen['worst_range']}"
            reasons[name] = reason
        summary = ", ".join(f"{n} {c:+.1f} dB" for n, c in changes.items())
        return Action(
            tool="apply_gains",
            arguments={"changes_db": changes},
            rationale=f"bring each stem to its role's offset from the {anchor}: {summary}",
            reasons=reasons,
        )


class ScriptedPlanner:
    """Plays back ``actions`` in order, then finishes. For tests and reproducible examples."""

    name = "scripted"

    def __init__(self, actions: list[Action]) -> None:
        self.actions = list(actions)

    def plan(self, state: AgentState) -> Action:
        index = state.get("iteration", 0)
        if index < len(self.actions):
            return self.actions[index]
        return Action(tool=FINISH, rationale="script finished")


PLANNERS = ("rules", "alm")


def check_planner(name: str) -> None:
    """Validate a ``--planner`` value before any work is done."""
    if name not in PLANNERS:
        raise ValueError(f"--planner: unknown planner '{name}'; choose from {', '.join(PLANNERS)}")
    if name == "alm":
        from anchormix.model.planner import DEFAULT_CHECKPOINT

        if not DEFAULT_CHECKPOINT.exists():
            raise ValueError(f"--planner alm: no trained checkpoint at {DEFAULT_CHECKPOINT}")


def make_planner(name: str, ctx=None, genre: str | None = None) -> Planner:
    """The planner called ``name``; the ALM listens to the session through ``ctx``; both follow ``genre``."""
    check_planner(name)
    if name == "alm":
        if ctx is None:
            raise ValueError("--planner alm needs the session's tool context")
        from anchormix.model.planner import ALMPlanner, shared_balancer

        return ALMPlanner(ctx, balancer=shared_balancer(), genre=genre)  # the weights load once per process
    return RulePlanner(genre=genre)
