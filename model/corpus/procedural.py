"""Corpus sessions from the demo generator: exact reference balances, but synthetic (never the headline number)."""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Any

from anchormix.tools.demo import write_demo_session

from .manifest import split_of

__all__ = ["build_procedural_session"]


def build_procedural_session(out_root: Path, genre: str, seed: int, seconds: float = 30.0,
                             sample_rate: int = 22050) -> dict[str, Any]:
    """One demo-generator song at its reference balance; returns its manifest entry."""
    song_id = f"procedural-{genre}-{seed:04d}"
    folder = out_root / song_id
    if folder.exists():
        shutil.rmtree(folder)
    write_demo_session(folder, genre, seconds, seed, sample_rate)
    return {"id": song_id, "kind": "procedural", "split": split_of(song_id), "genre": genre, "anchor": "bass",
            "stems": 8, "null_db": None, "source": f"anchormix procedural demo ({genre}, seed {seed})",
            "licence": "CC0-1.0"}
