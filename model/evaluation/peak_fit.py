"""The peak planner's two numbers, fitted on the train splits (tools/conventions.py: PEAK_WEIGHT, PEAK_OFFSET_DB).

Each train-split stem against its session's anchor gives its level t (LU), the rule table's offset for its role r,
and the level c that puts its true peak where the anchor's is (the anchor's crest factor less its own). The peak
planner's target is w (c + k) + (1 - w) r. For each weight w on a grid the offset k with the least absolute error
is a median (w k = median(t - w c - (1 - w) r)); the fit keeps the weight with the least mean absolute error.
The measurements are the tools' own (integrated loudness, true peak), so the fit and the planner agree. Against
another anchor role (the kick) each session is anchored on its loudest stem of that role, and the offset is fitted
again at the same weight: a kick's peaks stand further above its loudness than a bass's.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from anchormix.agent import PeakPlanner, RulePlanner
from anchormix.tools import Measurements, load_session
from anchormix.tools.anchor_choice import loudest_of_role

from anchormix.model.corpus import find_sessions

__all__ = ["PeakRows", "PeakFit", "RowsCache", "peak_rows", "session_peak_rows", "fit_peak_rule", "fitted_peak_planner", "WEIGHTS"]

_BY_ROLE = RulePlanner()  # the role part of the peak planner's target: the rule table, no genre
WEIGHTS = tuple(round(w, 2) for w in np.arange(0.05, 1.0001, 0.05))


@dataclass
class PeakRows:
    """Per train-split stem: its level against the anchor, the peak-aligned level, the role table's offset."""

    level: list[float]
    by_peak: list[float]
    by_role: list[float]
    sessions: int = 0


@dataclass(frozen=True)
class PeakFit:
    weight: float
    offset_db: float
    mae_db: float
    stems: int


def peak_rows(roots: list[Path], split: str = "train", on_session=None,
              anchor_roles: tuple[str | None, ...] = (None,)) -> dict[str | None, PeakRows]:
    """Measure every ``split`` session of the corpora ``roots`` once (each stem's loudness and true peak) and take
    its stems against each of ``anchor_roles``: None, the session's anchor; a role, its loudest stem of that role
    (a session without one is left out of that role's rows)."""
    sessions = [found for root in roots for found in find_sessions(Path(root), split)]
    return session_peak_rows(sessions, on_session, anchor_roles)


# (session folder, anchor role) -> that session's rows alone: each song measured once across folds and protocols
RowsCache = dict[tuple[Path, str | None], PeakRows]


def session_peak_rows(sessions: list[tuple[Path, str]], on_session=None,
                      anchor_roles: tuple[str | None, ...] = (None,),
                      cache: RowsCache | None = None) -> dict[str | None, PeakRows]:
    """:func:`peak_rows` of the sessions named (whatever their split): one leave-one-out fold's train songs; a
    ``cache`` keeps each session's rows, so a song in the train songs of five folds is measured once."""
    cache = {} if cache is None else cache
    found = {role: PeakRows([], [], []) for role in anchor_roles}
    for folder, _ in sessions:
        if any((folder, role) not in cache for role in anchor_roles):
            measured = Measurements(load_session(folder)).measure_all()
            for role in anchor_roles:
                _add_rows(cache.setdefault((folder, role), PeakRows([], [], [])), measured, role)
        for role, rows in found.items():
            own = cache[(folder, role)]
            rows.level += own.level
            rows.by_peak += own.by_peak
            rows.by_role += own.by_role
            rows.sessions += own.sessions
        if on_session:
            on_session(folder)
    return found


def _add_rows(rows: PeakRows, measured: Measurements, anchor_role: str | None) -> None:
    session, lufs, peak = measured.session, measured.lufs, measured.true_peak
    a = loudest_of_role(session.names, session.roles, lufs, anchor_role) if anchor_role else session.anchor
    if a is None or not np.isfinite(lufs[a]):
        return
    for n in session.names:
        if n != a and session.active[n] and np.isfinite(lufs[n]):
            rows.level.append(lufs[n] - lufs[a])
            rows.by_peak.append((peak[a] - lufs[a]) - (peak[n] - lufs[n]))
            rows.by_role.append(_BY_ROLE.target_lu(session.roles[n], session.roles[a]))
    rows.sessions += 1


def fit_peak_rule(rows: PeakRows, weights: tuple[float, ...] = WEIGHTS) -> list[PeakFit]:
    """Every weight's best offset and its mean absolute error, the best first."""
    level, by_peak, by_role = (np.asarray(v, dtype=float) for v in (rows.level, rows.by_peak, rows.by_role))
    if not len(level):
        raise ValueError("no stems to fit the peak rule on (no active stem in any train-split session)")
    fits = []
    for w in weights:
        rest = level - w * by_peak - (1.0 - w) * by_role
        shift = float(np.median(rest))  # = w k
        fits.append(PeakFit(float(w), shift / w, float(np.abs(rest - shift).mean()), len(level)))
    return sorted(fits, key=lambda f: f.mae_db)


def fitted_peak_planner(sessions: list[tuple[Path, str]], anchor_role: str | None = None,
                        cache: RowsCache | None = None) -> PeakPlanner:
    """The peak planner with the weight and offset that fit ``sessions`` best (``data peaks``'s fit, here of any
    sessions: the producers' songs alone, say); against ``anchor_role`` (the kick), the offset fitted again at that
    weight with each song anchored on its loudest stem of the role, as ``data peaks`` does."""
    found = session_peak_rows(sessions, anchor_roles=(None, anchor_role) if anchor_role else (None,), cache=cache)
    best = fit_peak_rule(found[None])[0]
    if anchor_role:
        best = fit_peak_rule(found[anchor_role], (best.weight,))[0]
    return PeakPlanner(weight=best.weight, offset_db=best.offset_db)
