"""Gains and rendering: per-stem gain with Pedalboard, stereo sum, global trim, atomic output.

Gains are dB relative to the stems as loaded. The only level change applied to
the whole mix is one global trim that brings its true peak to
``CEILING_DBTP`` when it would exceed it; it moves every stem equally, so the
balance (every stem relative to the anchor) is exactly what the gains say.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Iterator

import numpy as np
from pedalboard import Gain

from .audio import check_output_path, write_audio_atomic
from .loudness import integrated_loudness
from .true_peak import true_peak_dbtp
from .session import Session
from .stem_store import BLOCK_FRAMES, let_go, scratch

__all__ = ["CEILING_DBTP", "Mix", "mix_down", "write_outputs"]

CEILING_DBTP = -1.0  # EBU R128 / streaming delivery ceiling


@dataclass(frozen=True)
class Mix:
    """A rendered stereo mix ``(2, samples)`` and what the trim did to reach it."""

    audio: np.ndarray
    sample_rate: int
    trim_db: float  # <= 0; applied to the whole mix
    true_peak_dbtp: float  # after trim
    lufs: float  # after trim


def _check_names(session: Session, gains_db: dict[str, float]) -> None:
    unknown = sorted(set(gains_db) - set(session.stems))
    if unknown:
        raise ValueError(f"unknown stems {unknown}; stems: {', '.join(session.stems)}")


def _gained(session: Session, gains_db: dict[str, float]) -> Iterator[tuple[str, np.ndarray]]:
    """Each stem at its gain (Pedalboard ``Gain``), one at a time (a session's worth of gained copies never exists
    at once)."""
    _check_names(session, gains_db)
    for name, audio in session.stems.items():
        yield name, Gain(gain_db=float(gains_db.get(name, 0.0)))(audio, session.sample_rate)


def mix_down(session: Session, gains_db: dict[str, float]) -> Mix:
    """Apply ``gains_db`` per stem, sum to stereo, trim to the ceiling. Memory: a block of the mix and one stem's.

    The mix is kept beside the decoded stems (:func:`~anchormix.tools.stem_store.scratch`) and, like them, let go of
    a stretch at a time, so a whole song of it is never held. The sum multiplies and adds in place with numpy: the
    same linear gain as Pedalboard's ``Gain`` (which writes the stems, :func:`write_outputs`), to float32 rounding,
    at a fraction of its cost on a whole song's buffer."""
    _check_names(session, gains_db)
    mix = scratch(session.stems, session.num_samples)
    gained = np.empty((2, BLOCK_FRAMES), dtype=np.float32)  # one block of one stem at its gain
    for number, name in enumerate(session.names):  # summed in stem order, as np.sum over the stack summed them
        audio, scale = session.stems[name], np.float32(10 ** (gains_db.get(name, 0.0) / 20))
        for start in range(0, mix.shape[1], BLOCK_FRAMES):  # a block at a time: no gained copy of a whole song
            span = slice(start, min(start + BLOCK_FRAMES, mix.shape[1]))
            if number == 0:
                np.multiply(audio[:, span], scale, out=mix[:, span])
            else:
                part = gained[:, : span.stop - span.start]
                np.add(mix[:, span], np.multiply(audio[:, span], scale, out=part), out=mix[:, span])
            let_go(audio, span.start, span.stop)
            let_go(mix, span.start, span.stop)
    peak = true_peak_dbtp(mix, session.sample_rate)
    trim_db = min(0.0, CEILING_DBTP - peak) if np.isfinite(peak) else 0.0
    if trim_db < 0.0:  # in place: no second copy of the song
        for start in range(0, mix.shape[1], BLOCK_FRAMES):
            np.multiply(mix[:, start:start + BLOCK_FRAMES], np.float32(10 ** (trim_db / 20)),
                        out=mix[:, start:start + BLOCK_FRAMES])
            let_go(mix, start, start + BLOCK_FRAMES)
    return Mix(
        audio=mix,
        sample_rate=session.sample_rate,
        trim_db=trim_db,
        true_peak_dbtp=peak + trim_db,
        lufs=integrated_loudness(mix, session.sample_rate),
    )


def _protected(session: Session) -> list[Path]:
    # The session folder and every source file, including symlink targets elsewhere.
    return [session.path.resolve(), *(f.resolve() for f in session.files.values())]


def write_outputs(
    session: Session,
    gains_db: dict[str, float],
    out_dir: str | Path,
    write_stems: bool = False,
) -> tuple[Mix, dict[str, Path]]:
    """Render and write ``mix.wav`` (and ``stems/<name>.wav`` at gain + trim) into ``out_dir`` atomically.

    Refuses an ``out_dir`` inside the session folder or on a source file.
    """
    protected = _protected(session)
    out_dir = check_output_path(out_dir, protected)  # fail before the work, not after
    mix = mix_down(session, gains_db)
    paths = {"mix": write_audio_atomic(out_dir / "mix.wav", mix.audio, mix.sample_rate, protected,
                                       written=lambda start, stop: let_go(mix.audio, start, stop))}
    if write_stems:
        trimmed = {n: g + mix.trim_db for n, g in ((n, gains_db.get(n, 0.0)) for n in session.stems)}
        for name, audio in _gained(session, trimmed):
            paths[name] = write_audio_atomic(out_dir / "stems" / f"{name}.wav", audio, mix.sample_rate, protected)
    return mix, paths
