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

import hashlib
import json
import time
from dataclasses import asdict
from pathlib import Path
from typing import Callable

import numpy as np
import torch

from anchormix.model.alm.network import ALM, ALMConfig
from anchormix.model.alm.build import build_alm, load_adapters, load_checkpoint, save_checkpoint
from anchormix.model.draws import Draw, PlanDraw, SessionSampler, make_draw, make_plan_draw
from anchormix.model.alm.listener_stage import cosine, pretrain_listener
from anchormix.model.alm.train_config import TrainConfig
from anchormix.model.features import CorpusSession, load_corpus
from anchormix.model.prompt import advice_text, read_call

__all__ = ["TrainConfig", "train", "draw_loss", "validate_plans"]  # TrainConfig: model/alm/train_config.py


def draw_loss(model, draw: Draw | PlanDraw, lm_weight: float, alm: ALM | None = None) -> tuple[torch.Tensor, float]:
    """Loss of one draw (a balance draw, or a planning state) and its gain MAE (dB) over the non-anchor stems.
    ``model`` is called for the forward (the ALM, or Accelerate's wrapper of it, which syncs gradients); ``alm``
    is the ALM itself when ``model`` wraps it."""
    alm = alm or model
    history = proposal = None
    if isinstance(draw, PlanDraw):
        history, proposal, text, draw = draw.history, draw.proposal, draw.call, draw.draw
    else:
        text = advice_text(draw.stems, draw.target_lu - draw.measured_lu)
    target_ids = alm._ids(" " + text + "<|im_end|>") if lm_weight > 0 else None
    predicted, lm_loss = model(torch.from_numpy(draw.mel), draw.stems, target_ids, history, proposal, draw.genre)
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


def lr_factor(config: TrainConfig, step: int) -> float:
    """Learning-rate multiplier at optimiser step ``step`` (0-based)."""
    if config.schedule == "constant":
        return 1.0
    if step < config.warmup_steps:
        return (step + 1) / config.warmup_steps
    return cosine(min(1.0, (step - config.warmup_steps) / max(1, config.steps - config.warmup_steps)))


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


def _next_draw(sample: SessionSampler, rng: np.random.Generator, config: TrainConfig, frames: int):
    """The next draw of the stream (a planning state with probability ``plan_share``) and its LM weight."""
    session = sample(rng)
    if config.plan_share > 0 and rng.random() < config.plan_share:
        return make_plan_draw(session, rng, frames, config.max_stems, flat_share=config.flat_share), config.plan_lm_weight
    return make_draw(session, rng, frames, config.max_stems, flat_share=config.flat_share), config.lm_weight


def _llm_stage(alm: ALM, sample: SessionSampler, valid_set: list[CorpusSession], config: TrainConfig,
               rng: np.random.Generator, log: Callable[[str], None], history: list[dict], started: float) -> tuple[str, bool]:
    """The stage with the LLM: ``steps`` optimiser steps of ``draws_per_step`` draws (balance or planning) per
    process, validated and checkpointed every ``valid_every`` steps by the main process. (device, is main process).

    Under ``accelerate launch --num_processes N`` every process draws the same stream (same seed) and trains on
    its own N-th of it (draw k goes to process k mod N: no overlap); the forward runs through the prepared model,
    so DistributedDataParallel averages the gradients and every process holds the same weights after each step.
    """
    from accelerate import Accelerator, DataLoaderConfiguration, DistributedDataParallelKwargs  # lazy: torch.distributed

    accelerator = Accelerator(gradient_accumulation_steps=config.draws_per_step, cpu=not torch.cuda.is_available(),
                              mixed_precision=config.mixed_precision,
                              dataloader_config=DataLoaderConfiguration(split_batches=True),  # one LR step a step
                              kwargs_handlers=[DistributedDataParallelKwargs(find_unused_parameters=True)])
    optimiser = _optimiser(alm, config)
    scheduler = torch.optim.lr_scheduler.LambdaLR(optimiser, lambda step: lr_factor(config, step))
    model, optimiser, scheduler = accelerator.prepare(alm, optimiser, scheduler)
    ranks, rank, main = accelerator.num_processes, accelerator.process_index, accelerator.is_main_process
    _log_rank(config, alm, rank, 0)
    model.train()
    for step in range(1, config.steps + 1):
        maes, taken = [], []
        for k in range(config.draws_per_step * ranks):
            draw, weight = _next_draw(sample, rng, config, alm.cfg.frames)
            if k % ranks != rank:
                continue
            taken.append((step - 1) * config.draws_per_step * ranks + k)
            with accelerator.accumulate(model):
                loss, mae = draw_loss(model, draw, weight, alm)
                accelerator.backward(loss)
                optimiser.step()
                scheduler.step()
                optimiser.zero_grad()
                maes.append(mae)
        _log_rank(config, alm, rank, step, taken)
        record = {"step": step, "train_mae_db": round(float(np.mean(maes)), 3),
                  "elapsed_s": round(time.perf_counter() - started, 1)}
        if main and (step % config.valid_every == 0 or step == config.steps):
            alm.eval()
            record.update(_validation_record(alm, valid_set, config))
            model.train()
            save_checkpoint(alm, Path(config.out), {"config": asdict(config), "history": history + [record]})
        accelerator.wait_for_everyone()
        history.append(record)
        if main:
            log(json.dumps(record))
    alm.eval()
    return str(accelerator.device), main


def _log_rank(config: TrainConfig, alm: ALM, rank: int, step: int, draws: list[int] | None = None) -> None:
    """With ``rank_log``: this process's trainable weights' sha256 after ``step`` and the positions in the draw
    stream it trained on, a line in out/rank-<rank>.jsonl (the test that the processes stay in sync reads them)."""
    if not config.rank_log:
        return
    digest = hashlib.sha256()
    for name, p in sorted(alm.named_parameters()):
        if p.requires_grad:
            digest.update(name.encode() + p.detach().cpu().float().numpy().tobytes())
    Path(config.out).mkdir(parents=True, exist_ok=True)
    with open(Path(config.out) / f"rank-{rank}.jsonl", "a", encoding="utf-8") as f:
        f.write(json.dumps({"step": step, "rank": rank, "sha256": digest.hexdigest(), "draws": draws or []}) + "\n")


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
    device, main = _llm_stage(alm, sample, valid_set, config, rng, log, history, started)
    summary = {"config": asdict(config), "history": history, "wall_s": round(time.perf_counter() - started, 1),
               "device": device, "train_sessions": len(train_set), "valid_sessions": len(valid_set),
               "draws_per_source": sample.shares()}
    if main:  # one process writes the checkpoint
        save_checkpoint(alm, Path(config.out), summary)
    return summary
