"""What a DAW session needs of each stem: its audio file as the DAW will read it, its fader gain, its advice.

A stem's source file is referenced where it lies when the DAW can play it as it
is: WAV, FLAC or AIFF, mono or stereo, at the session's rate (a mono file plays
on both sides at unity, as anchormix hears it). Anything else (another rate, MP3,
Ogg, more channels) is written once as the stereo stem anchormix measured, a
WAV in the output folder that both DAWs' sessions reference. Sources are never
moved or changed.
"""

from __future__ import annotations

import math
import os
import unicodedata
import shutil
import tempfile
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Iterator

import numpy as np

from ..audio import probe_audio, write_audio_atomic
from ..session import Session

__all__ = ["DawStem", "DawTrack", "DawProject", "daw_stems", "PLAYABLE", "staged_folder", "anchor_mark", "strip_anchor_mark", "db",
           "level_db", "safe_name", "split_gain"]

PLAYABLE = (".wav", ".flac", ".aif", ".aiff")  # what both DAWs read as they are (libsndfile)


@dataclass(frozen=True)
class DawTrack:
    """A track read from a DAW session: its name, its source files (one, or one mono file per channel), its level
    (fader + trim + region gain, dB) and its fader alone."""

    name: str
    files: tuple[Path, ...]
    level_db: float
    fader_db: float


@dataclass
class DawProject:
    """A DAW session read: ``kind`` ("ardour" or "reaper"), its file, its tracks, and tracks left out (why)."""

    kind: str
    path: Path
    tracks: list[DawTrack]
    skipped: list[str] = field(default_factory=list)


def anchor_mark(name: str, is_anchor: bool) -> str:
    """The track name anchormix gives a stem: "<stem> (anchor)" for the anchor's."""
    return f"{name} (anchor)" if is_anchor else name


def safe_name(text: str) -> str:
    """``text`` as both DAW formats can hold it: control characters (a newline would end an RPP line, an ESC is not
    allowed in XML 1.0) and non-characters become "_"; everything else is kept."""
    return "".join("_" if unicodedata.category(c) in ("Cc", "Cs") or c in "\ufffe\uffff\u2028\u2029" else c
                   for c in text)


def split_gain(gain_db: float, fader_max_db: float, rest_max_db: float, where: str) -> tuple[float, float]:
    """A track's gain as (fader, rest), both dB: the fader up to what the DAW allows, the rest for a second gain
    stage of the same track (Ardour's trim, REAPER's item volume), so the DAW plays the gain the mix got instead of
    clamping it. ``ValueError`` naming ``where`` when even both cannot hold it."""
    if gain_db <= fader_max_db:
        return gain_db, 0.0
    if gain_db - fader_max_db > rest_max_db:
        raise ValueError(f"{where}: a gain of {gain_db:+.1f} dB is more than the DAW can give one track "
                         f"({fader_max_db + rest_max_db:+.0f} dB)")
    return fader_max_db, gain_db - fader_max_db


def strip_anchor_mark(name: str) -> str:
    """A track name without the " (anchor)" anchormix gives the anchor's track."""
    return name.removesuffix(" (anchor)")


def db(linear: float | str) -> float:
    """A linear gain factor in dB (silence: -inf)."""
    value = float(linear)
    return 20.0 * math.log10(value) if value > 0 else float("-inf")


def level_db(text: str, path: Path, track: str, what: str, max_db: float) -> float:
    """A gain the DAW file gives as a linear factor, in dB: a number from 0 (-inf, all the way down) up to what the
    DAW itself allows (``max_db``); ``ValueError`` naming the file, the track and the value otherwise."""
    try:
        value = float(text)
    except (TypeError, ValueError):
        raise ValueError(f"{path}: track '{track}': {what} '{text}' is not a number") from None
    if not math.isfinite(value) or value < 0 or db(value) > max_db + 0.01:
        raise ValueError(f"{path}: track '{track}': {what} {text} is outside what the DAW allows "
                         f"(0 to {10 ** (max_db / 20):.4g}, i.e. -inf to {max_db:+.0f} dB)")
    return db(value)


@dataclass(frozen=True)
class DawStem:
    """One track: ``name`` (as both formats can hold it: :func:`safe_name`), ``file`` (absolute; ``frames`` long at
    the session's rate, ``channels`` 1 or 2), ``gain_db`` on its fader, ``note`` its advice."""

    name: str
    file: Path
    frames: int
    channels: int
    gain_db: float
    is_anchor: bool
    note: str = ""


def daw_stems(session: Session, gains_db: dict[str, float], notes: dict[str, str], copies: Path) -> list[DawStem]:
    """The session's stems as tracks; a stem the DAWs cannot play as it is gets a WAV copy in ``copies``."""
    stems = []
    if len({safe_name(n) for n in session.names}) < len(session.names):
        raise ValueError(f"{session.path}: two stem names differ only in control characters; rename one")
    for name in session.names:
        source = session.files[name].resolve()
        info = probe_audio(source)
        fader = session.faders_db.get(name, 0.0)  # a DAW session's level, already in the stem as loaded
        if (source.suffix.lower() in PLAYABLE and info.channels in (1, 2) and info.sample_rate == session.sample_rate
                and name not in session.channel_files and safe_name(str(source)) == str(source)):
            file, frames, channels = source, int(info.frames), info.channels
        else:  # a copy the DAWs can play, under a name both formats can hold
            file, frames, channels = copies / f"{safe_name(name)}.wav", session.num_samples, 2
            copies.mkdir(parents=True, exist_ok=True)
            write_audio_atomic(file, session.stems[name] * np.float32(10 ** (-fader / 20)), session.sample_rate)
        stems.append(DawStem(safe_name(name), file, frames, channels, fader + float(gains_db.get(name, 0.0)),
                             name == session.anchor, notes.get(name, "")))
    return stems


@contextmanager
def staged_folder(target: Path) -> Iterator[Path]:
    """A fresh folder beside ``target`` to fill; on success it replaces ``target`` (a reader never sees half of it)."""
    target.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f".{target.name}.part", dir=target.parent))
    try:
        yield staging
        os.chmod(staging, 0o755)
        old = target.with_name(f".{target.name}.old")
        if target.exists():
            shutil.rmtree(old, ignore_errors=True)
            target.rename(old)
        staging.rename(target)
        shutil.rmtree(old, ignore_errors=True)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
