"""The planner registry: every planner's name, how to make it, the default, and the check of a name.

Two kinds of name, one list each:

- :data:`LOOP_PLANNERS` run the agent loop (``balance``, ``demo``, ``chat``, ``eval --agent``): ``rules``, ``peaks``,
  ``alm``.
- :data:`PREDICTORS` are read one-shot by ``eval``: the baselines (``none``, ``loudness``, ``constant``,
  ``conventions``, ``rules``), the peak planner (``peaks``; ``peaks-fitted``: its two numbers fitted on the train
  split evaluated beside it, or with ``--folds`` on the other folds), the ALM's head (``alm``) and its ablations on the same weights (``alm-text``: the numbers as its LM
  writes them; ``alm-listener``: the listener alone, no LLM; ``alm-nogenre``: the genre withheld).

Errors name the value, not a flag; the command line adds which flag it came from.
"""

from __future__ import annotations

from pathlib import Path
from typing import Callable

from anchormix.agent import PeakPlanner, Planner, RulePlanner
from anchormix.model.corpus import find_sessions
from anchormix.model.evaluation.baselines import (Predictor, conventions_table, load_conventions, make_constant,
                                                  make_conventions, predict_by, predict_loudness, predict_none)
from anchormix.model.evaluation.peak_fit import RowsCache, fitted_peak_planner
from anchormix.model.shipped import DEFAULT_CHECKPOINT

__all__ = ["DEFAULT_PLANNER", "LOOP_PLANNERS", "PREDICTORS", "LEARNT", "check_planner", "make_planner",
           "planner_factory", "make_predictor", "make_learnt"]

# The planner of balance, demo and chat when none is named: whichever wins on the LMMS valid producers from a flat
# start against the bass (issue 28; until then the module test split, issue 15). The peak planner does: 5.38 dB
# against the rules' 5.65, the shipped ALM's 6.52 and the constant's 6.73 (README, "Modern productions"), and on all
# 12 LMMS songs with each producer left out (6.03 against 6.69 and 6.73: "Twelve songs, each producer left out");
# it needs no model. `--planner alm` is the ALM.
DEFAULT_PLANNER = "peaks"
LOOP_PLANNERS = ("rules", "peaks", "alm")
PREDICTORS = ("none", "loudness", "constant", "conventions", "rules", "peaks", "peaks-fitted", "alm", "alm-text",
              "alm-listener", "alm-nogenre")
# The predictors that learn from the sessions they are given (``eval --folds``: from each fold's other groups).
LEARNT = ("constant", "conventions", "peaks-fitted")


def check_planner(name: str, choices: tuple[str, ...] = LOOP_PLANNERS, checkpoint: Path | None = None) -> str:
    """``name`` if it is one of ``choices`` and can be made here (the ALM needs its checkpoint); else ValueError."""
    if name not in choices:
        raise ValueError(f"unknown planner '{name}'; choose from {', '.join(choices)}")
    path = checkpoint or DEFAULT_CHECKPOINT
    if name.startswith("alm") and not Path(path).exists():
        raise ValueError(f"planner '{name}' needs a trained checkpoint; none at {path}")
    return name


def _balancer(checkpoint: Path | None):
    """The process's loaded ALM for ``checkpoint`` (one load for every session, draw and planner)."""
    from anchormix.model.alm.planner import shared_balancer  # lazy: loads torch and the LLM only when an ALM is asked for

    return shared_balancer(checkpoint or DEFAULT_CHECKPOINT)


def make_planner(name: str, genre: str | None = None, checkpoint: Path | None = None, writes: bool = True) -> Planner:
    """The loop planner called ``name`` following ``genre`` (None: the session's); ``writes``: the ALM's advice
    writer writes a sentence per move at the end (the rule planner's advice is its reasons)."""
    check_planner(name, LOOP_PLANNERS, checkpoint)
    if name == "alm":
        from anchormix.model.alm.planner import ALMPlanner  # lazy: as in _balancer

        return ALMPlanner(_balancer(checkpoint), genre=genre, writes=writes)
    return PeakPlanner(genre=genre) if name == "peaks" else RulePlanner(genre=genre)


def planner_factory(name: str, checkpoint: Path | None = None, writes: bool = True) -> Callable[[str | None], Planner]:
    """genre -> a fresh planner called ``name`` (what the conversation and the agent eval take); checks ``name`` now."""
    check_planner(name, LOOP_PLANNERS, checkpoint)
    return lambda genre=None: make_planner(name, genre, checkpoint, writes)


def make_learnt(name: str, sessions_root: Path, train: list[tuple[Path, str]], anchor_role: str | None = None,
                on_fit: Callable[[PeakPlanner], None] | None = None, cache: RowsCache | None = None) -> Predictor:
    """The predictor ``name`` (one of :data:`LEARNT`) learnt from the sessions ``train`` of ``sessions_root`` alone
    (``peaks-fitted`` against ``anchor_role``'s loudest stem when one is named, as it will be scored; ``on_fit``
    is shown the planner fitted, its weight and offset; ``cache``: the sessions' measurements kept for the next
    fold)."""
    if name == "peaks-fitted":
        planner = fitted_peak_planner(train, anchor_role, cache)
        if on_fit:
            on_fit(planner)
        return predict_by(planner)
    table = conventions_table(sessions_root, train)
    return make_constant(table) if name == "constant" else make_conventions(table)


def make_predictor(name: str, sessions_root: Path, conventions: Path | None = None,
                   checkpoint: Path | None = None, anchor_role: str | None = None,
                   on_fit: Callable[[PeakPlanner], None] | None = None) -> Predictor:
    """The one-shot predictor called ``name`` (``conventions`` learns from ``sessions_root`` unless given a table;
    ``peaks-fitted`` fits on its train split, shown to ``on_fit``)."""
    check_planner(name, PREDICTORS, checkpoint)
    if name == "peaks-fitted":
        return make_learnt(name, sessions_root, find_sessions(sessions_root, "train"), anchor_role, on_fit)
    if name == "none":
        return predict_none
    if name == "loudness":
        return predict_loudness
    if name in ("rules", "peaks"):
        return predict_by(PeakPlanner() if name == "peaks" else RulePlanner())
    if name == "conventions":
        return make_conventions(load_conventions(sessions_root, conventions))
    if name == "constant":
        return make_constant(load_conventions(sessions_root, conventions))
    balancer = _balancer(checkpoint)
    if name == "alm-text":
        return lambda ctx: balancer.text_gains(ctx)[0]
    if name == "alm-listener":
        if balancer.alm.listener is None:
            raise ValueError(f"planner 'alm-listener': the checkpoint {checkpoint or DEFAULT_CHECKPOINT} has no listener")
        return lambda ctx: balancer.gains(ctx, listener_only=True)
    if name == "alm-nogenre":
        return lambda ctx: balancer.gains(ctx, genre="unknown")
    return balancer.gains
