"""Saving and loading a learner's weights: one safetensors file, its config and notes in the metadata.

Every learner (the ALM, the advice writer, the role tagger, the intent model)
saves through :func:`save_weights` (atomic: a reader never sees half a file)
and loads through :func:`load_weights` (safetensors only: never a pickle from
disk). Metadata values are strings (safetensors' own rule); a learner keeps its
config there as JSON, so loading rebuilds it (nanoGPT's ``model_args``).
"""

from __future__ import annotations

from pathlib import Path

import torch
from safetensors import safe_open
from safetensors.torch import save_file

from anchormix.tools.audio import atomic_path

__all__ = ["save_weights", "load_weights"]


def save_weights(path: str | Path, tensors: dict[str, torch.Tensor], metadata: dict[str, str] | None = None) -> Path:
    """``tensors`` (made contiguous) and ``metadata`` into ``path``, atomically; the path."""
    path = Path(path)
    with atomic_path(path) as tmp:
        save_file({k: v.detach().contiguous() for k, v in tensors.items()}, str(tmp), metadata=metadata)
    return path


def load_weights(path: str | Path, missing: str) -> tuple[dict[str, torch.Tensor], dict[str, str]]:
    """(tensors, metadata) of the file at ``path``; ``ValueError`` naming it, with ``missing`` (how to make one),
    when there is none."""
    path = Path(path)
    if not path.is_file():
        raise ValueError(f"{path}: {missing}")
    with safe_open(str(path), framework="pt") as f:
        return {k: f.get_tensor(k) for k in f.keys()}, dict(f.metadata() or {})
