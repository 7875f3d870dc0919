"""The ALM's training config (YAML, model/conf/): every field checked, unknown keys an error naming the file."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from anchormix.model.alm.network import ALMConfig
from anchormix.model.config import read_config, strict_fields

__all__ = ["TrainConfig"]


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
    mixed_precision: str = "no"  # Accelerate's: "bf16" on a GPU that has it (model/conf/gpu.yaml)
    rank_log: bool = False  # each process logs its weights' sha256 per step to out/rank-<n>.jsonl (the sync test)
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
