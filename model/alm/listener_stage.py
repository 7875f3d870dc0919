"""The first training stage: the audio encoder and the listener alone on batches of balance draws (no LLM pass).

Some milliseconds a draw instead of a second, so the listener sees many draws
before the LLM joins (model/alm/train.py); its learning rate decays on a cosine.
"""

from __future__ import annotations

import json
import math
import time
from typing import Callable

import numpy as np
import torch

from anchormix.model.alm.network import ALM
from anchormix.model.draws import Draw, SessionSampler, make_draw
from anchormix.model.features import CorpusSession
from anchormix.model.alm.train_config import TrainConfig

__all__ = ["pretrain_listener", "cosine"]


def cosine(progress: float) -> float:
    """Cosine decay from 1 to 10 % as ``progress`` goes from 0 to 1."""
    return 0.1 + 0.9 * 0.5 * (1.0 + math.cos(math.pi * progress))


def _listener_batch(alm: ALM, draws: list[Draw]) -> tuple[torch.Tensor, torch.Tensor]:
    """The listener's estimates and the targets over the non-anchor stems of ``draws`` (one encoder pass)."""
    audio = alm.encoder(torch.from_numpy(np.concatenate([d.mel for d in draws])))
    predicted, target, start = [], [], 0
    for d in draws:
        listened = alm.listener_estimate(audio[start : start + len(d.stems)], d.stems, d.genre)
        mask = np.arange(len(d.stems)) != d.anchor
        predicted.append(listened[torch.from_numpy(mask)])
        target.append(torch.from_numpy(d.target_lu[mask]))
        start += len(d.stems)
    return torch.cat(predicted), torch.cat(target)


def pretrain_listener(alm: ALM, sample: SessionSampler, valid_set: list[CorpusSession], config: TrainConfig,
                      rng: np.random.Generator, log: Callable[[str], None]) -> list[dict]:
    """The first stage: encoder + listener on ``listener_steps`` batches of balance draws, L1 in dB."""
    cfg = alm.cfg
    params = list(alm.encoder.parameters()) + list(alm.listener.parameters())
    optimiser = torch.optim.AdamW(params, lr=config.listener_lr, weight_decay=0.01)
    valid_rng = np.random.default_rng(config.seed + 30_000)
    valid = [make_draw(valid_set[i % len(valid_set)], valid_rng, cfg.frames, config.max_stems, unhelpful_share=0.0,
                       genre_drop=0.0) for i in range(max(config.valid_draws, 200))]
    history, started = [], time.perf_counter()
    every = max(1, config.listener_steps // 10)
    for step in range(1, config.listener_steps + 1):
        for group in optimiser.param_groups:
            group["lr"] = config.listener_lr * cosine(step / config.listener_steps)
        draws = [make_draw(sample(rng), rng, cfg.frames, config.max_stems, flat_share=config.flat_share)
                 for _ in range(config.listener_batch)]
        predicted, target = _listener_batch(alm, draws)
        loss = (predicted - target).abs().mean()
        optimiser.zero_grad()
        loss.backward()
        optimiser.step()
        if step % every == 0 or step == config.listener_steps:
            with torch.no_grad():
                predicted, target = _listener_batch(alm, valid)
            record = {"listener_step": step, "train_mae_db": round(float(loss.detach()), 3),
                      "valid_mae_db": round(float((predicted - target).abs().mean()), 3),
                      "elapsed_s": round(time.perf_counter() - started, 1)}
            history.append(record)
            log(json.dumps(record))
    return history
