"""Corpus sessions from General MIDI songs: the arranger's balance, rendered per instrument.

:func:`build_midi_session` renders one arrangement per instrument
(:mod:`anchormix.model.corpus.midi`) and keeps a fixed-length excerpt where most
stems play; the arranger's balance is the reference. The songs come from a
user's folder or from Debian's packages (:func:`debian_midi_dirs`); installing
those is the command line's job, not this module's.
"""

from __future__ import annotations

import re
import time
from pathlib import Path
from typing import Any

import numpy as np

from anchormix.tools.loudness import integrated_loudness

from .debian import licence_of
from .manifest import split_of, write_session
from .midi import find_soundfont, read_events, render_midi, split_stems

__all__ = ["build_midi_session", "DEBIAN_MIDI_PACKAGES", "missing_debian_packages", "debian_midi_dirs",
           "infer_genre"]

NULL_WARN_DB = -30.0  # the sum of stems should null against the full render at least this far
# Debian packages that ship General MIDI music, and where.
DEBIAN_MIDI_PACKAGES = {
    "openttd-openmsx": "/usr/share/games/openttd/baseset/openmsx",
    "simutrans-data": "/usr/share/games/simutrans/music",
    "planetblupi-music-midi": "/usr/share/planetblupi/music",
    "freedink-data": "/usr/share/games/dink/dink/Sound",
}
# File-name words -> genre (every genre is one of tools/conventions.py's GENRES).
_GENRE_WORDS = (
    ("ragtime", r"\brag\b|ragtime"), ("blues", r"blues"), ("jazz", r"jazz|swing|bebop|boogi|bossa"),
    ("rock", r"rock"), ("waltz", r"waltz"), ("march", r"march"), ("latin", r"tango|samba|salsa|latin|rumba|mambo"),
    ("funk", r"funk"), ("country", r"country|bluegrass"), ("electronic", r"techno|trance|house|disco"),
    ("classical", r"sonata|fugue|minuet|menuet|concerto|prelude"), ("pop", r"\bpop\b"),
)


def infer_genre(name: str) -> str:
    text = re.sub(r"[_\-.]+", " ", name.lower())
    return next((genre for genre, pattern in _GENRE_WORDS if re.search(pattern, text)), "unknown")


def _slug(text: str) -> str:
    return re.sub(r"[^\w]+", "_", text).strip("_").lower()[:60] or "song"


def missing_debian_packages() -> list[str]:
    """The Debian packages ``data midi --debian`` needs that are not installed: the renderer, then the music."""
    tools = [p for p, f in (("fluidsynth", "/usr/bin/fluidsynth"),
                            ("fluid-soundfont-gm", "/usr/share/sounds/sf2/FluidR3_GM.sf2")) if not Path(f).exists()]
    return tools + [p for p, d in DEBIAN_MIDI_PACKAGES.items() if not Path(d).is_dir()]


def debian_midi_dirs() -> list[tuple[str, Path]]:
    """(package, folder) of the Debian MIDI packages that are installed."""
    return [(p, Path(d)) for p, d in DEBIAN_MIDI_PACKAGES.items() if Path(d).is_dir()]


def _best_window(onsets: list[list[float]], duration_s: float, seconds: float) -> float:
    """Start (s) of the ``seconds`` window where the most stems play most of the time (1 s grid)."""
    grid = int(np.ceil(duration_s)) + 1
    active = np.zeros((len(onsets), grid))
    for i, times in enumerate(onsets):
        for t in times:  # a stem counts as playing for 2 s after each onset
            active[i, int(t) : int(t) + 2] = 1.0
    per_second = active.sum(axis=0)
    width = int(seconds)
    if grid <= width:
        return 0.0
    scores = np.convolve(per_second, np.ones(width), "valid")
    return float(np.argmax(scores))


def build_midi_session(midi_path: Path, out_root: Path, soundfont: Path | None = None, seconds: float = 30.0,
                       sample_rate: int = 22050, package: str | None = None) -> dict[str, Any]:
    """Render one MIDI file into a session folder; returns its manifest entry (raises ValueError to skip)."""
    started = time.perf_counter()
    events = read_events(midi_path)
    specs = split_stems(events)
    if not specs:
        raise ValueError(f"{midi_path}: no notes")
    duration = max(t for t, _, _ in events)
    start = _best_window([s.onsets_s for s in specs], duration, seconds)
    end = min(duration, start + seconds)
    rendered, full = render_midi(events, specs, find_soundfont(soundfont), sample_rate, end, midi_path)
    cut = slice(int(start * sample_rate), int((start + seconds) * sample_rate))
    full = full[:, cut]
    stems = {n: a[:, cut] for n, a in rendered.items()}
    residual = full - np.sum(list(stems.values()), axis=0)
    energy = max(float((full.astype(np.float64) ** 2).sum()), 1e-20)
    null_db = max(-200.0, float(10 * np.log10(max(float((residual.astype(np.float64) ** 2).sum()), 1e-30) / energy)))
    lufs = dict(zip(stems, integrated_loudness(np.stack(list(stems.values())), sample_rate)))
    roles = {s.name: s.role for s in specs}
    active = [n for n in stems if np.isfinite(lufs[n])]
    basses = sorted((n for n in active if roles[n] == "bass"), key=lambda n: -lufs[n])
    kicks = sorted((n for n in active if roles[n] == "kick"), key=lambda n: -lufs[n])
    if not (basses or kicks) or len(active) < 2:
        raise ValueError(f"{midi_path}: needs a bass or kick stem and two audible stems in the excerpt")
    anchor = (basses or kicks)[0]
    song_id = f"{package or 'midi'}-{_slug(midi_path.stem)}"
    meta = {
        "anchor": anchor,
        "genre": infer_genre(midi_path.stem),
        "reference_lu": {n: round(float(lufs[n] - lufs[anchor]), 2) for n in active},
        "source": f"{midi_path} (rendered per instrument with FluidSynth, excerpt {start:.0f}-{start + seconds:.0f} s)",
        "licence": licence_of(midi_path),
        "notes": f"null test {null_db:.1f} dB",
    }
    write_session(out_root / song_id, {n: stems[n] for n in active}, {n: roles[n] for n in active}, sample_rate, meta)
    return {"id": song_id, "kind": "midi", "split": split_of(song_id), "genre": meta["genre"], "anchor": anchor,
            "stems": len(active), "null_db": round(null_db, 1), "source": str(midi_path), "licence": meta["licence"],
            "mtime_ns": midi_path.stat().st_mtime_ns, "seconds": round(time.perf_counter() - started, 1)}
