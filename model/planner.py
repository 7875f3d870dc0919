"""The ALM behind the planner interface: listen (features at current gains) -> gains.

:class:`ALMBalancer` turns a session, as the tools see it, into the model's
inputs and its head's output into gains. :class:`ALMPlanner` wraps it in the
agent's one-method interface: apply the predicted moves, listen again, and
finish when the residual proposal falls under 0.5 dB (the graph's test); each
proposal after the first is halved, so the loop converges.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch

from anchormix.agent.planners import clamp_move
from anchormix.agent.state import FINISH, Action, AgentState
from anchormix.agent.toolcall import format_tool_call
from anchormix.tools import ToolContext

from .alm import StemPrompt
from .data import parse_advice
from .features import log_mel

__all__ = ["DEFAULT_CHECKPOINT", "ALMBalancer", "ALMPlanner", "shared_balancer"]

DEFAULT_CHECKPOINT = Path(__file__).with_name("checkpoints") / "alm" / "alm.safetensors"


class ALMBalancer:
    """Loads the shipped checkpoint once; predicts each stem's target LU against the anchor."""

    def __init__(self, checkpoint: str | Path = DEFAULT_CHECKPOINT) -> None:
        from .train import load_checkpoint

        self.alm = load_checkpoint(checkpoint)
        self._session, self._mel = None, None  # one session's log-mel at unity gain

    def features(self, ctx: ToolContext) -> np.ndarray:
        """Log-mel at the current gains ``(S, n_mels, frames)``: computed once per session, then shifted."""
        if self._session is not ctx.session:  # identity, not id(): a freed session's id can be reused
            self._session, self._mel = ctx.session, log_mel(ctx.session.array(), ctx.session.sample_rate)
        mel = self._mel
        frames = self.alm.cfg.frames
        start = max(0, (mel.shape[-1] - frames) // 2)  # the middle of the excerpt
        crop = mel[:, :, start : start + frames]
        if crop.shape[-1] < frames:
            crop = np.pad(crop, ((0, 0), (0, 0), (0, frames - crop.shape[-1])), constant_values=-120.0)
        gains = np.array([ctx.gain(n) for n in ctx.session.names], dtype=np.float32)
        return crop + gains[:, None, None]

    def inputs(self, ctx: ToolContext) -> tuple[list[str], list[StemPrompt], torch.Tensor]:
        """Active stem names, their prompt lines and their log-mel at the current gains."""
        session, anchor = ctx.session, ctx.session.anchor
        names = [n for n in session.names if session.active[n]]
        anchor_lufs = ctx.lufs(anchor)
        prompts = [StemPrompt(i + 1, session.roles[n], ctx.lufs(n) - anchor_lufs, n == anchor) for i, n in enumerate(names)]
        index = [session.names.index(n) for n in names]
        return names, prompts, torch.from_numpy(self.features(ctx)[index])

    @torch.no_grad()
    def target_lu(self, ctx: ToolContext) -> dict[str, float]:
        """Where the model would put each active stem, LU against the anchor."""
        names, prompts, mel = self.inputs(ctx)
        predicted, _ = self.alm(mel, prompts)
        return {n: (0.0 if n == ctx.session.anchor else float(v)) for n, v in zip(names, predicted)}

    def text_gains(self, ctx: ToolContext, on_token=None) -> tuple[dict[str, float], str]:
        """The moves as the LM writes them in its advice text (the "numbers as text" ablation), and the text."""
        names, prompts, mel = self.inputs(ctx)
        text = self.alm.generate(mel, prompts, on_token=on_token)
        moves = parse_advice(text)
        return {n: (moves.get(i + 1, 0.0) if n != ctx.session.anchor else 0.0) for i, n in enumerate(names)}, text

    def gains(self, ctx: ToolContext) -> dict[str, float]:
        """The moves (dB) that take each stem from its measured level to its predicted target."""
        anchor_lufs = ctx.lufs(ctx.session.anchor)
        targets = self.target_lu(ctx)
        return {n: round(t - (ctx.lufs(n) - anchor_lufs), 1) if n != ctx.session.anchor else 0.0
                for n, t in targets.items()}


_SHARED: dict[str, ALMBalancer] = {}


def shared_balancer(checkpoint: str | Path = DEFAULT_CHECKPOINT) -> ALMBalancer:
    """One loaded model per checkpoint per process (a batch balances many sessions with it)."""
    key = str(Path(checkpoint).resolve())
    if key not in _SHARED:
        _SHARED[key] = ALMBalancer(checkpoint)
    return _SHARED[key]


class ALMPlanner:
    """The agent planner backed by the ALM (``--planner alm``)."""

    name = "alm"

    def __init__(self, ctx: ToolContext, checkpoint: str | Path = DEFAULT_CHECKPOINT,
                 balancer: ALMBalancer | None = None) -> None:
        self.ctx, self.balancer = ctx, balancer or ALMBalancer(checkpoint)

    def plan(self, state: AgentState) -> Action | str:
        self.ctx.gains_db = dict(state.get("gains_db", {}))
        # Re-listening after its own move, the model may propose a further move of its own making; each further
        # proposal is halved (damping), so the residual falls under 0.5 dB within a few steps instead of oscillating.
        applied = sum(1 for m in state.get("messages", []) if m.get("tool") == "apply_gains" and m.get("error") is None)
        damping = 0.5 ** applied
        moves = {n: clamp_move(g * damping) for n, g in self.balancer.gains(self.ctx).items() if abs(g * damping) >= 0.05}
        if not moves:
            return Action(tool=FINISH, rationale="the model proposes no further moves")
        anchor = self.ctx.session.anchor
        levels = state["measurements"]["loudness"]["stems"]
        start = state.get("initial_lu_vs_anchor") or {}
        # The reason covers the whole balance (the graph keeps the latest reason per stem), not this step alone.
        reasons = {n: f"was {start.get(n, levels[n]['lu_vs_anchor']):+.1f} LU against the {anchor}; the model "
                      f"puts it at {levels[n]['lu_vs_anchor'] + g:+.1f} LU" for n, g in moves.items()}
        # The model's call goes to the graph as JSON text, validated against the registry like any model output.
        return format_tool_call(Action(tool="apply_gains", arguments={"changes_db": moves}, reasons=reasons,
                                       rationale="model: " + ", ".join(f"{n} {g:+.1f} dB" for n, g in moves.items())))
