"""Which stem is the anchor: by name before anything is decoded, by ear when no name says bass.

The rule, in order (each with the line that says why, shown to the user):

1. ``--anchor NAME``, else session.json's ``anchor``: checked against the stems' names before decoding;
2. the one stem whose name reads as bass (several: the user chooses, before decoding);
3. by ear, once decoded: the lowest sustained stem, the one playing at least half of the song with the
   lowest spectral centroid (the module corpus's rule, model/corpus/modules.py). The model layer may
   refine it with the role tagger (the stem it hears as bass, most confident).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

__all__ = ["ACTIVE_DBFS", "BY_EAR", "anchor_by_name", "loudest_of_role", "activity", "centroid_hz", "lowest_sustained_stem"]

ACTIVE_DBFS = -60.0  # a second of a stem with RMS above this is "playing"
BY_EAR = "no stem is named bass"  # how the line of an anchor chosen by ear begins


def anchor_by_name(path: Path, names: list[str], roles: dict[str, str], anchor: str | None, where: Path) -> str | None:
    """The anchor the names decide (``anchor`` if given, else the one bass by name), or None when it is the ear's
    to choose. Raises ``ValueError`` naming ``where`` for a name that is not a stem, or several basses."""
    if anchor is not None:
        if anchor not in names:
            raise ValueError(f"{where}: anchor '{anchor}' is not a stem of this session; stems: {', '.join(names)}")
        return anchor
    basses = [n for n in names if roles[n] == "bass"]
    if len(basses) > 1:
        raise ValueError(f"{path}: the anchor defaults to the bass stem, but the session has {len(basses)} bass stems "
                         f"({', '.join(basses)}); choose one with --anchor NAME (stems: {', '.join(names)})")
    return basses[0] if basses else None


def loudest_of_role(names: list[str], roles: dict[str, str], lufs, role: str) -> str | None:
    """The loudest audible stem of ``role`` (integrated loudness ``lufs[name]``), None when none is: the anchor of an
    evaluation or a fit against that role (e.g. the kick)."""
    found = [n for n in names if roles[n] == role and np.isfinite(lufs[n])]
    return max(found, key=lambda n: lufs[n]) if found else None


def activity(stems: dict[str, np.ndarray], sample_rate: int, full_scale: float = 1.0) -> np.ndarray:
    """``(stems, seconds)``: whether each stem plays in each second (RMS above :data:`ACTIVE_DBFS`)."""
    seconds = max(1, next(iter(stems.values())).shape[-1] // sample_rate)
    rows = []
    for audio in stems.values():
        blocks = audio[:, : seconds * sample_rate].reshape(audio.shape[0], -1, sample_rate)
        rms = np.sqrt(np.square(blocks, dtype=np.float64).mean(axis=(0, 2))) / full_scale
        rows.append(20 * np.log10(rms + 1e-12) > ACTIVE_DBFS)
    return np.array(rows)


def centroid_hz(audio: np.ndarray, sample_rate: int) -> float:
    """The spectral centroid of the whole stem (channels averaged)."""
    spectrum = np.abs(np.fft.rfft(audio.mean(axis=0, dtype=np.float64)))
    freqs = np.fft.rfftfreq(audio.shape[-1], 1.0 / sample_rate)
    return float((spectrum * freqs).sum() / max(spectrum.sum(), 1e-12))


def lowest_sustained_stem(stems: dict[str, np.ndarray], sample_rate: int, full_scale: float = 1.0) -> tuple[str, str]:
    """(stem, why): among the stems playing at least half of the song (else all), the lowest by spectral centroid."""
    shares = dict(zip(stems, activity(stems, sample_rate, full_scale).mean(axis=1)))
    sustained = [n for n, share in shares.items() if share >= 0.5] or list(stems)
    centroids = {n: centroid_hz(stems[n], sample_rate) for n in sustained}
    best = min(sustained, key=centroids.get)
    return best, (f"{BY_EAR}; '{best}' is the lowest sustained stem (spectral centroid "
                  f"{centroids[best]:.0f} Hz, playing {100 * shares[best]:.0f} % of the song)")
