"""The baselines every evaluation prints beside the model (docs/architecture.md): none, loudness, constant,
conventions, rules (and the peak planner, through the same loop).

Each is a *predictor*: the tool context over a perturbed session in, the gain per
stem (dB) out. ``constant`` puts every stem at the training split's mean offset
from the anchor, whatever the stem (the bar a model must clear before it has
learnt anything about the music, issue 28); ``conventions`` learns each role's
mean offset from the bass on the training split; ``rules`` and ``peaks`` run their
planner through the real agent loop.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Callable

import numpy as np

from anchormix.agent import Planner, run_balance, start_state
from anchormix.tools import ToolContext
from anchormix.tools.session import SESSION_FILE

from anchormix.model.corpus import find_sessions

__all__ = ["Predictor", "CONVENTIONS_FILE", "conventions_table", "load_conventions", "predict_none", "predict_loudness",
           "mean_offset", "make_constant", "make_conventions", "predict_by"]

CONVENTIONS_FILE = "conventions.json"

# A gain predictor: (context over the perturbed session) -> gain per stem, dB.
Predictor = Callable[[ToolContext], dict[str, float]]


def conventions_table(root: Path, sessions: list[tuple[Path, str]] | None = None) -> dict[str, dict[str, float]]:
    """Per-role LU offset from the bass on the train split: {role: {mean, std, count, min, max}}."""
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
    table = {r: {"mean": float(np.mean(v)), "std": float(np.std(v)), "count": len(v), "min": float(np.min(v)),
                 "max": float(np.max(v))} for r, v in sorted(offsets.items())}
    table.setdefault("bass", {"mean": 0.0, "std": 0.0, "count": 0, "min": 0.0, "max": 0.0})
    return table


def load_conventions(sessions_root: Path, path: Path | None = None) -> dict[str, dict[str, float]]:
    """The conventions table: ``path``, else ``sessions_root/conventions.json``, else learnt from the train split."""
    candidate = path or Path(sessions_root) / CONVENTIONS_FILE
    if candidate.exists():
        return json.loads(candidate.read_text(encoding="utf-8"))
    if path is not None:
        raise ValueError(f"{path}: no such conventions table")
    return conventions_table(sessions_root)


def _levels(ctx: ToolContext) -> dict[str, float]:
    return {n: ctx.lufs(n) for n in ctx.session.names}


def predict_none(ctx: ToolContext) -> dict[str, float]:
    return {n: 0.0 for n in ctx.session.names}


def predict_loudness(ctx: ToolContext) -> dict[str, float]:
    """Every stem to the anchor's integrated loudness."""
    levels = _levels(ctx)
    anchor = levels[ctx.session.anchor]
    return {n: (anchor - l if np.isfinite(l) else 0.0) for n, l in levels.items()}


def mean_offset(table: dict[str, dict[str, float]]) -> float:
    """The training split's mean offset of a stem from the bass, LU: every non-bass stem counted once."""
    counted = [(v["mean"], v["count"]) for role, v in table.items() if role != "bass" and v["count"]]
    return float(np.average([m for m, _ in counted], weights=[c for _, c in counted]))


def make_constant(table: dict[str, dict[str, float]]) -> Predictor:
    """Every stem at the training split's mean offset from the anchor, whatever it is (``mean_offset`` against a
    bass; against another anchor, that less the anchor's role's mean offset from the bass)."""
    constant = mean_offset(table)

    def predict(ctx: ToolContext) -> dict[str, float]:
        levels, roles, anchor = _levels(ctx), ctx.session.roles, ctx.session.anchor
        ref = 0.0 if roles[anchor] == "bass" else table.get(roles[anchor], {"mean": constant})["mean"]
        return {n: ((constant - ref) - (l - levels[anchor]) if np.isfinite(l) and n != anchor else 0.0)
                for n, l in levels.items()}

    return predict


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


def predict_by(planner: Planner) -> Predictor:
    """A planner that needs no model (the rules, the peaks) through the real agent loop (no outputs written)."""

    def predict(ctx: ToolContext) -> dict[str, float]:
        session = ctx.session
        start = start_state(session.path.name, session.anchor, planner.name, {n: 0.0 for n in session.names})
        return run_balance(planner, ctx, start)["gains_db"]

    return predict
