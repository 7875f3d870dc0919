"""Training draws for the ALM, generated on the fly from a corpus's cached features.

A *balance draw* takes one train-split session, picks an anchor (bass most often;
also kick, drums, vocals/lead, keys when present), a subset of 2..max_stems stems,
a window of the song where the anchor plays (those stems that rest there are left
out), and perturbs every stem by p_i ~ U(-12, +12) dB (or, in a share of draws,
starts them flat: every stem at the anchor's loudness, as the flat-start protocol
does). What the model sees: each stem's log-mel shifted by p_i (exact: a gain
moves log power by its dB; silence stays at the floor, see features.shift_mel),
its role (replaced by "other" in a share of draws, as an unhelpful name would
be), its measured LU against the anchor, and the session's genre ("unknown" in a
share of draws). What it must predict: the stem's reference LU against that
anchor. Nothing re-decodes audio. Which session a draw comes from is the
:class:`SessionSampler`'s choice: a source (module, MIDI, procedural) by the
config's weights, then one of its sessions.

A *plan draw* is one state of a planning trajectory played by an oracle that knows
the reference balance. The planner's loop is: listen, choose a tool call, act,
listen again. In each state the oracle proposes the moves that would put every
stem back at its reference, blurred by noise the size of the head's error (the
model at run time reads its own head's proposal, which is never exact), and
chooses the call from that proposal:

- every proposed move under 0.5 dB -> ``finish``;
- before anything has been applied, a stem it would raise by 6 dB or more
  (the one furthest under) -> ``measure_masking`` on it, once: a stem that far
  down is the one worth asking "what buries it?" before moving it;
- otherwise -> ``apply_gains``; the amounts come from the gain head, not the
  text (the ablation showed numbers written as text are far worse).

The state is taken at random: the start (levels perturbed as in the balance
draws), after the masking check, after one to three imperfect applies (each
stem left a random residual of 0.15 to 4 dB from its reference), or settled
(residuals of 0.02 to 0.25 dB, little blur: mostly "finish", which is otherwise
too rare to learn). The model sees the state as the planner does at run time
(levels, audio at those levels, the calls so far, the proposal) and learns the
oracle's call as JSON text, while its head learns the true residual moves.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

import numpy as np

from anchormix.agent.planning import CONVERGENCE_DB

from .features import FLOOR_DB, CorpusSession, shift_mel
from .prompt import StemPrompt, call_text, history_entry, proposal_text, read_call

__all__ = ["PERTURB_DB", "Draw", "make_draw", "SessionSampler", "MASKING_DB", "PlanDraw", "oracle_call",
           "make_plan_draw"]

ANCHOR_ROLES = {"bass": 0.5, "kick": 0.15, "drums": 0.1, "vocals": 0.1, "lead": 0.05, "keys": 0.1}
PERTURB_DB = 12.0  # every stem moves by U(-PERTURB_DB, +PERTURB_DB) dB (docs/architecture.md, AnchorBalance)
GENRE_DROP = 0.3  # share of draws whose genre reads "unknown", as a session nobody labelled would
MASKING_DB = 6.0  # a stem this far under its reference is buried: worth a masking check before it moves
STAGES = ("start", "after_masking", "after_apply", "settled")
STAGE_WEIGHTS = (0.3, 0.15, 0.35, 0.2)
PROPOSAL_NOISE_DB = 2.0  # the proposals' noise: 0 .. this (dB, per trajectory)
WINDOW_TRIES = 4  # random window starts tried per draw (the one where most chosen stems play wins)
AUDIBLE_DB = -80.0  # a stem whose loudest log-mel bin in a window is under this rests there


@dataclass
class Draw:
    session: str
    stems: list[StemPrompt]
    mel: np.ndarray  # (S', n_mels, frames) float32 at perturbed levels
    target_lu: np.ndarray  # (S',) reference LU vs. the chosen anchor
    measured_lu: np.ndarray  # (S',) LU vs. the chosen anchor as perturbed
    anchor: int  # index into stems
    genre: str = "unknown"  # the session's genre as the prompt names it ("unknown" in a share of draws)


def make_draw(session: CorpusSession, rng: np.random.Generator, frames: int, max_stems: int = 12,
              unhelpful_share: float = 0.2, genre_drop: float = GENRE_DROP, flat_share: float = 0.0) -> Draw:
    """One balance draw (module doc); a ``flat_share`` of them start flat: every stem at the anchor's loudness
    (the flat-start protocol's start, at a random overall level), so nothing can be read off the start levels."""
    count = len(session.names)
    candidates = [i for i in range(count) if session.roles[i] in ANCHOR_ROLES]
    if candidates:
        weights = np.array([ANCHOR_ROLES[session.roles[i]] for i in candidates])
        anchor = int(rng.choice(candidates, p=weights / weights.sum()))
    else:
        anchor = int(rng.integers(count))
    others = [i for i in range(count) if i != anchor]
    size = int(rng.integers(1, min(max_stems, count)))  # other stems: 1 .. min(max_stems, count) - 1
    chosen = [anchor] + sorted(rng.choice(others, size=size, replace=False).tolist())
    start, chosen = _window(session, chosen, anchor, rng, frames)
    order = rng.permutation(len(chosen))  # the anchor is not always first
    chosen = [chosen[i] for i in order]
    perturb = rng.uniform(-PERTURB_DB, PERTURB_DB, size=len(chosen)).astype(np.float32)
    a = chosen.index(anchor)
    reference = session.reference_lu[chosen] - session.reference_lu[anchor]
    if flat_share > 0 and rng.random() < flat_share:
        perturb = (perturb[a] - reference).astype(np.float32)  # every stem where the anchor is
    measured = reference + perturb - perturb[a]
    mel = shift_mel(session.mel[chosen, :, start : start + frames].astype(np.float32), perturb)
    if mel.shape[-1] < frames:
        mel = np.pad(mel, ((0, 0), (0, 0), (0, frames - mel.shape[-1])), constant_values=FLOOR_DB)
    unhelpful = rng.random() < unhelpful_share
    stems = [StemPrompt(k + 1, "other" if unhelpful else session.roles[i], float(measured[k]), k == a)
             for k, i in enumerate(chosen)]
    genre = "unknown" if rng.random() < genre_drop else session.genre
    return Draw(session.name, stems, mel, reference.astype(np.float32), measured.astype(np.float32), a, genre)


def _window(session: CorpusSession, chosen: list[int], anchor: int, rng: np.random.Generator,
            frames: int) -> tuple[int, list[int]]:
    """A window start (the best of a few random ones: the anchor audible, then as many chosen stems as may be) and
    the chosen stems audible in it (all of them when none but the anchor is): a whole song has long stretches where
    a stem rests, and a stem that is silent where the model listens has no level to hear."""
    total = session.mel.shape[-1]
    best, best_score, best_audible = 0, -1, None
    for _ in range(WINDOW_TRIES):
        start = int(rng.integers(0, max(1, total - frames)))
        audible = session.mel[chosen, :, start : start + frames].max(axis=(1, 2)) > AUDIBLE_DB
        score = 100 * int(audible[0]) + int(audible.sum())  # chosen[0] is the anchor
        if score > best_score:
            best, best_score, best_audible = start, score, audible
    kept = [i for i, heard in zip(chosen, best_audible) if heard or i == anchor]
    return best, (kept if len(kept) >= 2 else chosen)


@dataclass
class PlanDraw:
    draw: Draw  # the state: stems at their current levels (mel and measured LU), targets as in balance draws
    history: list[str]  # the calls made so far, as the prompt lists them
    proposal: str  # the proposed moves, as the prompt quotes them (model.prompt.proposal_text)
    call: str  # the oracle's next call, JSON text


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
                   unhelpful_share: float = 0.2, flat_share: float = 0.0) -> PlanDraw:
    """One state of an oracle trajectory on ``session`` (see the module doc; ``flat_share``: as in make_draw)."""
    draw = make_draw(session, rng, frames, max_stems, unhelpful_share, flat_share=flat_share)
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


class SessionSampler:
    """Draws training sessions: a source with the share ``weights`` gives it (module, midi, procedural), then one
    of its sessions uniformly; without weights, every session equally likely."""

    def __init__(self, sessions: list[CorpusSession], weights: dict[str, float]) -> None:
        self.sessions = sessions
        sources = [s.source for s in sessions]
        if weights:
            missing = sorted(set(weights) - set(sources))
            if missing:
                raise ValueError(f"source_weights: no training sessions from {missing} (have {sorted(set(sources))})")
            share = {k: w / sum(weights.values()) for k, w in weights.items()}
            self.p = np.array([share.get(s, 0.0) / sources.count(s) for s in sources])
        else:
            self.p = np.full(len(sessions), 1.0 / len(sessions))

    def __call__(self, rng: np.random.Generator) -> CorpusSession:
        return self.sessions[int(rng.choice(len(self.sessions), p=self.p))]

    def shares(self) -> dict[str, float]:
        """The share of draws each source gets."""
        out: dict[str, float] = {}
        for session, p in zip(self.sessions, self.p):
            out[session.source] = out.get(session.source, 0.0) + float(p)
        return {k: round(v, 3) for k, v in sorted(out.items())}
