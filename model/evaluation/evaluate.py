"""The two evaluation protocols (docs/architecture.md, "The task and its numbers"), one-shot and through the agent loop.

Every stem (anchor included) starts moved by an offset o_i from the reference balance:

- ``perturb`` (AnchorBalance): o_i ~ U(-12, +12) dB, seeded by seed, session and draw;
- ``flat``: every stem at the anchor's integrated loudness (o_i = L_a - L_i), one draw per
  session, so nothing can be read off the start levels.

A planner sees only the moved stems and the anchor's name and returns gains g_i. The
target is t_i = -(o_i - o_a); the error per non-anchor active stem is
e_i = (g_i - g_a) - t_i. The level a planner leaves stem i at against the anchor is
r_i + e_i (r_i: the reference's); their spread and correlation with r_i show whether a
planner tells stems apart or only moves them all alike. The MAE "after the anchor's move" takes each draw's
median e_i off its errors: what is left once the anchor's fader has made the one move that suits that song best
(a planner whose every stem is off by the same amount is one fader away). Every planner runs on the same draws:
one-shot and agent evaluations both walk :func:`protocol_draws`. The predictors and planners come from the
caller (the planner registry in anchormix/planners.py; the baselines in model/evaluation/baselines.py).
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Iterator

import numpy as np

from anchormix.agent import MAX_STEPS, Planner, run_balance, start_state
from anchormix.tools import Measurements, Session, ToolContext, load_session
from anchormix.tools.anchor_choice import loudest_of_role

from anchormix.model.evaluation.baselines import Predictor
from anchormix.model.corpus import load_manifest
from anchormix.model.draws import MASKING_DB, PERTURB_DB

__all__ = ["PROTOCOLS", "Evaluation", "AgentEvaluation", "protocol_draws", "run_protocol", "run_agent_protocol",
           "summarise", "level_spread"]

PROTOCOLS = ("perturb", "flat")


@dataclass
class ProtocolDraw:
    """One draw of one session: the moved stems (as a tool context), the offsets, and the stems that are scored."""

    folder: Path
    session: Session
    draw: int
    offsets_db: dict[str, float]
    measurements: Measurements  # of the session as loaded (each planner gets its own moved copy)
    scored: list[str]  # the non-anchor active stems
    source: str  # where the session comes from: module, midi, procedural (the manifest's kind), else "sessions"

    def context(self) -> ToolContext:
        """A fresh context over the moved stems (a planner sees only them)."""
        moved = self.measurements.shifted(self.offsets_db)
        return ToolContext(moved.session, moved.at({}))

    def reference_lu(self) -> list[float]:
        """r_i: each scored stem's level against the anchor in the reference balance (the session as loaded)."""
        lufs = self.measurements.lufs
        return [lufs[n] - lufs[self.session.anchor] for n in self.scored]

    def errors(self, gains: dict[str, float]) -> list[float]:
        """e_i = (g_i - g_a) - t_i with t_i = -(o_i - o_a), per scored stem."""
        a, o = self.session.anchor, self.offsets_db
        return [(gains.get(n, 0.0) - gains.get(a, 0.0)) + (o[n] - o[a]) for n in self.scored]


def _draw_rng(seed: int, session_id: str, draw: int) -> np.random.Generator:
    key = int(hashlib.sha1(session_id.encode()).hexdigest()[:8], 16)
    return np.random.default_rng([seed, key, draw])


def _flat_offsets(measurements: Measurements) -> dict[str, float]:
    """Every audible stem to the anchor's integrated loudness (silent stems stay as they are)."""
    lufs, anchor = measurements.lufs, measurements.session.anchor
    return {n: (lufs[anchor] - lufs[n] if np.isfinite(lufs[n]) else 0.0) for n in measurements.session.names}


def _sources(sessions: list[tuple[Path, str]]) -> dict[Path, str]:
    """Each session's source, the ``kind`` its corpus manifest gives it ("sessions" outside a corpus)."""
    manifests: dict[Path, dict] = {}
    found = {}
    for folder, _ in sessions:
        root = folder.parent
        if root not in manifests:
            manifests[root] = load_manifest(root)["sessions"]
        found[folder] = manifests[root].get(folder.name, {}).get("kind", "sessions")
    return found


def _anchored_on(measurements: Measurements, role: str) -> bool:
    """Make the loudest audible stem of ``role`` the session's anchor; False when it has none."""
    session = measurements.session
    found = loudest_of_role(session.names, session.roles, measurements.lufs, role)
    if found:
        session.anchor = found
    return found is not None


def protocol_draws(sessions: list[tuple[Path, str]], draws: int, seed: int, protocol: str = "perturb",
                   on_session: Callable[[Path], None] | None = None,
                   anchor_role: str | None = None) -> Iterator[ProtocolDraw]:
    """Every (session, draw) of ``protocol``, each session measured once (draws shift its measurements exactly);
    ``flat`` has one draw per session whatever ``draws`` says. ``anchor_role`` (e.g. kick): balance against the
    loudest stem of that role instead of the session's anchor, and leave out sessions without one."""
    if protocol not in PROTOCOLS:
        raise ValueError(f"unknown protocol '{protocol}'; choose from {', '.join(PROTOCOLS)}")
    sources = _sources(sessions)
    for folder, _ in sessions:
        session = load_session(folder)
        measurements = Measurements(session).measure_all()
        if anchor_role and not _anchored_on(measurements, anchor_role):
            if on_session:
                on_session(folder)
            continue
        scored = [n for n in session.names if n != session.anchor and session.active[n]]
        if protocol == "flat":
            yield ProtocolDraw(folder, session, 0, _flat_offsets(measurements), measurements, scored, sources[folder])
        for draw in range(draws if protocol == "perturb" else 0):
            rng = _draw_rng(seed, folder.name, draw)
            perturb = {n: float(rng.uniform(-PERTURB_DB, PERTURB_DB)) for n in session.names}
            yield ProtocolDraw(folder, session, draw, perturb, measurements, scored, sources[folder])
        if on_session:
            on_session(folder)


@dataclass
class Evaluation:
    planners: list[str]
    errors: dict[str, list[float]] = field(default_factory=dict)  # planner -> every e_i
    by_role: dict[str, dict[str, list[float]]] = field(default_factory=dict)  # planner -> role -> e_i
    by_genre: dict[str, dict[str, list[float]]] = field(default_factory=dict)
    by_source: dict[str, dict[str, list[float]]] = field(default_factory=dict)
    by_session: dict[str, dict[str, list[float]]] = field(default_factory=dict)  # planner -> session folder -> e_i
    after_anchor_move: dict[str, list[float]] = field(default_factory=dict)  # planner -> e_i less its draw's median
    after_anchor_move_by_source: dict[str, dict[str, list[float]]] = field(default_factory=dict)  # the same by source
    levels: dict[str, list[tuple[float, float]]] = field(default_factory=dict)  # planner -> (r_i, r_i + e_i)
    sessions: int = 0
    draws: int = 0


def run_protocol(sessions: list[tuple[Path, str]], planners: dict[str, Predictor], draws: int, seed: int,
                 on_session: Callable[[Path], None] | None = None, protocol: str = "perturb",
                 anchor_role: str | None = None) -> Evaluation:
    """One-shot: each predictor's gains for each draw of ``protocol``, scored (``anchor_role``: see protocol_draws)."""
    result = Evaluation(list(planners))
    for d in protocol_draws(sessions, draws, seed, protocol, on_session, anchor_role):
        result.sessions += d.draw == 0
        for name, predict in planners.items():
            errors = d.errors(predict(d.context()))
            if errors:
                moved = list(np.asarray(errors) - np.median(errors))
                result.after_anchor_move.setdefault(name, []).extend(moved)
                result.after_anchor_move_by_source.setdefault(name, {}).setdefault(d.source, []).extend(moved)
            for n, e, r in zip(d.scored, errors, d.reference_lu()):
                result.levels.setdefault(name, []).append((r, r + e))
                result.errors.setdefault(name, []).append(e)
                result.by_role.setdefault(name, {}).setdefault(d.session.roles[n], []).append(e)
                result.by_genre.setdefault(name, {}).setdefault(d.session.genre, []).append(e)
                result.by_source.setdefault(name, {}).setdefault(d.source, []).append(e)
                result.by_session.setdefault(name, {}).setdefault(d.folder.name, []).append(e)
        result.draws += 1
    return result


@dataclass
class AgentEvaluation:
    """Agent-level numbers per planner: one record per (session, draw) run of the whole loop."""

    runs: dict[str, list[dict]] = field(default_factory=dict)  # planner -> [{iterations, converged, ...}]

    def summary(self, planner: str) -> dict[str, float]:
        runs = self.runs.get(planner, [])

        def mean(key: str) -> float:
            return float(np.mean([r.get(key, 0) for r in runs])) if runs else 0.0

        errors = [e for r in runs for e in r["errors"]]
        raised = [r["masking_checks"] > 0 for r in runs if r.get("raised_6db")]  # balances that raise a stem 6 dB+
        return {**summarise(errors), "runs": len(runs), "converged": mean("converged"), "iterations": mean("iterations"),
                "tool_calls": mean("tool_calls"), "masking_checks": mean("masking_checks"),
                "invalid_calls": int(sum(r["invalid_calls"] for r in runs)), "raised_6db": len(raised),
                "checked_when_raised": float(np.mean(raised)) if raised else 0.0}


def run_agent_protocol(sessions: list[tuple[Path, str]], planners: dict[str, Callable[[], Planner]],
                       draws: int, seed: int, max_steps: int = MAX_STEPS,
                       on_session: Callable[[Path], None] | None = None, protocol: str = "perturb",
                       on_state: Callable[[ProtocolDraw, str, dict, Planner], None] | None = None,
                       anchor_role: str | None = None) -> AgentEvaluation:
    """The same draws, each balanced by the whole agent loop (listen, plan, act ... finish) with a fresh planner
    (``on_state``: called with each draw, planner name, final state and planner, e.g. to check its advice)."""
    result = AgentEvaluation()
    for d in protocol_draws(sessions, draws, seed, protocol, on_session, anchor_role):
        for name, make in planners.items():
            start = start_state(d.folder.name, d.session.anchor, name, {n: 0.0 for n in d.session.names})
            planner = make()
            state = run_balance(planner, d.context(), start, max_steps=max_steps)
            if on_state:
                on_state(d, name, state, planner)
            trace = state["trace"]
            gains = state["gains_db"]
            raised = max((gains[n] - gains[d.session.anchor] for n in d.scored), default=0.0) >= MASKING_DB
            result.runs.setdefault(name, []).append({
                "session": d.folder.name, "draw": d.draw, "status": state.get("status"),
                "converged": bool(state.get("converged")), "iterations": state.get("iteration", 0),
                "tool_calls": sum(1 for r in trace if r["node"] == "act"),
                "masking_checks": sum(1 for r in trace if r["node"] == "act" and r["tool"] == "measure_masking"),
                "invalid_calls": sum(1 for r in trace if r["tool"] == "invalid_call"), "raised_6db": raised,
                "errors": d.errors(state["gains_db"])})
    return result


def level_spread(levels: list[tuple[float, float]]) -> dict[str, float]:
    """The standard deviation of the levels a planner leaves the stems at against the anchor, the reference's, and
    their Pearson correlation (a planner that moves every stem alike has a small spread and no correlation)."""
    pairs = np.asarray(levels, dtype=float).reshape(-1, 2)
    pairs = pairs[np.isfinite(pairs).all(axis=1)]
    if len(pairs) < 2:
        return {}
    spread, reference = float(pairs[:, 1].std()), float(pairs[:, 0].std())
    found = {"spread_db": spread, "reference_spread_db": reference}
    if spread > 1e-9 and reference > 1e-9:  # levels all alike (a flat start left alone) correlate with nothing
        found["correlation"] = float(np.corrcoef(pairs.T)[0, 1])
    return found


def summarise(errors: list[float]) -> dict[str, float]:
    """MAE, median |e|, the share within 1/2/3 dB, and the bias: the median e_i, positive where a planner leaves
    stems louder than the reference (issue 28: hats placed too loud show as a bias, not only as an MAE)."""
    signed = np.asarray(errors, dtype=float)
    e = np.abs(signed)
    if not len(e):
        return {"n": 0}
    return {"n": int(len(e)), "mae_db": float(e.mean()), "median_db": float(np.median(e)),
            "within_1db": float((e <= 1).mean()), "within_2db": float((e <= 2).mean()),
            "within_3db": float((e <= 3).mean()), "bias_db": float(np.median(signed))}
