"""The memory bound: a session whose decoded stems would not fit is refused before anything is decoded.

``ANCHORMIX_MAX_MEMORY_GB`` (default 8) bounds the decoded stems, 8 bytes per
frame per stem (float32 stereo at the session's rate, padded to the longest);
tools/session.py checks it from the files' headers.
"""

from __future__ import annotations

import os
from pathlib import Path

__all__ = ["max_session_bytes", "check_memory_bound"]


def max_session_bytes() -> int:
    """The memory bound of one session's audio (``ANCHORMIX_MAX_MEMORY_GB``, default 8 GB)."""
    raw = os.environ.get("ANCHORMIX_MAX_MEMORY_GB", "8")
    try:
        value = float(raw)
    except ValueError:
        raise ValueError(f"ANCHORMIX_MAX_MEMORY_GB: expected a number of GB, got '{raw}'") from None
    return int(value * 1e9)


def check_memory_bound(path: Path, frames: dict[Path, float], sample_rate: int) -> None:
    """Refuse, before decoding, a session whose stems would not fit the memory bound.

    Every stem is held as float32 stereo at the session rate, padded to the
    longest stem: 8 bytes per frame per stem. The bound applies to the decoded
    stems alone; a balance's peak grows by about twice that (measured 1.8-2x:
    the mix and a stem's measurements beside the stems; tests/test_memory.py).
    """
    longest = max(frames.values())
    need = int(longest * 8 * len(frames))
    bound = max_session_bytes()
    if need > bound:
        biggest = max(frames, key=frames.get)
        raise ValueError(
            f"{biggest}: {longest / sample_rate / 60:.1f} min at {sample_rate} Hz; {len(frames)} stems that long need "
            f"{need / 1e9:.1f} GB in memory as float32 stereo (8 bytes per frame per stem), over the "
            f"{bound / 1e9:.1f} GB bound of ANCHORMIX_MAX_MEMORY_GB; trim the stems or raise the bound")
