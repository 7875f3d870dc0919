"""Audio features for the encoder, and their on-disk cache.

Log-mel power per stem, from the mid signal ``(L + R) / 2``: 64 mel bands
(Slaney-style triangular filters, 30 Hz - 10 kHz), 1024-point Hann frames with a
512-sample hop at 22.05 kHz (~23 ms). Values are dB of *absolute* power, not
normalised: the encoder must hear level. A gain of g dB shifts every value by
exactly g, so features at any gains are the cached ones plus the gains, except
at the -120 dB floor: silence stays at the floor whatever the gain
(:func:`shift_mel`), as it does when the moved audio itself is analysed. (Shifting
the floor too once let training read each draw's perturbation off the silent
bins, a cue real audio never gives.)

The cache holds one ``.npz`` per session (float16, no pickle) with a
fingerprint of the session's audio files; it is rebuilt when they change.
:func:`load_corpus` reads a corpus split back from it for training.
"""

from __future__ import annotations

import json
import weakref
from collections.abc import Iterable
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

import numpy as np

from anchormix.tools import load_session
from anchormix.tools.audio import atomic_path
from anchormix.tools.masking import stem_spectra
from anchormix.tools.session import SESSION_FILE, Session

from .corpus import find_sessions, load_manifest, song_features_path

__all__ = ["N_MELS", "FLOOR_DB", "DEEP_FLOOR_DB", "log_mel", "shift_mel", "cached_features", "session_features", "CorpusSession",
           "load_corpus", "listening_windows", "busiest_window", "audible_stems", "session_mels"]

N_MELS = 64
_N_FFT, _HOP, _FMIN, _FMAX = 1024, 512, 30.0, 10_000.0
FLOOR_DB = -120.0
DEEP_FLOOR_DB = -200.0  # digital silence (the 1e-20 power guard): log-mel computed to here keeps every quiet bin


def _hz_to_mel(hz):
    return 2595.0 * np.log10(1.0 + np.asarray(hz) / 700.0)


@lru_cache(maxsize=8)
def _mel_bank(sample_rate: int, n_fft: int) -> np.ndarray:
    """Triangular mel filters ``(N_MELS, n_fft // 2 + 1)``, area-normalised."""
    freqs = np.fft.rfftfreq(n_fft, 1.0 / sample_rate)
    edges_mel = np.linspace(_hz_to_mel(_FMIN), _hz_to_mel(min(_FMAX, sample_rate / 2)), N_MELS + 2)
    edges = 700.0 * (10 ** (edges_mel / 2595.0) - 1.0)
    lower, centre, upper = edges[:-2, None], edges[1:-1, None], edges[2:, None]
    bank = np.maximum(0.0, np.minimum((freqs - lower) / (centre - lower), (upper - freqs) / (upper - centre)))
    return (bank * (2.0 / (upper - lower))).astype(np.float32)


def log_mel(x, sample_rate: int, floor_db: float = FLOOR_DB) -> np.ndarray:
    """``x`` (stems, 2, samples), or a list of (2, samples) of one length -> log-mel dB ``(stems, N_MELS, frames)``
    float32, level preserved, clipped at ``floor_db`` (a caller that moves the levels afterwards asks for a deeper
    floor and clips after the move). One stem at a time (tools/masking.stem_spectra): memory is its frames."""
    n_fft = int(round(_N_FFT * sample_rate / 22050 / 256)) * 256 or 256  # ~46 ms at any rate
    energy = (np.hanning(n_fft).astype(np.float32) ** 2).sum()
    bank = _mel_bank(sample_rate, n_fft)
    used = np.flatnonzero(bank.any(axis=0))
    used = slice(int(used[0]), int(used[-1]) + 1)  # the bins under the filters (30 Hz - 10 kHz): no other is read
    return stem_spectra(x, n_fft, N_MELS,
                        lambda power: np.maximum(10.0 * np.log10(bank[:, used] @ (power / energy).T + 1e-20), floor_db),
                        used)


_SESSION_MEL: dict[int, dict[str, np.ndarray]] = {}  # id(session) -> stem -> its log-mel, while the session lives


def session_mels(session: Session, names: list[str] | None = None) -> list[np.ndarray]:
    """Each stem's whole-song log-mel ``(N_MELS, frames)`` of the stems ``names`` (every stem by default) at their
    loaded level, floored at :data:`DEEP_FLOOR_DB` (``np.maximum(mel, FLOOR_DB)`` is :func:`log_mel` at its own
    floor, exactly). Each stem is analysed once per session and kept while the session lives, so the role tagger (at
    load) and the ALM (when it listens) share one analysis; the stems are read one at a time. The arrays kept are
    what is returned, not copies: read them, do not write them (no stack of the session's is ever made)."""
    key = id(session)
    if key not in _SESSION_MEL:
        _SESSION_MEL[key] = {}
        weakref.finalize(session, _SESSION_MEL.pop, key, None)
    kept = _SESSION_MEL[key]
    names = session.names if names is None else names
    if missing := [n for n in names if n not in kept]:
        kept.update(zip(missing, log_mel(session.only(missing).arrays(), session.sample_rate, DEEP_FLOOR_DB)))
    return [kept[n] for n in names]


def shift_mel(mel: np.ndarray, gains_db: np.ndarray) -> np.ndarray:
    """Log-mel ``(S, n_mels, T)`` as it reads after per-stem gains ``(S,)`` dB: every value moves by its stem's
    gain, clipped at the floor, and what sat at the floor (silence, or below it) stays there."""
    gains = np.asarray(gains_db, dtype=np.float32)[:, None, None]
    return np.where(mel <= FLOOR_DB, FLOOR_DB, np.maximum(mel + gains, FLOOR_DB)).astype(np.float32)


def cached_features(session: Session, cache_dir: str | Path) -> np.ndarray:
    """Log-mel of every stem at the level it was loaded, from ``cache_dir`` or computed and stored there."""
    cache_dir = Path(cache_dir)
    path = cache_dir / f"{session.path.name}.npz"
    fingerprint = session.fingerprint()
    if path.exists():
        with np.load(path, allow_pickle=False) as data:
            if str(data["fingerprint"]) == fingerprint and list(data["names"]) == session.names:
                return data["mel"].astype(np.float32)
    mel = log_mel(session.arrays(), session.sample_rate)
    with atomic_path(path) as tmp:
        np.savez(tmp, mel=mel.astype(np.float16), names=np.array(session.names), fingerprint=np.array(fingerprint))
    return mel


def session_features(job: tuple[Path, Path]) -> str | None:
    """A worker's job (a process or a Ray task): the cached features of the session folder ``job[0]`` in the
    cache ``job[1]``; None, or one line naming what failed (a worker never raises)."""
    try:
        cached_features(load_session(job[0]), job[1])
    except (ValueError, OSError) as err:
        return f"{job[0]}: {err}"
    return None


@dataclass
class CorpusSession:
    """One corpus session as training reads it: no audio, only the cached features and the reference balance."""

    name: str
    genre: str
    names: list[str]
    roles: list[str]
    reference_lu: np.ndarray  # (S,) LU vs. the session's anchor at the reference balance
    mel: np.ndarray  # (S, n_mels, T) dB at the reference level, float16: the whole song where the corpus keeps it
    source: str = "sessions"  # module, midi, procedural: the manifest's kind


def load_corpus(root: Path, split: str = "train") -> list[CorpusSession]:
    """Sessions of ``split`` with their cached features (``anchormix data features`` builds them; a module corpus
    keeps whole-song features too, which are preferred)."""
    sessions = []
    kinds = {i: e.get("kind", "sessions") for i, e in load_manifest(root)["sessions"].items()}
    for folder, _ in find_sessions(root, split):
        meta = json.loads((folder / SESSION_FILE).read_text(encoding="utf-8"))
        cache = song_features_path(root, folder.name)  # the whole song where its source keeps it (modules)
        if not cache.exists():
            cache = Path(root) / "features" / f"{folder.name}.npz"  # else the session's excerpt
        if not cache.exists() or not meta.get("reference_lu"):
            continue
        with np.load(cache, allow_pickle=False) as data:
            names, mel = [str(n) for n in data["names"]], data["mel"]
        keep = [i for i, n in enumerate(names) if n in meta["reference_lu"]]
        sessions.append(CorpusSession(
            folder.name, meta.get("genre", "unknown"), [names[i] for i in keep],
            [meta.get("roles", {}).get(names[i], "other") for i in keep],
            np.array([meta["reference_lu"][names[i]] for i in keep], dtype=np.float32), mel[keep],
            kinds.get(folder.name, "sessions")))
    if not sessions:
        raise ValueError(f"{root}: no '{split}' sessions with cached features; run `anchormix data features`")
    return sessions


LISTENING_WINDOWS = 3  # parts of the session the listener hears besides its busiest window (listening_windows)


def listening_windows(mel: Iterable[np.ndarray], frames: int, count: int = LISTENING_WINDOWS) -> list[int]:
    """Starts of the windows the model hears: the busiest of the whole session first (the LLM's), then the
    busiest of each of ``count`` equal parts of it (so every section is heard), without repeats. ``mel``: each
    stem's log-mel ``(n_mels, frames)`` (a stack, or any iterable: read one stem at a time)."""
    audible = audible_stems(mel)  # once: every window below is a stretch of it
    total = len(audible)
    starts = [_busiest(audible, frames)]
    if total > frames:
        edges = np.linspace(0, total, count + 1).astype(int)
        for low, high in zip(edges[:-1], edges[1:]):
            start = min(low + _busiest(audible[low : max(high, low + frames)], frames), total - frames)
            if all(abs(start - s) >= frames // 2 for s in starts):  # a window mostly heard already adds nothing
                starts.append(start)
    return starts


def audible_stems(mel: Iterable[np.ndarray], floor_db: float = -90.0) -> np.ndarray:
    """``(frames,)``: how many stems are audible in each frame (their power over the mel bands above ``floor_db``);
    ``mel``: each stem's log-mel, a stack or any iterable, read one stem at a time."""
    power = [10.0 * np.log10(np.power(10.0, m.astype(np.float64) / 10.0).sum(axis=0) + 1e-20) for m in mel]  # (S, T)
    return (np.array(power) > floor_db).sum(axis=0)  # a stem at a time: float64 copies of one stem, not the session


def busiest_window(mel: np.ndarray, frames: int, floor_db: float = -90.0) -> int:
    """Start of the ``frames``-long window where the stems are audible most (frames above ``floor_db`` summed over
    stems; the one nearest the middle among equals), so the model hears as many stems playing as the excerpt has."""
    return _busiest(audible_stems(mel, floor_db), frames)


def _busiest(audible: np.ndarray, frames: int) -> int:
    """:func:`busiest_window` over the per-frame counts of :func:`audible_stems`."""
    total = len(audible)
    if total <= frames:
        return 0
    sums = np.concatenate([[0], np.cumsum(audible)])
    scores = sums[frames:] - sums[:-frames]  # window starting at each frame
    best = np.flatnonzero(scores == scores.max())
    return int(best[np.argmin(np.abs(best - (total - frames) / 2))])
