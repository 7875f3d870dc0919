"""The ALM behind the planner interface: listen (features at current gains) -> gains.

:class:`ALMBalancer` turns a session, as the tools see it, into the model's
inputs and its head's output into gains. It listens to several windows of the
session (the busiest, and the busiest of each third): the listener's estimates
are combined per stem (median over the windows where the stem plays) and the
LLM, hearing the busiest window, corrects that. :class:`ALMPlanner` wraps it in the
agent's one-method interface: at each step the model, trained on an oracle's
planning trajectories, chooses its next tool call (check masking, apply, finish);
its head's moves are what it applies; the balance ends when it says finish or
its proposal falls under 0.5 dB. At the end its advice writer (model/advice/writer.py)
writes a sentence per move from the facts the trace backs.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch

from anchormix.agent.grounding import keep_grounded, stem_facts
from anchormix.agent.planning import clamp_move, masking_reason, masking_results
from anchormix.agent.state import FINISH, INVALID, Action, AgentState
from anchormix.agent.toolcall import format_tool_call
from anchormix.tools import ToolContext
from anchormix.tools.stem_store import released

from anchormix.model.alm.build import DEFAULT_CHECKPOINT, load_checkpoint
from anchormix.model.draws import AUDIBLE_DB
from anchormix.model.features import DEEP_FLOOR_DB, FLOOR_DB, listening_windows, session_mels
from anchormix.model.intervals import half_width, load_table, outside_range
from anchormix.model.prompt import StemPrompt, history_entry, parse_advice, proposal_text, read_call
from anchormix.model.shipped import intervals_path, ranges_path
from anchormix.model.advice.writer import MAX_SENTENCES, shared_writer

__all__ = ["ALMBalancer", "ALMPlanner", "shared_balancer", "ANCHOR_LUFS"]

# The level the model hears the anchor at, whatever level the session arrives at: every stem is moved by the
# same dB so the anchor reads this (about the train split's median anchor level, -24.5 LUFS). Advice against the
# anchor then cannot depend on the session's overall level (docs/architecture.md, "Flat start"; tests/model/test_invariance.py).
ANCHOR_LUFS = -24.0


class ALMBalancer:
    """Loads the shipped checkpoint once; predicts each stem's target LU against the anchor."""

    def __init__(self, checkpoint: str | Path = DEFAULT_CHECKPOINT) -> None:
        self.alm = load_checkpoint(checkpoint, inference=True)
        self.intervals = load_table(intervals_path(checkpoint))  # None for a checkpoint without them
        self.ranges = load_table(ranges_path(checkpoint))  # what the corpus has seen, per role
        self._session, self._starts = None, []  # the session listened to last, and its listening windows

    def interval_db(self, role: str) -> float | None:
        """Half-width (dB) of the 80 % interval around a move of a stem of ``role`` (None when not fitted)."""
        return half_width(self.intervals, role) if self.intervals else None

    def unusual(self, role: str, anchor_role: str, target_lu: float) -> str | None:
        """Why a target is unlike anything the corpus has for the role against a bass, or None."""
        return outside_range(self.ranges, role, anchor_role, target_lu)

    def features(self, ctx: ToolContext) -> np.ndarray:
        """Log-mel at the current gains ``(W, S, n_mels, frames)`` over the :func:`listening_windows`, the whole
        session moved so the anchor reads :data:`ANCHOR_LUFS`: analysed once per session (kept with it by
        :func:`session_mels`, the role tagger's analysis too), then shifted."""
        # Down to digital silence: the floor is applied after the move, so no quiet bin is lost to it. Each stem's
        # kept analysis is read where it lies: only the windows are copied, never the whole session's log-mel.
        mels, names, frames = session_mels(ctx.session), ctx.session.names, self.alm.cfg.frames
        if self._session is not ctx.session:  # identity, not id(): a freed session's id can be reused
            # The windows hear the session at its loaded levels (the anchor at the reference): chosen once.
            self._session = ctx.session
            reference = _to_reference(ctx.measurements.lufs[ctx.session.anchor])
            self._starts = listening_windows((_moved(m, reference) for m in released(mels)), frames)
        # A stem at a time, let go of once its windows are copied (a window's pages map their neighbours too).
        crops = np.stack([np.stack([m[:, start : start + frames] for start in self._starts]) for m in released(mels)],
                         axis=1)  # (W, S, n_mels, <= frames)
        if crops.shape[-1] < frames:
            crops = np.pad(crops, ((0, 0), (0, 0), (0, 0), (0, frames - crops.shape[-1])),
                           constant_values=DEEP_FLOOR_DB)
        now = _to_reference(ctx.lufs(ctx.session.anchor))
        return _moved(crops, np.array([ctx.gain(n) + now for n in names], dtype=np.float32)[:, None, None])

    def inputs(self, ctx: ToolContext) -> tuple[list[str], list[StemPrompt], torch.Tensor]:
        """Active stem names, their prompt lines and their log-mel at the current gains, one row per listening
        window ``(W, S', n_mels, frames)``; the first window is the busiest, the one the LLM hears."""
        session, anchor = ctx.session, ctx.session.anchor
        names = [n for n in session.names if session.active[n]]
        anchor_lufs = ctx.lufs(anchor)
        prompts = [StemPrompt(i + 1, session.roles[n], ctx.lufs(n) - anchor_lufs, n == anchor) for i, n in enumerate(names)]
        index = [session.names.index(n) for n in names]
        return names, prompts, torch.from_numpy(self.features(ctx)[:, index])

    @torch.no_grad()
    def listened(self, mel: torch.Tensor, prompts: list[StemPrompt], genre: str) -> torch.Tensor | None:
        """The listener's estimate per stem over every window ``mel`` ``(W, S, n_mels, frames)``, combined: the
        median over the windows where the stem plays (over all of them where it plays in none). None without a
        listener (an older checkpoint hears the first window only)."""
        if self.alm.listener is None:
            return None
        estimates = torch.stack([self.alm.hear(m, prompts, genre)[1] for m in mel])  # (W, S)
        plays = mel.amax(dim=(2, 3)) > AUDIBLE_DB  # (W, S)
        plays[:, ~plays.any(dim=0)] = True
        masked = torch.where(plays, estimates, torch.tensor(float("nan")))
        return torch.nanmedian(masked, dim=0).values

    @torch.no_grad()
    def target_lu(self, ctx: ToolContext, genre: str | None = None, listener_only: bool = False) -> dict[str, float]:
        """Where the model would put each active stem, LU against the anchor (``genre``: the session's by default;
        ``listener_only``: the listener's estimate without the LLM's correction, an ablation)."""
        names, prompts, mel = self.inputs(ctx)
        genre = genre or ctx.session.genre
        listened = self.listened(mel, prompts, genre)
        if listener_only:
            if listened is None:
                raise ValueError("this checkpoint has no listener (model.listener was off when it was trained)")
            predicted = listened
        else:
            predicted, _ = self.alm(mel[0], prompts, genre=genre, listened=listened)
        return {n: (0.0 if n == ctx.session.anchor else float(v)) for n, v in zip(names, predicted)}

    def text_gains(self, ctx: ToolContext, on_token=None, genre: str | None = None) -> tuple[dict[str, float], str]:
        """The moves as the LM writes them in its advice text (the "numbers as text" ablation), and the text."""
        names, prompts, mel = self.inputs(ctx)
        text = self.alm.generate(mel[0], prompts, on_token=on_token, genre=genre or ctx.session.genre)
        moves = parse_advice(text)
        return {n: (moves.get(i + 1, 0.0) if n != ctx.session.anchor else 0.0) for i, n in enumerate(names)}, text

    def gains(self, ctx: ToolContext, genre: str | None = None, listener_only: bool = False) -> dict[str, float]:
        """The moves (dB) that take each stem from its measured level to its predicted target."""
        anchor_lufs = ctx.lufs(ctx.session.anchor)
        targets = self.target_lu(ctx, genre, listener_only)
        return {n: round(t - (ctx.lufs(n) - anchor_lufs), 1) if n != ctx.session.anchor else 0.0
                for n, t in targets.items()}


def _moved(mel: np.ndarray, gains_db) -> np.ndarray:
    """Deep-floored log-mel moved by ``gains_db`` (a scalar, or ``(S, 1, 1)``) and clipped at the model's floor."""
    return np.maximum(mel + gains_db, FLOOR_DB).astype(np.float32)


def _to_reference(anchor_lufs: float) -> float:
    """The dB that moves an anchor at ``anchor_lufs`` to :data:`ANCHOR_LUFS` (0 for a silent anchor)."""
    return ANCHOR_LUFS - anchor_lufs if np.isfinite(anchor_lufs) else 0.0


_SHARED: dict[str, ALMBalancer] = {}


def shared_balancer(checkpoint: str | Path = DEFAULT_CHECKPOINT) -> ALMBalancer:
    """One loaded model per checkpoint per process (a batch balances many sessions with it)."""
    key = str(Path(checkpoint).resolve())
    if key not in _SHARED:
        _SHARED[key] = ALMBalancer(checkpoint)
    return _SHARED[key]


class ALMPlanner:
    """The agent planner backed by the ALM (``--planner alm``).

    A checkpoint trained on the oracle's planning trajectories (``cfg.plans``) chooses each call itself
    ("measure_masking" on a stem, "apply_gains", "finish"; its call head's choice, model/alm/call_head.py, or JSON its
    LM writes), the gain head supplies the amounts, and the call goes to the graph to be validated like any model
    output. A text that is not a call is recorded as invalid and the next step falls back on the head alone (apply
    its moves, or finish when there are none); an older checkpoint runs that fallback throughout.

    The targets (where each stem should sit against the anchor) are the model's at its first listen. After a move
    it listens again, measures where the stems landed and proposes only what is left to those targets: the part a
    move over the tool's 24 dB limit could not take at once, else nothing, so it finishes. A second opinion of its
    own after its move would not help: re-estimating at the moved levels ended 0.18 dB worse than the first answer
    on the module test split (3.78 vs 3.60 dB) and 0.23 dB worse on the MIDI split.
    """

    name = "alm"

    def __init__(self, balancer: ALMBalancer | None = None, genre: str | None = None,
                 checkpoint: str | Path = DEFAULT_CHECKPOINT, writes: bool = True) -> None:
        self.balancer = balancer or ALMBalancer(checkpoint)
        self.genre = genre  # what the prompt names (a conversation may have set one); the session's when None
        self.writes = writes  # the advice writer writes a sentence per move at the end (off: the moves' reasons)
        self._heard: tuple = ()  # (session, what it heard: gains, genre, prompts; the head's answer) of the last pass

    def plan(self, state: AgentState, ctx: ToolContext) -> Action | str:
        messages = state.get("messages", [])
        names, prompts, mel = self.balancer.inputs(ctx)
        alm = self.balancer.alm
        genre = self.genre or ctx.session.genre
        levels = state["measurements"]["loudness"]["stems"]
        applied = sum(1 for m in messages if m.get("tool") == "apply_gains" and m.get("error") is None)
        anchor = ctx.session.anchor
        # Where the model puts each stem is decided once, before its first move (see the class doc), and held in the
        # graph state (its ``targets``), so a run resumed in another process continues exactly. A state without them
        # (a run saved by an older version) re-listens, each further proposal halved.
        held = state.get("targets") if applied else None
        damping = 1.0 if held is not None or not applied else 0.5 ** applied

        def propose(predicted: torch.Tensor) -> dict[str, float]:
            targets = held if held is not None else dict(zip(names, predicted.tolist()))
            return {n: clamp_move((targets[n] - levels[n]["lu_vs_anchor"]) * damping) if n != anchor else 0.0
                    for n in names}

        text, planned = None, alm.cfg.plans and not (messages and messages[-1].get("tool") == INVALID)
        heard = (repr(sorted(state["gains_db"].items())), genre, repr(prompts))
        same = bool(messages and self._heard) and self._heard[0] is ctx.session and self._heard[1] == heard
        if planned and alm.calls_from_numbers and (held is not None or same):
            # A call head that reads the proposal's numbers alone, and targets held or the head's answer to exactly
            # this (a masking check moves nothing): nothing the listener or the LM would hear now is read, so
            # neither runs (the same call; a pass over every stem saved).
            predicted = None if held is not None else self._heard[2]
            text = alm.choose_call(proposal_text(prompts, list(propose(predicted).values())), _history(messages, names))
        elif planned:  # the head's proposal goes into the prompt; the LM reads it with the calls so far
            predicted, text = alm.plan_step(mel[0], prompts, _history(messages, names),
                                            lambda p: proposal_text(prompts, list(propose(p).values())), genre=genre,
                                            listened=self.balancer.listened(mel, prompts, genre))
            self._heard = (ctx.session, heard, predicted)
        else:  # an older checkpoint, or the model's last text was not a call: the head alone decides
            with torch.no_grad():
                predicted, _ = alm(mel[0], prompts, genre=genre, listened=self.balancer.listened(mel, prompts, genre))
        targets = {} if applied else {"targets": dict(zip(names, predicted.tolist()))}  # for the state to hold
        moves = {n: m for n, m in propose(predicted).items() if abs(m) >= 0.05}
        if text is not None:
            call = _written_call(text, names, moves, levels, anchor, targets)
            if call is not None:
                return call
        if not moves:
            return Action(tool=FINISH, rationale="the model proposes no further moves")
        roles = ctx.session.roles
        sure = {n: self.balancer.interval_db(roles[n]) for n in moves}
        flags = {n: self.balancer.unusual(roles[n], roles[anchor], levels[n]["lu_vs_anchor"] + g / damping)
                 for n, g in moves.items()}
        return _apply_call(state, moves, levels, anchor, damping, "model" if text is not None else "model (head only)",
                           sure, {n: f for n, f in flags.items() if f}, targets)


    def write_advice(self, state: AgentState, ctx: ToolContext) -> tuple[dict[str, str], dict[str, str]]:
        """The advice writer's sentence per move of at least 1 dB (the :data:`MAX_SENTENCES` largest), from the facts
        the trace backs (model/advice/writer.py): less any clause the trace does not back (as shown), and as first
        written."""
        if not self.writes:
            return {}, {}
        facts = stem_facts(state, ctx.session.roles, self.balancer.ranges)[:MAX_SENTENCES]
        raw = dict(zip((f.name for f in facts), shared_writer().write(facts)))
        return {f.name: keep_grounded(raw[f.name], f, ctx.session.names) for f in facts}, raw


def _written_call(text: str, names: list[str], moves: dict[str, float], levels: dict, anchor: str,
                  targets: dict) -> str | None:
    """The model's written call as the graph should see it: finish and masking checks spelled out with the stem's
    name, anything that is not a call (or not one of ours) as the text itself; None for apply (the head's moves)."""
    try:
        tool, index = read_call(text)
    except ValueError:
        return text  # not a call: the graph records it as invalid and tells the model why
    if tool == FINISH:
        largest = max((abs(v) for v in moves.values()), default=0.0)
        return format_tool_call(Action(tool=FINISH, rationale=f"model: finish (its largest remaining move "
                                                              f"would be {largest:.1f} dB)"))
    if tool == "measure_masking" and index is not None and 1 <= index <= len(names):
        name = names[index - 1]
        gap = f"; the model would move it {moves[name]:+.1f} dB" if name in moves else ""
        return format_tool_call(Action(tool="measure_masking", arguments={"target": name}, **targets,
                                       rationale=f"model: check what masks {name} "
                                                 f"({levels[name]['lu_vs_anchor']:+.1f} LU against the {anchor})" + gap))
    if tool != "apply_gains":  # another tool, or a stem it did not have: the graph validates the words
        return text
    return None


def _apply_call(state: AgentState, moves: dict[str, float], levels: dict, anchor: str, damping: float,
                how: str, interval_db: dict[str, float | None], flags: dict[str, str], targets: dict) -> str:
    """The apply_gains call of ``moves`` as JSON text, with a reason per stem that covers the whole balance (the
    graph keeps the latest reason per stem), not this step alone, and how sure the model is (its 80 % interval)."""
    start = state.get("initial_lu_vs_anchor") or {}
    masking = masking_results(state)

    def sure(name: str) -> str:
        return f" (±{interval_db[name]:.1f} dB, 80 % interval)" if interval_db.get(name) is not None else ""

    reasons = {n: (f"was {start.get(n, levels[n]['lu_vs_anchor']):+.1f} LU against the {anchor}; the model "
                   f"puts it at {levels[n]['lu_vs_anchor'] + g / damping:+.1f} LU{sure(n)}"
                   + masking_reason(masking.get(n)))
               for n, g in moves.items()}
    # The call goes to the graph as JSON text, validated against the registry like any model output.
    intervals = {n: round(v, 2) for n, v in interval_db.items() if v is not None}
    return format_tool_call(Action(tool="apply_gains", arguments={"changes_db": moves}, reasons=reasons,
                                   flags=flags, **({"intervals": intervals} if intervals else {}), **targets,
                                   rationale=f"{how}: " + ", ".join(f"{n} {g:+.1f} dB" for n, g in moves.items())))


def _history(messages: list[dict], names: list[str]) -> list[str]:
    """The calls that ran so far, as the prompt's "Calls so far" line lists them (stems by prompt index)."""
    history = []
    for message in messages:
        if message.get("error") is not None:
            continue
        if message.get("tool") == "apply_gains":
            history.append(history_entry("apply_gains"))
        elif message.get("tool") == "measure_masking" and message["arguments"].get("target") in names:
            history.append(history_entry("measure_masking", names.index(message["arguments"]["target"]) + 1))
    return history
