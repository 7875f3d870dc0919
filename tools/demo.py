"""Procedural demo sessions: short songs with drums, bass, keys, pad, lead and a sung line.

Each genre preset fixes tempo, key, chord progression, drum and bass patterns;
its *reference balance* (every stem's loudness relative to the bass, in LU) is the
genre's in :data:`~anchormix.tools.conventions.GENRE_REFERENCE_LU`.
The generator renders each stem, sets it to exactly that balance (measured with
:func:`~anchormix.tools.loudness.integrated_loudness`), and records the balance
in ``session.json`` as ``reference_lu``, so a balance made later can be scored.
``offsets_db`` then spoils the levels on purpose for demos and tests.
"""

from __future__ import annotations

import json
import os
import shutil
import tempfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from . import synth
from .audio import write_audio_atomic
from .conventions import GENRE_REFERENCE_LU
from .loudness import integrated_loudness
from .true_peak import true_peak_dbtp
from .session import SESSION_FILE

__all__ = ["PRESETS", "GenrePreset", "generate_stems", "write_demo_session"]

_MAJOR, _MINOR = (0, 2, 4, 5, 7, 9, 11), (0, 2, 3, 5, 7, 8, 10)
_BASS_LUFS = -20.0  # where the anchor sits before the mix ceiling is applied
_PAN = {"kick": 0.0, "snare": 0.05, "hats": 0.35, "bass": 0.0, "keys": -0.35, "pad": 0.0, "lead": 0.3, "vocals": 0.0}


@dataclass(frozen=True)
class GenrePreset:
    name: str
    tempo_bpm: float
    root: int  # MIDI note of the key's tonic in the bass octave
    minor: bool
    progression: tuple[int, ...]  # scale degree (0-based) of each bar's chord
    kick: str  # 16 steps per bar: 'x' hit
    snare: str
    hats: str  # 'x' closed, 'o' open
    bass: str  # 'x' a new bass note on the chord root
    keys: str  # 'x' a keys chord stab

    @property
    def reference_lu(self) -> dict[str, float]:
        """The genre's reference balance, LU vs. the bass (tools/conventions.py)."""
        return GENRE_REFERENCE_LU[self.name]


PRESETS: dict[str, GenrePreset] = {
    p.name: p
    for p in (
        GenrePreset("pop", 104, 36, False, (0, 4, 5, 3), "x.......x.x.....", "....x.......x...", "x.x.x.x.x.x.x.x.",
                    "x..x..x.x..x..x.", "..x...x...x...x."),
        GenrePreset("edm", 124, 33, True, (0, 5, 2, 6), "x...x...x...x...", "....x.......x...", "..o...o...o...o.",
                    ".xx..xx..xx..xx.", "x..x..x...x..x.."),
        GenrePreset("hiphop", 88, 38, True, (0, 0, 5, 4), "x.....x...x.....", "....x.......x...", "x.xxx.x.x.xxx.x.",
                    "x.....x...x.....", "x.......x......."),
        GenrePreset("ballad", 72, 41, False, (0, 5, 3, 4), "x.........x.....", "....x.......x...", "x...x...x...x...",
                    "x.......x.......", "x...x...x...x..."),
    )
}


def _chord(preset: GenrePreset, degree: int, octave_up: int) -> list[int]:
    scale = _MINOR if preset.minor else _MAJOR
    notes = []
    for step in (0, 2, 4):
        d = degree + step
        notes.append(preset.root + 12 * octave_up + scale[d % 7] + 12 * (d // 7))
    return notes


def _place(track: np.ndarray, sound: np.ndarray, start: int) -> None:
    end = min(len(track), start + len(sound))
    if start < end:
        track[start:end] += sound[: end - start]


def generate_stems(genre: str = "pop", seconds: float = 12.0, seed: int = 0, sample_rate: int = 44100) -> dict[str, np.ndarray]:
    """Render every stem of a song at the preset's reference balance, stereo float32 ``(2, samples)``."""
    if genre not in PRESETS:
        raise ValueError(f"unknown genre '{genre}'; choose from {', '.join(PRESETS)}")
    preset, rng, sr = PRESETS[genre], np.random.default_rng(seed), sample_rate
    step = 60.0 / preset.tempo_bpm / 4  # one 16th note, seconds
    bars = int(np.ceil(seconds / (16 * step)))
    n = int(seconds * sr)
    tracks = {name: np.zeros(n + sr, dtype=np.float32) for name in _PAN}
    scale = _MINOR if preset.minor else _MAJOR
    for bar in range(bars):
        degree = preset.progression[bar % len(preset.progression)]
        bar_start = bar * 16 * step
        at = lambda s: int((bar_start + s * step) * sr)  # noqa: E731 - sample index of step s in this bar
        for s in range(16):
            if preset.kick[s] == "x":
                _place(tracks["kick"], synth.kick(sr, rng), at(s))
            if preset.snare[s] == "x":
                _place(tracks["snare"], synth.snare(sr, rng), at(s))
            if preset.hats[s] in "xo":
                _place(tracks["hats"], synth.hat(sr, rng, preset.hats[s] == "o") * rng.uniform(0.7, 1.0), at(s))
        hits = [s for s in range(16) if preset.bass[s] == "x"] + [16]
        root = _chord(preset, degree, 0)[0]
        for s, nxt in zip(hits[:-1], hits[1:]):
            _place(tracks["bass"], synth.bass_note(root, (nxt - s) * step * 0.9, sr), at(s))
        chord = _chord(preset, degree, 2)
        for s in (s for s in range(16) if preset.keys[s] == "x"):
            _place(tracks["keys"], synth.keys_note(chord, 4 * step, sr), at(s))
        _place(tracks["pad"], synth.pad_chord(_chord(preset, degree, 1), 16 * step, sr), at(0))
        # Lead: a counter-line of chord tones and passing notes, answering the voice.
        for s in range(0, 16, 2):
            if rng.random() < (0.35 if bar % 4 < 3 else 0.8):
                note = preset.root + 36 + scale[(degree + rng.choice([0, 2, 4, 1])) % 7]
                _place(tracks["lead"], synth.lead_note(int(note), 2 * step * 0.9, sr), at(s))
        # Voice: three-bar phrases of quarter and eighth notes, one bar of breath.
        if bar % 4 != 3:
            s = 0
            while s < 16:
                length = int(rng.choice([2, 4, 4, 6]))
                note = preset.root + 24 + scale[(degree + rng.choice([0, 2, 4, 2, 0])) % 7]
                vowel = int(rng.integers(len(synth.VOWELS)))
                _place(tracks["vocals"], synth.vocal_note(int(note), min(length, 16 - s) * step * 0.95, vowel, sr, rng), at(s))
                s += length
    stems = {}
    for name, mono in tracks.items():
        theta = (_PAN[name] + 1.0) * np.pi / 4.0  # constant-power pan
        stems[name] = np.stack([np.cos(theta) * mono[:n], np.sin(theta) * mono[:n]]).astype(np.float32)
    return _set_balance(stems, preset.reference_lu, sr)


def _set_balance(stems: dict[str, np.ndarray], reference_lu: dict[str, float], sr: int) -> dict[str, np.ndarray]:
    """Scale stems to ``_BASS_LUFS + reference_lu[name]``, then lower all equally if the mix would pass -1 dBTP."""
    names = list(stems)
    lufs = integrated_loudness(np.stack([stems[n] for n in names]), sr)
    out = {n: stems[n] * np.float32(10 ** ((_BASS_LUFS + reference_lu[n] - l) / 20)) for n, l in zip(names, lufs)}
    peak = true_peak_dbtp(np.sum(list(out.values()), axis=0), sr)
    headroom = min(0.0, -3.0 - peak)  # leave room for the balancing moves to come
    return {n: a * np.float32(10 ** (headroom / 20)) for n, a in out.items()}


def write_demo_session(
    folder: str | Path,
    genre: str = "pop",
    seconds: float = 12.0,
    seed: int = 0,
    sample_rate: int = 44100,
    offsets_db: dict[str, float] | None = None,
) -> Path:
    """Write a demo session (``<stem>.wav`` + ``session.json``) into ``folder``, which must be new or empty.

    ``offsets_db`` moves stems away from the reference balance; ``session.json``
    still records the reference balance as ``reference_lu`` (LU vs. the bass).
    """
    folder = Path(folder)
    if folder.exists() and any(folder.iterdir()):
        raise ValueError(f"{folder}: folder is not empty; the demo generator only writes into a new folder")
    offsets_db = offsets_db or {}
    unknown = sorted(set(offsets_db) - set(_PAN))
    if unknown:
        raise ValueError(f"offsets_db names unknown stems {unknown}; stems: {', '.join(_PAN)}")
    stems = generate_stems(genre, seconds, seed, sample_rate)
    # Build the whole session in a hidden sibling, then rename: never a half-written session.
    folder.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f".{folder.name}.", dir=folder.parent))
    try:
        for name, audio in stems.items():
            gain = np.float32(10 ** (offsets_db.get(name, 0.0) / 20))
            write_audio_atomic(staging / f"{name}.wav", audio * gain, sample_rate)
        meta = {
            "anchor": "bass",
            "genre": genre,
            "roles": {name: name for name in stems},
            "reference_lu": {n: v - PRESETS[genre].reference_lu["bass"] for n, v in PRESETS[genre].reference_lu.items()},
            "source": f"anchormix procedural demo ({genre}, seed {seed})",
            "licence": "CC0-1.0",
        }
        (staging / SESSION_FILE).write_text(json.dumps(meta, indent=2) + "\n", encoding="utf-8")
        if folder.exists():
            folder.rmdir()  # checked empty above
        os.rename(staging, folder)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    return folder
