"""Where the shipped weights live, and what each holds in memory once loaded. No torch here: the command line checks
for them, and the memory bound charges them (anchormix/roles.py: models_held), before loading anything."""

from __future__ import annotations

from pathlib import Path

__all__ = ["DEFAULT_CHECKPOINT", "DEFAULT_INTENT_CHECKPOINT", "DEFAULT_NAMES_CHECKPOINT", "intervals_path",
           "ranges_path", "BACKBONE_BYTES", "ALM_BYTES", "NAMES_BYTES", "INTENT_BYTES"]

_CHECKPOINTS = Path(__file__).with_name("checkpoints")
DEFAULT_CHECKPOINT = _CHECKPOINTS / "alm" / "alm.safetensors"  # the ALM (model card: checkpoints/alm/README.md)
DEFAULT_INTENT_CHECKPOINT = _CHECKPOINTS / "intent" / "intent.safetensors"  # the conversation's intent model
DEFAULT_NAMES_CHECKPOINT = _CHECKPOINTS / "names" / "names.safetensors"  # the name reader (track name -> role)

# Peak memory each adds to a balance, rounded up from benchmarks/scale.py (README, "At scale"): no model 0.17-0.23 GB,
# the name reader and the role tagger 1.0-1.1, the ALM and its advice writer 1.05, all of them 1.15, at 1 minute. One
# copy of the backbone (SmolLM2-135M in float32, and torch) serves them all; each adds its own adapters and heads.
BACKBONE_BYTES = int(0.8e9)
ALM_BYTES = int(0.25e9)  # the ALM's encoder, listener and heads, the advice writer's adapters
NAMES_BYTES = int(0.1e9)  # the name reader's adapters and head, and the role tagger
INTENT_BYTES = int(0.05e9)  # the intent model's adapters and head


def intervals_path(checkpoint: str | Path) -> Path:
    """The 80 % intervals fitted for a checkpoint, beside it (model/intervals.py)."""
    return Path(checkpoint).with_name("intervals.json")


def ranges_path(checkpoint: str | Path) -> Path:
    """Each role's range against the bass in the checkpoint's training songs, beside it (model/intervals.py)."""
    return Path(checkpoint).with_name("ranges.json")
