"""Where the shipped weights live. No torch here: the command line checks for them before loading anything."""

from __future__ import annotations

from pathlib import Path

__all__ = ["DEFAULT_CHECKPOINT", "DEFAULT_INTENT_CHECKPOINT", "DEFAULT_NAMES_CHECKPOINT", "intervals_path", "ranges_path"]

_CHECKPOINTS = Path(__file__).with_name("checkpoints")
DEFAULT_CHECKPOINT = _CHECKPOINTS / "alm" / "alm.safetensors"  # the ALM (model card: checkpoints/alm/README.md)
DEFAULT_INTENT_CHECKPOINT = _CHECKPOINTS / "intent" / "intent.safetensors"  # the conversation's intent model
DEFAULT_NAMES_CHECKPOINT = _CHECKPOINTS / "names" / "names.safetensors"  # the name reader (track name -> role)


def intervals_path(checkpoint: str | Path) -> Path:
    """The 80 % intervals fitted for a checkpoint, beside it (model/intervals.py)."""
    return Path(checkpoint).with_name("intervals.json")


def ranges_path(checkpoint: str | Path) -> Path:
    """Each role's range against the bass in the checkpoint's training songs, beside it (model/intervals.py)."""
    return Path(checkpoint).with_name("ranges.json")
