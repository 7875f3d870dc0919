"""Train the ALM: Accelerate loop over on-the-fly AnchorBalance draws, checkpoints as safetensors.

    anchormix train --config model/conf/alm_listener.yaml

Loss per draw: L1 (dB) between the head's predicted and the reference LU of
every non-anchor stem, plus ``lm_weight`` x the LM loss of the advice text.
A share ``plan_share`` of the draws are planning states from the oracle's
trajectories (model/draws.py): the same L1 on the head, plus
``plan_lm_weight`` x the LM loss of the oracle's next tool call. ``init``
starts from a trained checkpoint instead of fresh adapters.

With a listener (``model: {listener: true}``), ``listener_steps`` first train the
encoder and the listener alone on batches of balance draws (no LLM pass: some
ms a draw instead of a second), then the LLM stage trains everything together,
the encoder and listener at ``encoder_lr``.
The same loop runs unchanged on a GPU (Accelerate picks the device).
"""

from __future__ import annotations

import json
import math
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Callable

import numpy as np
import torch

from .alm import ALM, ALMConfig
from .checkpoint import build_alm, load_adapters, load_checkpoint, save_checkpoint
from .config import read_config, strict_fields
from .draws import Draw, PlanDraw, SessionSampler, make_draw, make_plan_draw
from .features import CorpusSession, load_corpus
from .prompt import advice_text, read_call

__all__ = ["TrainConfig", "train", "draw_loss", "validate_plans"]


@dataclass
class TrainConfig:
    corpus: str | list[str] = "corpus"  # one corpus folder or several (e.g. [corpus, modules])
    out: str = "runs/alm"
    steps: int = 240
    draws_per_step: int = 4
    max_stems: int = 10
    lr: float = 5e-4
    lora_lr: float = 2e-4
    lm_weight: float = 0.1
    valid_every: int = 60
    valid_draws: int = 40
    seed: int = 0
    threads: int = 2
    schedule: str = "constant"  # or "cosine": linear warm-up over warmup_steps, then cosine decay to 10 %
    warmup_steps: int = 0
    plan_share: float = 0.0  # share of draws that are oracle planning states (model/trajectories.py)
    plan_lm_weight: float = 0.5  # weight of the tool-call LM loss on those draws
    init: str | None = None  # start from this checkpoint (its model config) instead of fresh adapters
    listener_steps: int = 0  # steps of the encoder + listener stage before the LLM stage (needs model.listener)
    listener_batch: int = 16  # balance draws per listener step
    listener_lr: float = 1e-3  # peak learning rate of that stage (cosine decay to 10 %)
    encoder_lr: float | None = None  # encoder and listener in the LLM stage (default: lr)
    init_adapters: str | None = None  # take only the LoRA weights from this checkpoint (the rest starts fresh)
    source_weights: dict = field(default_factory=dict)  # share of draws per source (module, midi, procedural);
    # empty: every session equally likely. A source left out is not drawn from.
    flat_share: float = 0.0  # share of balance draws that start flat (every stem at the anchor's loudness)
    model: dict = field(default_factory=dict)

    @classmethod
    def from_yaml(cls, path: str | Path) -> "TrainConfig":
        """The config at ``path`` with its ``include:`` chain (model/config.py), checked; ``ValueError`` names the file."""
        path = Path(path)
        config = strict_fields(cls, read_config(path), str(path))
        ALMConfig.from_dict(config.model)  # validate the model block too
        if config.schedule not in ("constant", "cosine"):
            raise ValueError(f"{path}: schedule must be 'constant' or 'cosine', got '{config.schedule}'")
        if not 0.0 <= config.plan_share <= 1.0:
            raise ValueError(f"{path}: plan_share must be within 0..1, got {config.plan_share}")
        if config.listener_steps and not (config.model.get("listener") or config.init):
            raise ValueError(f"{path}: listener_steps needs model.listener: true")
        if config.init and config.init_adapters:
            raise ValueError(f"{path}: give either init (the whole checkpoint) or init_adapters (its LoRA only)")
        if config.init is not None and config.model:
            raise ValueError(f"{path}: give either init (the checkpoint's model config is used) or a model block")
        if not 0.0 <= config.flat_share <= 1.0:
            raise ValueError(f"{path}: flat_share must be within 0..1, got {config.flat_share}")
        if any(not isinstance(w, (int, float)) or w < 0 for w in config.source_weights.values()):
            raise ValueError(f"{path}: source_weights must be non-negative numbers, got {config.source_weights}")
        return config

    @property
    def corpora(self) -> list[Path]:
        return [Path(c) for c in ([self.corpus] if isinstance(self.corpus, str) else self.corpus)]


def draw_loss(alm: ALM, draw: Draw | PlanDraw, lm_weight: float) -> tuple[torch.Tensor, float]:
    """Loss of one draw (a balance draw, or a planning state) and its gain MAE (dB) over the non-anchor stems."""
    history = proposal = None
    if isinstance(draw, PlanDraw):
        history, proposal, text, draw = draw.history, draw.proposal, draw.call, draw.draw
    else:
        text = advice_text(draw.stems, draw.target_lu - draw.measured_lu)
    target_ids = alm._ids(" " + text + "<|im_end|>") if lm_weight > 0 else None
    predicted, lm_loss = alm(torch.from_numpy(draw.mel), draw.stems, target_ids, history, proposal, draw.genre)
    mask = torch.ones(len(draw.stems), dtype=torch.bool)
    mask[draw.anchor] = False
    l1 = (predicted[mask] - torch.from_numpy(draw.target_lu)[mask]).abs().mean()
    loss = l1 + (lm_weight * lm_loss if lm_loss is not None else 0.0)
    return loss, float(l1.detach())


def _validate(alm: ALM, sessions: list[CorpusSession], count: int, seed: int, cfg: ALMConfig, max_stems: int) -> float:
    rng = np.random.default_rng(seed + 10_000)
    errors = []
    with torch.no_grad():
        for i in range(count):
            draw = make_draw(sessions[i % len(sessions)], rng, cfg.frames, max_stems, unhelpful_share=0.0, genre_drop=0.0)
            _, mae = draw_loss(alm, draw, 0.0)
            errors.append(mae)
    return float(np.mean(errors))


def validate_plans(alm: ALM, sessions: list[CorpusSession], count: int, seed: int, frames: int,
                   max_stems: int) -> dict[str, float]:
    """On fixed planning states: the share of greedy tool calls equal to the oracle's (tool and stem), per
    tool and overall; the share with the oracle's tool whatever the stem; the head's MAE (dB) on those states."""
    rng = np.random.default_rng(seed + 20_000)
    right: dict[str, list[bool]] = {}
    tools, errors = [], []
    with torch.no_grad():
        for i in range(count):
            plan = make_plan_draw(sessions[i % len(sessions)], rng, frames, max_stems, unhelpful_share=0.0)
            draw = plan.draw
            predicted, text = alm.plan_step(torch.from_numpy(draw.mel), draw.stems, plan.history,
                                            lambda _: plan.proposal, genre=draw.genre)
            try:
                said = read_call(text)
            except ValueError:
                said = None
            right.setdefault(read_call(plan.call)[0], []).append(said == read_call(plan.call))
            tools.append(said is not None and said[0] == read_call(plan.call)[0])
            mask = np.arange(len(draw.stems)) != draw.anchor
            errors.append(float(np.abs(predicted.numpy()[mask] - draw.target_lu[mask]).mean()))
    result = {"valid_call_accuracy": float(np.mean([r for rows in right.values() for r in rows])),
              "valid_tool_accuracy": float(np.mean(tools)),
              "valid_plan_mae_db": float(np.mean(errors))}
    result.update({f"valid_call_accuracy_{tool}": float(np.mean(rows)) for tool, rows in sorted(right.items())})
    return result


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
            group["lr"] = config.listener_lr * _cosine(step / config.listener_steps)
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


def lr_factor(config: TrainConfig, step: int) -> float:
    """Learning-rate multiplier at optimiser step ``step`` (0-based)."""
    if config.schedule == "constant":
        return 1.0
    if step < config.warmup_steps:
        return (step + 1) / config.warmup_steps
    return _cosine(min(1.0, (step - config.warmup_steps) / max(1, config.steps - config.warmup_steps)))


def _cosine(progress: float) -> float:
    """Cosine decay from 1 to 10 % as ``progress`` goes from 0 to 1."""
    return 0.1 + 0.9 * 0.5 * (1.0 + math.cos(math.pi * progress))


def _optimiser(alm: ALM, config: TrainConfig) -> torch.optim.Optimizer:
    """AdamW over three groups: projector and head at ``lr``, encoder and listener at ``encoder_lr``, LoRA."""
    lora = [p for n, p in alm.llm.named_parameters() if p.requires_grad]
    heard = [p for m in (alm.encoder, alm.listener) if m is not None for p in m.parameters()]
    own = [p for m in (alm.projector, alm.head) for p in m.parameters()]
    encoder_lr = config.lr if config.encoder_lr is None else config.encoder_lr
    return torch.optim.AdamW([{"params": own, "lr": config.lr}, {"params": heard, "lr": encoder_lr},
                              {"params": lora, "lr": config.lora_lr}], weight_decay=0.01)


def _validation_record(alm: ALM, valid_set: list[CorpusSession], config: TrainConfig) -> dict[str, float]:
    """The head's MAE on fixed validation draws, and the planning call accuracies when planning is trained."""
    record = {"valid_mae_db": round(_validate(alm, valid_set, config.valid_draws, config.seed, alm.cfg,
                                              config.max_stems), 3)}
    if config.plan_share > 0:
        plans = validate_plans(alm, valid_set, config.valid_draws, config.seed, alm.cfg.frames, config.max_stems)
        record.update({k: round(v, 3) for k, v in plans.items()})
    return record


def _llm_stage(alm: ALM, sample: SessionSampler, valid_set: list[CorpusSession], config: TrainConfig,
               rng: np.random.Generator, log: Callable[[str], None], history: list[dict], started: float) -> str:
    """The stage with the LLM: ``steps`` optimiser steps of ``draws_per_step`` draws (balance or planning), validated
    and checkpointed every ``valid_every`` steps. Returns the device it ran on."""
    from accelerate import Accelerator  # lazy: accelerate imports torch.distributed machinery

    cfg = alm.cfg
    optimiser = _optimiser(alm, config)
    accelerator = Accelerator(gradient_accumulation_steps=config.draws_per_step, cpu=not torch.cuda.is_available())
    scheduler = torch.optim.lr_scheduler.LambdaLR(optimiser, lambda step: lr_factor(config, step))
    alm, optimiser, scheduler = accelerator.prepare(alm, optimiser, scheduler)
    alm.train()
    for step in range(1, config.steps + 1):
        maes = []
        for _ in range(config.draws_per_step):
            with accelerator.accumulate(alm):
                session = sample(rng)
                if config.plan_share > 0 and rng.random() < config.plan_share:
                    draw = make_plan_draw(session, rng, cfg.frames, config.max_stems, flat_share=config.flat_share)
                    weight = config.plan_lm_weight
                else:
                    draw = make_draw(session, rng, cfg.frames, config.max_stems, flat_share=config.flat_share)
                    weight = config.lm_weight
                loss, mae = draw_loss(accelerator.unwrap_model(alm), draw, weight)
                accelerator.backward(loss)
                optimiser.step()
                scheduler.step()
                optimiser.zero_grad()
                maes.append(mae)
        record = {"step": step, "train_mae_db": round(float(np.mean(maes)), 3),
                  "elapsed_s": round(time.perf_counter() - started, 1)}
        if step % config.valid_every == 0 or step == config.steps:
            alm.eval()
            record.update(_validation_record(accelerator.unwrap_model(alm), valid_set, config))
            alm.train()
            save_checkpoint(accelerator.unwrap_model(alm), Path(config.out),
                            {"config": asdict(config), "history": history + [record]})
        history.append(record)
        log(json.dumps(record))
    accelerator.unwrap_model(alm).eval()
    return str(accelerator.device)


def _valid_sessions(root: Path) -> list[CorpusSession]:
    try:
        return load_corpus(root, "valid")
    except ValueError:  # a corpus without a validation split
        return []


def train(config: TrainConfig, log: Callable[[str], None] = print, alm: ALM | None = None) -> dict:
    """Run the configured training; returns the run's summary (also written to ``out/train.json``)."""
    torch.manual_seed(config.seed)
    torch.set_num_threads(config.threads)
    rng = np.random.default_rng(config.seed)
    if config.init and alm is None:
        alm = load_checkpoint(config.init)
    cfg = alm.cfg if config.init else ALMConfig.from_dict(config.model)
    train_set = [s for root in config.corpora for s in load_corpus(root, "train")]
    valid_set = [s for root in config.corpora for s in _valid_sessions(root)] or train_set[:4]
    sample = SessionSampler(train_set, config.source_weights)
    started = time.perf_counter()
    alm = alm or build_alm(cfg)
    if config.init_adapters:
        load_adapters(alm, config.init_adapters)
    alm.cfg.plans = alm.cfg.plans or config.plan_share > 0  # saved with the weights: the planner asks the LM
    log(f"backbone ready in {time.perf_counter() - started:.0f} s; {len(train_set)} train / {len(valid_set)} valid "
        f"sessions; draws per source {sample.shares()}")
    history: list[dict] = []
    if config.listener_steps:
        if alm.listener is None:
            raise ValueError("listener_steps: the model has no listener (model.listener: true)")
        alm.train()
        history += pretrain_listener(alm, sample, valid_set, config, rng, log)
    device = _llm_stage(alm, sample, valid_set, config, rng, log, history, started)
    summary = {"config": asdict(config), "history": history, "wall_s": round(time.perf_counter() - started, 1),
               "device": device, "train_sessions": len(train_set), "valid_sessions": len(valid_set),
               "draws_per_source": sample.shares()}
    save_checkpoint(alm, Path(config.out), summary)
    return summary
