"""The memory bound and the room for decoded stems: a session that would not fit is refused before any decoding.

Stems are decoded into files of a temporary folder and read from there a
stretch at a time (tools/stem_store.py: each stretch's pages leave the process
once measured), so what a process holds of the audio grows with neither the
number of stems nor, stem by stem, the song's length. The mix is kept beside
the decoded stems and let go of the same way (tools/render.mix_down), and so
are each stem's analyses kept for the session (log-mel and band levels,
:data:`ANALYSIS_SHARE` of a stem's worth on disk; walked a stem or a stretch at
a time), a stem's worth being 8 bytes per frame: float32 stereo at the
session's rate, the longest stem's length. What grows with the audio in memory
is what a walk over every stem keeps per frame (the listener's count of stems
playing, a masking stretch's sums: :data:`WALK_SHARE` of a stem's worth per
stem), and room (:data:`WORKING_STEMS` stems' worth). Beside the audio a
process holds the program (:data:`PROGRAM_BYTES`) and the models its command
loads, which the command names (:data:`ModelsHeld`: anchormix/roles.py models_held;
the name reader only when a name needs it). ``ANCHORMIX_MAX_MEMORY_GB``
(default 8) bounds the sum, the peak of the process; the temporary folder
(``$TMPDIR``) must have room for every stem decoded, its analyses and
:data:`MIXES_ON_DISK` mixes. tools/session.py checks both from the files' headers and the names.
"""

from __future__ import annotations

import os
import shutil
import tempfile
from pathlib import Path
from typing import Callable, Mapping

__all__ = ["max_session_bytes", "check_memory_bound", "working_bytes", "WORKING_STEMS", "ANALYSIS_SHARE",
           "BYTES_PER_FRAME", "MIXES_ON_DISK", "WALK_SHARE", "PROGRAM_BYTES", "ModelsHeld", "charged_bytes"]

# The interpreter and the libraries a balance imports, no model loaded: 0.17-0.23 GB measured (benchmarks/scale.py's
# rules at 8 tracks; tests/test_memory.py holds a balance's whole peak under the charge).
PROGRAM_BYTES = int(0.3e9)
# What a command's models hold beside the audio, by what each is, given the session's role sources (stem -> where
# its role came from: "unknown" where no pattern read the name); charged before decoding.
ModelsHeld = Callable[[Mapping[str, str]], Mapping[str, int]]

BYTES_PER_FRAME = 8  # float32 stereo
# Stems' worth of audio a balance holds at once beyond the analyses, whatever the session's size: room for the
# stretches in hand, the report's page and the allocator (tests/test_memory.py measures 0.3 as a song grows, and
# `balance --report` 0.75-1.0 with its page, from run to run; 1.3 when the mix was held).
WORKING_STEMS = 1.5
# Mixes kept beside the decoded stems at once, each a stem's worth on disk (tools/render.mix_down): the report's two.
MIXES_ON_DISK = 2
# A stem's kept analyses as a share of its audio, on disk beside it: 64 log-mel bands a 1024-1152-sample hop and 28
# band levels a 2048-sample hop, float32 (0.3 bytes a frame, 3.8 % of 8).
ANALYSIS_SHARE = 0.04
# What a walk over every stem's analyses keeps in memory per stem, as a share of its audio: a float64 sum per log-mel
# frame (0.008 bytes a frame, 0.1 % of 8), and as much again for the allocator.
WALK_SHARE = 0.002


def working_bytes(frames: float, stems: int) -> int:
    """What balancing ``stems`` stems of ``frames`` frames holds in memory at once (beyond the program and models)."""
    return int(frames * BYTES_PER_FRAME * (WORKING_STEMS + WALK_SHARE * stems))


def charged_bytes(frames: float, stems: int, models: Mapping[str, int] = {}) -> int:
    """The peak the bound charges a process balancing ``stems`` stems of ``frames`` frames with ``models`` loaded."""
    return PROGRAM_BYTES + sum(models.values()) + working_bytes(frames, stems)


def max_session_bytes() -> int:
    """The memory bound of one session's audio (``ANCHORMIX_MAX_MEMORY_GB``, default 8 GB)."""
    raw = os.environ.get("ANCHORMIX_MAX_MEMORY_GB", "8")
    try:
        value = float(raw)
    except ValueError:
        raise ValueError(f"ANCHORMIX_MAX_MEMORY_GB: expected a number of GB, got '{raw}'") from None
    return int(value * 1e9)


def check_memory_bound(path: Path, frames: dict[Path, float], sample_rate: int, models: Mapping[str, int] = {}) -> None:
    """Refuse, before decoding, a session whose balance would pass the memory bound (the program, ``models``: what
    the command's models hold, and the working audio), or whose decoded stems would not fit the temporary folder's
    disk; ``frames``: each stem's length at the session's rate, by its (first) file."""
    longest = max(frames.values())
    biggest = max(frames, key=frames.get)
    audio = working_bytes(longest, len(frames))
    need = charged_bytes(longest, len(frames), models)
    bound = max_session_bytes()
    if need > bound:
        held = "".join(f", {what} {nbytes / 1e9:.2f} GB" for what, nbytes in models.items())
        raise ValueError(
            f"{biggest}: {longest / sample_rate / 60:.1f} min at {sample_rate} Hz; balancing {len(frames)} stems that "
            f"long holds {need / 1e9:.1f} GB in memory at once: the program {PROGRAM_BYTES / 1e9:.2f} GB{held}, and "
            f"the audio {audio / 1e9:.2f} GB ({WALK_SHARE:.1%} of a stem's worth per stem for the analyses, a stem's "
            f"worth being float32 stereo, 8 bytes per frame, and {WORKING_STEMS} stems' worth of room), over the "
            f"{bound / 1e9:.1f} GB bound of ANCHORMIX_MAX_MEMORY_GB; trim the stems or raise the bound")
    decoded = int(longest * BYTES_PER_FRAME * (len(frames) * (1 + ANALYSIS_SHARE) + MIXES_ON_DISK))
    folder = tempfile.gettempdir()
    free = shutil.disk_usage(folder).free
    if decoded > free:
        raise ValueError(
            f"{path}: {len(frames)} stems of {longest / sample_rate / 60:.1f} min decode to {decoded / 1e9:.1f} GB "
            f"with their analyses and the mixes kept beside them, and {folder} has {free / 1e9:.1f} GB free; point TMPDIR at a disk with "
            f"room for them")
