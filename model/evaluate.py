"""The AnchorBalance protocol and its baselines (DESIGN.md, "The task and its numbers").

For each session and draw, every stem (anchor included) is moved by
p_i ~ U(-12, +12) dB (seeded by seed, session and draw). A planner sees only the
moved stems and the anchor's name and returns gains g_i. The target is
t_i = -(p_i - p_a); the error per non-anchor active stem is
e_i = (g_i - g_a) - t_i. Every planner runs on the same draws.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

import numpy as np

from anchormix.agent import RulePlanner, build_graph
from anchormix.tools import ToolContext, load_session
from anchormix.tools.session import SESSION_FILE

from .corpus import MANIFEST, load_manifest

__all__ = ["PLANNERS", "conventions_table", "find_sessions", "run_protocol", "summarise", "Evaluation"]

PERTURB_DB = 12.0
CONVENTIONS_FILE = "conventions.json"

# A gain predictor: (context over the perturbed session) -> gain per stem, dB.
Predictor = Callable[[ToolContext], dict[str, float]]


def find_sessions(root: Path, split: str | None) -> list[tuple[Path, str]]:
    """(folder, split) of every session under ``root``; the manifest's split, else 'all' (no manifest)."""
    root = Path(root)
    if not root.is_dir():
        raise ValueError(f"{root}: not a folder of sessions")
    manifest = load_manifest(root)["sessions"] if (root / MANIFEST).exists() else {}
    found = []
    for folder in sorted(p for p in root.iterdir() if p.is_dir() and (p / SESSION_FILE).exists()):
        entry = manifest.get(folder.name)
        found.append((folder, entry["split"] if entry else "all"))
    if split and manifest:
        found = [(f, s) for f, s in found if s == split]
    elif split and split != "all" and not manifest:
        raise ValueError(f"{root}: no {MANIFEST}, so no splits; use --split all to evaluate every session")
    if not found:
        raise ValueError(f"{root}: no sessions (folders with a {SESSION_FILE}) in split '{split}'")
    return found


def conventions_table(root: Path, sessions: list[tuple[Path, str]] | None = None) -> dict[str, dict[str, float]]:
    """Per-role LU offset from the bass on the train split: {role: {mean, std, count}}."""
    offsets: dict[str, list[float]] = {}
    for folder, split in sessions if sessions is not None else find_sessions(root, "train"):
        if split not in ("train", "all"):
            continue
        meta = json.loads((folder / SESSION_FILE).read_text(encoding="utf-8"))
        roles, reference, anchor = meta.get("roles", {}), meta.get("reference_lu") or {}, meta.get("anchor")
        if not reference or roles.get(anchor) != "bass":
            continue
        for name, lu in reference.items():
            if name != anchor:
                offsets.setdefault(roles.get(name, "other"), []).append(float(lu))
    if not offsets:
        raise ValueError(f"{root}: no train-split sessions with a bass anchor and reference_lu to learn conventions from")
    table = {r: {"mean": float(np.mean(v)), "std": float(np.std(v)), "count": len(v)} for r, v in sorted(offsets.items())}
    table.setdefault("bass", {"mean": 0.0, "std": 0.0, "count": 0})
    return table


def _levels(ctx: ToolContext) -> dict[str, float]:
    return {n: ctx.lufs(n) for n in ctx.session.names}


def predict_none(ctx: ToolContext) -> dict[str, float]:
    return {n: 0.0 for n in ctx.session.names}


def predict_loudness(ctx: ToolContext) -> dict[str, float]:
    """Every stem to the anchor's integrated loudness."""
    levels = _levels(ctx)
    anchor = levels[ctx.session.anchor]
    return {n: (anchor - l if np.isfinite(l) else 0.0) for n, l in levels.items()}


def make_conventions(table: dict[str, dict[str, float]]) -> Predictor:
    fallback = float(np.mean([v["mean"] for v in table.values()]))

    def offset(role: str) -> float:
        return table[role]["mean"] if role in table else fallback

    def predict(ctx: ToolContext) -> dict[str, float]:
        levels, roles, anchor = _levels(ctx), ctx.session.roles, ctx.session.anchor
        ref = 0.0 if roles[anchor] == "bass" else offset(roles[anchor])
        return {n: ((offset(roles[n]) - ref) - (l - levels[anchor]) if np.isfinite(l) and n != anchor else 0.0)
                for n, l in levels.items()}

    return predict


def predict_rules(ctx: ToolContext, max_steps: int = 16) -> dict[str, float]:
    """The rule planner through the real agent loop (no outputs written)."""
    session = ctx.session
    graph = build_graph(RulePlanner(), ctx, max_steps)
    state = graph.invoke({"session_id": session.path.name, "anchor": session.anchor, "planner": "rules",
                          "gains_db": {n: 0.0 for n in session.names}, "iteration": 0, "step": 0,
                          "status": "running", "reasons": {}, "messages": [], "trace": []},
                         {"recursion_limit": 4 * max_steps + 20})
    return state["gains_db"]


def _balancer(checkpoint: Path | None):
    """The process's loaded model for ``checkpoint`` (the planner's cache: one load for every draw and planner)."""
    from .planner import DEFAULT_CHECKPOINT, shared_balancer

    return shared_balancer(checkpoint or DEFAULT_CHECKPOINT)


def make_alm(checkpoint: Path | None = None) -> Predictor:
    """The trained ALM's head, read as gains (one model load for every draw)."""
    return _balancer(checkpoint).gains


def make_alm_text(checkpoint: Path | None = None) -> Predictor:
    """The same model's moves as it writes them in its advice text (ablation: numbers as text, not the head)."""
    balancer = _balancer(checkpoint)
    return lambda ctx: balancer.text_gains(ctx)[0]


def make_alm_ablation(name: str, checkpoint: Path | None = None) -> Predictor:
    """The same weights with one part withheld: ``alm-listener`` (the listener alone, no LLM pass) or
    ``alm-nogenre`` (the prompt and the listener told "unknown" instead of the session's genre)."""
    balancer = _balancer(checkpoint)
    if name == "alm-listener":
        if balancer.alm.listener is None:
            raise ValueError("--planner alm-listener: the checkpoint has no listener")
        return lambda ctx: balancer.gains(ctx, listener_only=True)
    if name == "alm-nogenre":
        return lambda ctx: balancer.gains(ctx, genre="unknown")
    raise ValueError(f"unknown ALM ablation '{name}'")


PLANNERS = ("none", "loudness", "conventions", "rules", "alm", "alm-text", "alm-listener", "alm-nogenre")


AGENT_PLANNERS = ("rules", "alm")


@dataclass
class AgentEvaluation:
    """Agent-level numbers per planner: one record per (session, draw) run of the whole loop."""

    runs: dict[str, list[dict]] = field(default_factory=dict)  # planner -> [{iterations, converged, ...}]

    def summary(self, planner: str) -> dict[str, float]:
        runs = self.runs.get(planner, [])
        errors = [e for r in runs for e in r["errors"]]
        return {**summarise(errors), "runs": len(runs),
                "converged": float(np.mean([r["converged"] for r in runs])) if runs else 0.0,
                "iterations": float(np.mean([r["iterations"] for r in runs])) if runs else 0.0,
                "tool_calls": float(np.mean([r["tool_calls"] for r in runs])) if runs else 0.0,
                "masking_checks": float(np.mean([r.get("masking_checks", 0) for r in runs])) if runs else 0.0,
                "invalid_calls": int(sum(r["invalid_calls"] for r in runs))}


def make_agent_planner(name: str, checkpoint: Path | None = None) -> Callable[[ToolContext], object]:
    """A factory of fresh planners over a context (the ALM's weights are loaded once and shared)."""
    if name == "rules":
        return lambda ctx: RulePlanner()
    if name == "alm":
        from .planner import ALMPlanner

        balancer = _balancer(checkpoint)
        return lambda ctx: ALMPlanner(ctx, balancer=balancer)
    raise ValueError(f"--agent --planner: unknown '{name}'; choose from {', '.join(AGENT_PLANNERS)}")


def run_agent_protocol(sessions: list[tuple[Path, str]], planners: dict[str, Callable[[ToolContext], object]],
                       draws: int, seed: int, max_steps: int = 16,
                       on_session: Callable[[Path], None] | None = None) -> AgentEvaluation:
    """The AnchorBalance draws, each balanced by the whole agent loop (listen, plan, act ... finish)."""
    result = AgentEvaluation()
    for folder, _ in sessions:
        session = load_session(folder)
        base = ToolContext(session)
        base.base_lufs, base.base_true_peak, base.base_bands
        for draw in range(draws):
            rng = _draw_rng(seed, folder.name, draw)
            perturb = {n: float(rng.uniform(-PERTURB_DB, PERTURB_DB)) for n in session.names}
            a = session.anchor
            scored = [n for n in session.names if n != a and session.active[n]]
            for name, factory in planners.items():
                ctx = base.shifted(perturb)
                graph = build_graph(factory(ctx), ctx, max_steps)
                state = graph.invoke({"session_id": folder.name, "anchor": a, "planner": name,
                                      "gains_db": {n: 0.0 for n in session.names}, "iteration": 0, "step": 0,
                                      "status": "running", "reasons": {}, "messages": [], "trace": []},
                                     {"recursion_limit": 4 * max_steps + 20})
                gains = state["gains_db"]
                trace = state["trace"]
                result.runs.setdefault(name, []).append({
                    "session": folder.name, "draw": draw, "status": state.get("status"),
                    "converged": bool(state.get("converged")), "iterations": state.get("iteration", 0),
                    "tool_calls": sum(1 for r in trace if r["node"] == "act"),
                    "masking_checks": sum(1 for r in trace if r["node"] == "act" and r["tool"] == "measure_masking"),
                    "invalid_calls": sum(1 for r in trace if r["tool"] == "invalid_call"),
                    "errors": [(gains[n] - gains[a]) + (perturb[n] - perturb[a]) for n in scored]})
        if on_session:
            on_session(folder)
    return result


@dataclass
class Evaluation:
    planners: list[str]
    errors: dict[str, list[float]] = field(default_factory=dict)  # planner -> every e_i
    by_role: dict[str, dict[str, list[float]]] = field(default_factory=dict)  # planner -> role -> e_i
    by_genre: dict[str, dict[str, list[float]]] = field(default_factory=dict)
    sessions: int = 0
    draws: int = 0


def _draw_rng(seed: int, session_id: str, draw: int) -> np.random.Generator:
    key = int(hashlib.sha1(session_id.encode()).hexdigest()[:8], 16)
    return np.random.default_rng([seed, key, draw])


def run_protocol(sessions: list[tuple[Path, str]], planners: dict[str, Predictor], draws: int, seed: int,
                 on_session: Callable[[Path], None] | None = None) -> Evaluation:
    result = Evaluation(list(planners))
    for folder, _ in sessions:
        session = load_session(folder)
        base = ToolContext(session)
        base.base_lufs, base.base_true_peak, base.base_bands  # measure once; draws shift these exactly
        result.sessions += 1
        for draw in range(draws):
            rng = _draw_rng(seed, folder.name, draw)
            perturb = {n: float(rng.uniform(-PERTURB_DB, PERTURB_DB)) for n in session.names}
            a = session.anchor
            targets = {n: -(perturb[n] - perturb[a]) for n in session.names}
            scored = [n for n in session.names if n != a and session.active[n]]
            for name, predict in planners.items():
                gains = predict(base.shifted(perturb))
                for n in scored:
                    e = (gains.get(n, 0.0) - gains.get(a, 0.0)) - targets[n]
                    result.errors.setdefault(name, []).append(e)
                    result.by_role.setdefault(name, {}).setdefault(session.roles[n], []).append(e)
                    result.by_genre.setdefault(name, {}).setdefault(session.genre, []).append(e)
            result.draws += 1
        if on_session:
            on_session(folder)
    return result


def summarise(errors: list[float]) -> dict[str, float]:
    """MAE, median |e| and the share within 1/2/3 dB."""
    e = np.abs(np.asarray(errors, dtype=float))
    if not len(e):
        return {"n": 0}
    return {"n": int(len(e)), "mae_db": float(e.mean()), "median_db": float(np.median(e)),
            "within_1db": float((e <= 1).mean()), "within_2db": float((e <= 2).mean()),
            "within_3db": float((e <= 3).mean())}
