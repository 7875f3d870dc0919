"""Planning trajectories from an oracle that knows the reference balance.

The planner's loop is: listen (measure every stem at the current gains), choose
a tool call, act, listen again. The oracle plays the same loop from the corpus's
reference balance. In each state it proposes the moves that would put every
stem back at its reference, blurred by noise the size of the head's error (the
model at run time reads its own head's proposal, which is never exact), and
chooses the call from that proposal:

- every proposed move under 0.5 dB -> ``finish``;
- before anything has been applied, a stem it would raise by 6 dB or more
  (the one furthest under) -> ``measure_masking`` on it, once: a stem that far
  down is the one worth asking "what buries it?" before moving it;
- otherwise -> ``apply_gains``; the amounts come from the gain head, not the
  text (the ablation showed numbers written as text are far worse).

A *plan draw* is one state of such a trajectory, taken at random: the start
(levels perturbed by up to +-12 dB, as in the balance draws), the state after
the masking check, the state after one to three imperfect applies (each stem
left a random residual of 0.15 to 4 dB from its reference), or a settled state
(residuals of 0.02 to 0.25 dB, little blur: mostly "finish", which is otherwise
too rare to learn). The model
sees the state as the planner does at run time (levels, audio at those levels,
the calls made so far, the proposal) and learns the oracle's call as JSON text,
while its head learns the true residual moves in the same pass.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, replace

import numpy as np

from anchormix.agent.planners import CONVERGENCE_DB

from .alm import StemPrompt, proposal_text
from .data import CorpusSession, Draw, make_draw
from .features import shift_mel

__all__ = ["MASKING_DB", "PlanDraw", "call_text", "history_entry", "oracle_call", "make_plan_draw", "read_call"]

MASKING_DB = 6.0  # a stem this far under its reference is buried: worth a masking check before it moves
STAGES = ("start", "after_masking", "after_apply", "settled")
STAGE_WEIGHTS = (0.3, 0.15, 0.35, 0.2)
PROPOSAL_NOISE_DB = 2.0  # the proposals' noise: 0 .. this (dB, per trajectory)


@dataclass
class PlanDraw:
    draw: Draw  # the state: stems at their current levels (mel and measured LU), targets as in balance draws
    history: list[str]  # the calls made so far, as the prompt lists them
    proposal: str  # the proposed moves, as the prompt quotes them (model.alm.proposal_text)
    call: str  # the oracle's next call, JSON text


def call_text(tool: str, stem_index: int | None = None) -> str:
    """The model's tool call as JSON text; stems are named by their prompt index ("stem 3")."""
    body: dict = {"tool": tool}
    if stem_index is not None:
        body["arguments"] = {"target": f"stem {stem_index}"}
    return json.dumps(body)


def history_entry(tool: str, stem_index: int | None = None) -> str:
    """How a call made earlier appears in the prompt's "Calls so far" line."""
    return tool if stem_index is None else f"{tool} stem {stem_index}"


def read_call(text: str) -> tuple[str, int | None]:
    """``(tool, stem index or None)`` from the model's JSON text; raises ValueError when it is not one."""
    data = json.loads(text)
    if not isinstance(data, dict) or not isinstance(data.get("tool"), str):
        raise ValueError("not a tool call object")
    target = (data.get("arguments") or {}).get("target")
    if target is None:
        return data["tool"], None
    if not isinstance(target, str) or not target.startswith("stem ") or not target[5:].isdigit():
        raise ValueError(f"target {target!r} is not 'stem N'")
    return data["tool"], int(target[5:])


def oracle_call(stems: list[StemPrompt], moves_db: np.ndarray, history: list[str]) -> str:
    """The oracle's next call, given the proposed moves (dB per stem, the anchor's ignored) after ``history``."""
    moves = np.array([0.0 if s.is_anchor else float(m) for s, m in zip(stems, moves_db)])
    if np.abs(moves).max() < CONVERGENCE_DB:
        return call_text("finish")
    if not history:  # nothing checked or applied yet
        under = int(np.argmax(moves))
        if moves[under] >= MASKING_DB:
            return call_text("measure_masking", stems[under].index)
    return call_text("apply_gains")


def _with_residual(draw: Draw, residual: np.ndarray) -> Draw:
    """The same stems moved so that each sits ``residual`` dB from its reference (the anchor stays put)."""
    residual = residual.astype(np.float32).copy()
    residual[draw.anchor] = 0.0
    measured = draw.target_lu + residual
    shift = measured - draw.measured_lu  # dB each stem moves; a gain moves its log-mel by exactly that
    stems = [replace(s, lu_vs_anchor=float(m)) for s, m in zip(draw.stems, measured)]
    return replace(draw, stems=stems, mel=shift_mel(draw.mel, shift), measured_lu=measured.astype(np.float32))


def make_plan_draw(session: CorpusSession, rng: np.random.Generator, frames: int, max_stems: int = 12,
                   unhelpful_share: float = 0.2) -> PlanDraw:
    """One state of an oracle trajectory on ``session`` (see the module doc)."""
    draw = make_draw(session, rng, frames, max_stems, unhelpful_share)
    stage = STAGES[int(rng.choice(len(STAGES), p=STAGE_WEIGHTS))]
    blur = float(rng.uniform(0.0, PROPOSAL_NOISE_DB))  # this trajectory's head error

    def propose(state: Draw) -> np.ndarray:
        return np.round(state.target_lu - state.measured_lu + rng.normal(0.0, blur, size=len(state.stems)), 1)

    moves = propose(draw)
    history: list[str] = []
    first = oracle_call(draw.stems, moves, [])
    if first.startswith('{"tool": "measure_masking"') and stage != "start":
        tool, index = read_call(first)
        history.append(history_entry(tool, index))
    if stage in ("after_apply", "settled"):
        low, high = (0.15, 4.0) if stage == "after_apply" else (0.02, 0.25)
        sigma = float(np.exp(rng.uniform(np.log(low), np.log(high))))
        draw = _with_residual(draw, rng.normal(0.0, sigma, size=len(draw.stems)))
        history += [history_entry("apply_gains")] * int(rng.integers(1, 4))
        if stage == "settled":  # the head is right about a stem that is in place: little blur
            blur = min(blur, 0.15)
        moves = propose(draw)
    return PlanDraw(draw, history, proposal_text(draw.stems, moves), oracle_call(draw.stems, moves, history))
