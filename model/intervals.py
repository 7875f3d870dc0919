"""How sure the model is: an 80 % interval around each move, fitted on songs it was not trained on, and whether a
move leaves what the corpus has ever seen.

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

The ranges (``ranges.json`` beside the checkpoint, from ``anchormix data stats --sessions corpus modules --ranges
FILE``) are each role's lowest and highest level against a bass anchor in the training songs; a target outside
them, by more than :data:`RANGE_MARGIN_DB`, is flagged ("check it by ear") and the chat asks before applying it.
"""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np

from anchormix.tools.audio import write_text_atomic

__all__ = ["COVERAGE", "MIN_ERRORS", "RANGE_MARGIN_DB", "fit_intervals", "write_intervals", "load_table",
           "half_width", "coverage", "coverage_by_role", "outside_range"]

COVERAGE = 0.8
MIN_ERRORS = 20  # a role with fewer validation errors than this takes the pooled half-width
RANGE_MARGIN_DB = 1.0  # a target this far beyond the corpus's range for its role is flagged


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


def load_table(path: Path) -> dict | None:
    """The JSON table at ``path`` (intervals or ranges), or None when there is none (an older checkpoint)."""
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


def coverage_by_role(intervals: dict, by_role: dict[str, list[float]]) -> dict[str, tuple[float, int]]:
    """{role: (share inside, n)} for every role with errors, and "all" pooled."""
    shares = {role: (coverage(intervals, {role: e}), len(e)) for role, e in by_role.items() if e}
    return {**shares, "all": (coverage(intervals, by_role), sum(len(e) for e in by_role.values()))}


def outside_range(ranges: dict | None, role: str, anchor_role: str, target_lu: float) -> str | None:
    """Why a target ``target_lu`` (LU against the anchor) is unlike anything the corpus has for ``role``, or None
    (also when the anchor is not a bass, the only anchor the ranges are measured against, or the role is unknown)."""
    row = (ranges or {}).get("roles", {}).get(role)
    if row is None or anchor_role != "bass" or role in ("other", "bass"):
        return None
    if row["min"] - RANGE_MARGIN_DB <= target_lu <= row["max"] + RANGE_MARGIN_DB:
        return None
    return (f"{target_lu:+.1f} LU is outside what the corpus has for a {role} against the bass "
            f"({row['min']:+.1f} to {row['max']:+.1f} LU over {row['count']} stems): check it by ear")
