"""What the advice writer learns from: the facts of oracle trajectories on corpus songs, with real tool results.

For each evaluation-protocol draw of a train-split session (perturbed, and flat),
the oracle's moves are the reference balance blurred by the size of the head's
error; the trace it leaves is what the agent's would hold: the levels before,
a masking check (``measure_masking`` on the real stems) of the stem it raises
most when that is 6 dB or more, as the planner does, and of one other raised
stem half the time; the shipped intervals and ranges. Each move's facts are then
said as an engineer would by the reference grammar (model/advice/phrasing.py).
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import numpy as np
import torch

from anchormix.agent.grounding import StemFacts, stem_facts
from anchormix.tools import REGISTRY

from anchormix.model.config import FromYaml
from anchormix.model.draws import MASKING_DB
from anchormix.model.evaluation.evaluate import ProtocolDraw, protocol_draws
from anchormix.model.intervals import half_width, outside_range
from anchormix.model.advice.phrasing import Segments, reference_segments
from anchormix.model.advice.writer import AdviceWriter

__all__ = ["oracle_facts", "writer_examples", "train_writer", "HEAD_ERROR_DB"]

HEAD_ERROR_DB = 2.0  # the oracle's moves are blurred by N(0, s), s ~ U(0, this) per draw


def oracle_facts(draw: ProtocolDraw, rng: np.random.Generator, intervals: dict | None, ranges: dict | None) -> list[StemFacts]:
    """The facts an oracle balance of ``draw`` leaves in its trace (module doc)."""
    ctx, session = draw.context(), draw.session
    anchor = session.anchor
    blur = float(rng.uniform(0.0, HEAD_ERROR_DB))
    lu = {n: ctx.lufs(n) - ctx.lufs(anchor) for n in draw.scored}
    moves = {n: round(-(draw.offsets_db[n] - draw.offsets_db[anchor]) + float(rng.normal(0.0, blur)), 1) for n in draw.scored}
    raised = sorted((n for n in moves if moves[n] >= 1.0), key=lambda n: -moves[n])
    checked = [raised[0]] if raised and moves[raised[0]] >= MASKING_DB else []
    if len(raised) > len(checked) and rng.random() < 0.5:
        checked.append(str(rng.choice([n for n in raised if n not in checked])))
    messages = [{"tool": "measure_masking", "arguments": {"target": n}, "error": None,
                 "result": REGISTRY.call("measure_masking", {"target": n}, ctx)} for n in checked]
    roles = session.roles
    state = {"anchor": anchor, "applied_gains_db": {anchor: 0.0, **moves}, "initial_lu_vs_anchor": lu, "messages": messages,
             "intervals": {n: half_width(intervals, roles[n]) for n in moves} if intervals else {},
             "flags": {n: f for n in moves if (f := outside_range(ranges, roles[n], roles[anchor], lu[n] + moves[n]))}}
    return stem_facts(state, roles, ranges)


def writer_examples(sessions: list[tuple[Path, str]], draws: int, seed: int, intervals: dict | None, ranges: dict | None,
                    on_session: Callable[[Path], None] | None = None) -> list[tuple[StemFacts, Segments]]:
    """(facts, reference sentence) for every move of every oracle balance of ``sessions`` (``draws`` perturbed
    draws and the flat start of each)."""
    rng = np.random.default_rng(seed)
    examples = []
    for protocol in ("perturb", "flat"):
        for draw in protocol_draws(sessions, draws, seed, protocol, on_session if protocol == "flat" else None):
            examples += [(f, reference_segments(f, rng)) for f in oracle_facts(draw, rng, intervals, ranges)]
    return examples


@dataclass
class WriterConfig(FromYaml):
    """The advice writer's training (model/conf/writer.yaml holds the shipped values)."""

    FILE = "writer.yaml"

    steps: int = 240
    batch: int = 8
    lr: float = 1e-3
    seed: int = 0


def train_writer(examples: list, steps: int, batch: int = 8, lr: float = 1e-3, seed: int = 0,
                 log: Callable[[str], None] = print, writer: AdviceWriter | None = None) -> tuple[AdviceWriter, dict]:
    """``steps`` AdamW steps on random batches of ``examples`` (fresh LoRA unless ``writer``), sentences with a
    masking or convention reason drawn 4x as often; the loss history."""
    torch.manual_seed(seed)
    rng = np.random.default_rng(seed)
    writer = writer or AdviceWriter(checkpoint=None)
    # Reasons beyond where the stem sat are the rarer sentences and the ones to get right: drawn 4x as often.
    weights = np.array([1.0 + 3.0 * (f.masking is not None or f.typical_lu is not None) for f, _ in examples])
    params = [p for n, p in writer.llm.named_parameters() if "lora_" in n]
    optimiser = torch.optim.AdamW(params, lr=lr)
    writer.llm.train()
    history, started, recent = [], time.perf_counter(), []
    for step in range(1, steps + 1):
        chosen = [examples[i] for i in rng.choice(len(examples), size=min(batch, len(examples)), replace=False,
                                                  p=weights / weights.sum())]
        loss = writer.loss(chosen)
        optimiser.zero_grad()
        loss.backward()
        optimiser.step()
        recent.append(float(loss.detach()))
        if step % 20 == 0 or step == steps:
            history.append({"step": step, "loss": round(float(np.mean(recent)), 4)})
            log(f"writer step {step}/{steps}: loss {np.mean(recent):.3f} ({time.perf_counter() - started:.0f} s)")
            recent = []
    writer.llm.eval()
    return writer, {"steps": steps, "batch": batch, "lr": lr, "examples": len(examples), "history": history,
                    "wall_s": round(time.perf_counter() - started, 1)}
