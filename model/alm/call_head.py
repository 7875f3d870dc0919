"""The planner's next call, chosen by a small classifier over the LM's state instead of JSON written token by token.

At the end of the planning prompt (the stems and their audio, the calls so far,
the head's proposed moves; model/prompt.py) the LM's last hidden state and the
proposal read as numbers (largest raise, largest move, calls so far, whether
masking was checked) go, both or either, into a two-layer classifier over the
three calls: ``apply_gains``, ``finish``, ``measure_masking``. A masking check is of the stem
the proposal raises most, the one the oracle checks (model/draws.py). One pass
over the prompt instead of ~15 generated tokens, and never a malformed call.

``anchormix train --calls`` fits one head per input (both, the LM's state alone,
the numbers alone) on oracle planning states of the train split, the rest of the
checkpoint frozen (the LM's states computed once), scores each on states of the
valid split, and ships the best.
"""

from __future__ import annotations

import re
import time
from dataclasses import dataclass
from typing import Callable

import numpy as np
import torch
from torch import nn

from anchormix.model.config import FromYaml
from anchormix.model.draws import make_plan_draw
from anchormix.model.features import CorpusSession
from anchormix.model.prompt import read_call

__all__ = ["CALLS", "INPUTS", "CallHead", "call_inputs", "proposal_numbers", "masking_target", "prompt_state", "planning_states",
           "train_call_head", "call_accuracy", "fit_call_head"]

CALLS = ("apply_gains", "finish", "measure_masking")
INPUTS = ("both", "state", "numbers")  # what the head reads: the LM's state, the proposal's numbers, or both
N_NUMBERS = 4
_MOVE = re.compile(r"stem (\d+) ([+-]\d+\.\d) dB")


class CallHead(nn.Module):
    """``(hidden + N_NUMBERS)`` -> logits over :data:`CALLS`."""

    def __init__(self, hidden: int) -> None:
        super().__init__()
        self.mlp = nn.Sequential(nn.Linear(hidden + N_NUMBERS, 128), nn.GELU(), nn.Linear(128, len(CALLS)))

    def forward(self, state: torch.Tensor, numbers: torch.Tensor) -> torch.Tensor:
        return self.mlp(torch.cat([state, numbers], dim=-1))


def proposal_numbers(proposal: str, history: list[str]) -> torch.Tensor:
    """What the head reads off the prompt as numbers: largest raise and largest move (/10 dB), calls so far (/3),
    whether masking was checked."""
    moves = [float(v) for _, v in _MOVE.findall(proposal)] or [0.0]
    return torch.tensor([max(moves) / 10.0, max(abs(m) for m in moves) / 10.0, len(history) / 3.0,
                         float(any(h.startswith("measure_masking") for h in history))])


def masking_target(proposal: str) -> int | None:
    """The stem (prompt index) a masking check is of: the first in the proposal, the one it raises most."""
    found = _MOVE.search(proposal)
    return int(found.group(1)) if found else None


def prompt_state(alm, mel: torch.Tensor, stems, history: list[str], proposal: str, genre: str) -> torch.Tensor:
    """The LM's last hidden state at the end of the planning prompt ``(hidden,)``."""
    ids, _ = alm.layout(stems, history, proposal, genre)
    out = alm.llm(inputs_embeds=alm.embed(alm.encoder(mel), ids), output_hidden_states=True, logits_to_keep=1)
    return out.hidden_states[-1][0, -1]


@torch.no_grad()
def planning_states(alm, sessions: list[CorpusSession], count: int, seed: int,
                    max_stems: int) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """``count`` oracle planning states (model/draws.py): the LM's states, the proposal numbers, the oracle's call."""
    rng = np.random.default_rng(seed)
    states, numbers, labels = [], [], []
    for _ in range(count):
        plan = make_plan_draw(sessions[int(rng.integers(len(sessions)))], rng, alm.cfg.frames, max_stems)
        draw = plan.draw
        states.append(prompt_state(alm, torch.from_numpy(draw.mel), draw.stems, plan.history, plan.proposal, draw.genre))
        numbers.append(proposal_numbers(plan.proposal, plan.history))
        labels.append(CALLS.index(read_call(plan.call)[0]))
    return torch.stack(states), torch.stack(numbers), torch.tensor(labels)


def call_inputs(states: torch.Tensor, numbers: torch.Tensor, use: str) -> tuple[torch.Tensor, torch.Tensor]:
    """The head's inputs when it reads ``use``: "both", "state" (numbers zeroed) or "numbers" (state zeroed)."""
    if use not in INPUTS:
        raise ValueError(f"call head inputs '{use}': choose from {', '.join(INPUTS)}")
    return (states if use != "numbers" else torch.zeros_like(states),
            numbers if use != "state" else torch.zeros_like(numbers))


def train_call_head(head: CallHead, data: tuple, use: str = "both", epochs: int = 400, lr: float = 3e-3,
                    seed: int = 0) -> dict:
    """Full-batch AdamW on cached planning states, the calls weighted by their inverse frequency (masking and
    finish are rarer than apply); ``use``: see :func:`call_inputs`."""
    torch.manual_seed(seed)
    labels = data[2]
    states, numbers = call_inputs(data[0], data[1], use)
    counts = torch.bincount(labels, minlength=len(CALLS)).clamp(min=1).float()
    loss_fn = nn.CrossEntropyLoss(weight=counts.sum() / (len(CALLS) * counts))
    optimiser = torch.optim.AdamW(head.parameters(), lr=lr, weight_decay=0.01)
    head.train()
    for _ in range(epochs):
        loss = loss_fn(head(states, numbers), labels)
        optimiser.zero_grad()
        loss.backward()
        optimiser.step()
    head.eval()
    return {"epochs": epochs, "train_loss": round(float(loss.detach()), 4)}


@torch.no_grad()
def call_accuracy(head: CallHead, data: tuple, use: str = "both") -> dict[str, float]:
    """Share of states where the head's call is the oracle's, overall and per call (the masking check's stem is
    the proposal's largest raise by construction, the oracle's own choice)."""
    labels = data[2]
    said = head(*call_inputs(data[0], data[1], use)).argmax(dim=1)
    result = {"call_accuracy": float((said == labels).float().mean()), "states": int(len(labels))}
    for k, call in enumerate(CALLS):
        rows = labels == k
        if rows.any():
            result[f"call_accuracy_{call}"] = float((said[rows] == k).float().mean())
    return result


@dataclass
class CallHeadConfig(FromYaml):
    """The call head's training (model/conf/call_head.yaml holds the shipped values)."""

    FILE = "call_head.yaml"

    states: int = 1500
    max_stems: int = 10
    epochs: int = 400
    lr: float = 3e-3
    seed: int = 0


def fit_call_head(alm, train: list[CorpusSession], valid: list[CorpusSession], count: int, seed: int = 0,
                  max_stems: int = 10, log: Callable[[str], None] = print, valid_count: int | None = None,
                  epochs: int = 400, lr: float = 3e-3) -> dict:
    """Planning states of ``train`` (``count``) and ``valid`` (``valid_count``, by default a fifth as many and at
    least 100); a head trained on each of :data:`INPUTS` and scored on valid; the one with the best valid call
    accuracy goes into ``alm`` (``cfg.call_head``, ``cfg.call_inputs``). Returns the three scores and the choice."""
    started = time.perf_counter()
    valid_data = planning_states(alm, valid, valid_count or max(count // 5, 100), seed + 20_000, max_stems)
    log(f"{len(valid_data[2])} valid planning states ({time.perf_counter() - started:.0f} s)")
    train_data = planning_states(alm, train, count, seed, max_stems)
    log(f"{count} train planning states ({time.perf_counter() - started:.0f} s)")
    report, heads = {}, {}
    for use in INPUTS:
        heads[use] = CallHead(train_data[0].shape[1])
        train_call_head(heads[use], train_data, use, epochs=epochs, lr=lr, seed=seed)
        report[use] = call_accuracy(heads[use], valid_data, use)
        log(f"call head ({use}): valid call accuracy {report[use]['call_accuracy']:.1%}")
    best = max(INPUTS, key=lambda use: report[use]["call_accuracy"])  # ties: the first, both inputs
    alm.call_head, alm.cfg.call_head, alm.cfg.call_inputs = heads[best], True, best
    return {"train_states": count, "valid_states": int(len(valid_data[2])), "valid": report, "inputs": best,
            "wall_s": round(time.perf_counter() - started, 1)}
