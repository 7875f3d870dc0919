"""How sure the model is: an 80 % interval around each move, fitted on songs it was not trained on.

Split-conformal, per role: on the validation split, the model's absolute errors
(where it put a stem against the anchor minus where the composer had it) are
collected per role; the interval's half-width is their conformal 80 % quantile
(the ceil((n + 1) 0.8)-th smallest), so on exchangeable songs about 80 % of
targets fall inside. A role with fewer than :data:`MIN_ERRORS` errors takes the
pooled quantile. ``anchormix eval --fit-intervals FILE`` writes them from a
split; ``anchormix eval`` reports the share of targets inside on another split
(the calibration check: 70-90 % is honest).

    anchormix eval --sessions modules --split valid --protocol both --planner alm \
        --fit-intervals model/checkpoints/alm/intervals.json
"""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np

from anchormix.tools.audio import write_text_atomic

__all__ = ["COVERAGE", "MIN_ERRORS", "fit_intervals", "write_intervals", "load_intervals", "half_width", "coverage"]

COVERAGE = 0.8
MIN_ERRORS = 20  # a role with fewer validation errors than this takes the pooled half-width


def _conformal_quantile(errors: list[float], level: float) -> float:
    e = np.sort(np.abs(np.asarray(errors, dtype=float)))
    k = min(len(e), math.ceil((len(e) + 1) * level))
    return float(e[k - 1])


def fit_intervals(by_role: dict[str, list[float]], level: float = COVERAGE) -> dict:
    """{"coverage", "pooled", "roles": {role: half-width dB}, "errors": {role: n}} from signed or absolute errors."""
    pooled = [e for errors in by_role.values() for e in errors]
    if not pooled:
        raise ValueError("no errors to fit intervals on")
    return {"coverage": level, "pooled": round(_conformal_quantile(pooled, level), 2),
            "roles": {r: round(_conformal_quantile(e, level), 2) for r, e in sorted(by_role.items())
                      if len(e) >= MIN_ERRORS},
            "errors": {r: len(e) for r, e in sorted(by_role.items())}}


def write_intervals(path: Path, intervals: dict, fitted_on: str) -> Path:
    return write_text_atomic(Path(path), json.dumps({**intervals, "fitted_on": fitted_on}, indent=2) + "\n")


def load_intervals(path: Path) -> dict | None:
    """The intervals at ``path``, or None when there are none (an older checkpoint)."""
    path = Path(path)
    if not path.exists():
        return None
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except json.JSONDecodeError as err:
        raise ValueError(f"{path}: not valid JSON ({err})") from None


def half_width(intervals: dict, role: str) -> float:
    """The 80 % interval's half-width (dB) for a stem of ``role``."""
    return float(intervals["roles"].get(role, intervals["pooled"]))


def coverage(intervals: dict, by_role: dict[str, list[float]]) -> float:
    """The share of errors inside their role's interval (the calibration check)."""
    inside = [abs(e) <= half_width(intervals, role) for role, errors in by_role.items() for e in errors]
    return float(np.mean(inside)) if inside else float("nan")
