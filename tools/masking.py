"""Spectral masking between stems on third-octave bands.

Method (a cell-counting form of the masked-to-unmasked ratio of P. Aichinger,
A. Sontacchi & B. Schneider-Stickler, "Describing the transparency of mixdowns:
the Masked-to-Unmasked-Ratio", AES 130th Convention, 2011; bands as in
S. Hafezi & J. D. Reiss, "Autonomous multitrack equalization based on masking
reduction", JAES 63(5), 2015):

1. Each stem's mid signal ``(L + R) / 2`` is cut into 85 ms Hann frames (50 %
   overlap at 48 kHz) and its power spectrum summed into IEC 61260 third-octave
   bands (31.5 Hz - 16 kHz): a band level in dB per band and frame, ``(bands, frames)``.
2. A target cell (band, frame) is *active* when it lies within
   ``ACTIVE_RANGE_DB`` of the target's loudest cell.
3. An active cell is *masked* when the masker (one stem, or the power sum of all
   the others) is louder there by at least ``margin_db``.
4. The masked share per band is masked / active cells in that band; the
   overall share pools all bands. The worst bands are named by centre frequency.

Gains move band levels by exactly their dB value, so band levels are computed
once at unity gain and shifted, never recomputed.
"""

from __future__ import annotations

import os
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Callable, Iterable

import numpy as np
from numpy.lib.stride_tricks import sliding_window_view
from scipy import fft

from .stem_store import PAGE_FLOATS, let_go, scratch

__all__ = [
    "BAND_CENTRES_HZ",
    "band_levels",
    "stem_frames",
    "stem_spectra",
    "FRAME_CHUNK",
    "masked_share",
    "masking_matrix",
    "MaskingResult",
    "NO_CELLS",
    "format_hz",
    "rest_of_mix",
]

# IEC 61260 nominal third-octave centres covered by the analysis.
BAND_CENTRES_HZ = np.array([
    31.5, 40, 50, 63, 80, 100, 125, 160, 200, 250, 315, 400, 500, 630, 800,
    1000, 1250, 1600, 2000, 2500, 3150, 4000, 5000, 6300, 8000, 10000, 12500, 16000,
])
ACTIVE_RANGE_DB = 40.0  # cells this far under the target's loudest cell are ignored
_FRAME_S = 0.085  # ~4096 samples at 48 kHz: 11.7 Hz bins resolve the 31.5 Hz band
_FLOOR = 1e-12  # power floor before dB
_SILENT_DB = -100.0  # a stem whose loudest cell is below this is treated as silent
_WORKERS = max(1, min(2, os.cpu_count() or 1))
FRAME_CHUNK = 128  # frames transformed at a time (~2 MB at 48 kHz: they stay in cache), whatever the song's length
# A row's written frames are let go of every this many (whole pages; the page a stretch ends inside goes with the next).
_LET_GO_FRAMES = 8 * PAGE_FLOATS


def format_hz(hz: float) -> str:
    """'630 Hz', '2.5 kHz'."""
    return f"{hz / 1000:g} kHz" if hz >= 1000 else f"{hz:g} Hz"


def stem_frames(stem: np.ndarray, n_fft: int, first: int = 0, last: int | None = None) -> np.ndarray:
    """Frames ``first`` to ``last`` (default: to the end) of a stem ``(2, samples)``'s mid (mean of the channels),
    half-overlapping, ``(T, n_fft)``: a view of the mid of those frames' samples alone, so a chunk of frames costs
    its own samples' memory, whatever the song's length."""
    hop, length = n_fft // 2, np.shape(stem)[-1]
    count = (max(length, n_fft) - n_fft) // hop + 1
    last = count if last is None else min(last, count)
    mid = stem[:, first * hop : (last - 1) * hop + n_fft].mean(axis=0, dtype=np.float32)
    if mid.shape[-1] < n_fft:
        mid = np.pad(mid, (0, n_fft - mid.shape[-1]))
    return sliding_window_view(mid, n_fft)[::hop]


def stem_spectra(x, n_fft: int, rows: int, reduce: Callable[[np.ndarray], np.ndarray],
                 bins: slice = slice(None)) -> np.ndarray:
    """``(stems, rows, frames)`` float32: each stem's mid cut into half-overlapping Hann frames of ``n_fft``, and
    ``reduce`` turning each chunk's power spectra ``(chunk, bins)`` (only the FFT bins ``bins``: the others' power
    is never computed) into ``(rows, chunk)``. Two stems at a time where two cores are there, each chunk's FFTs on
    its own; memory: two chunks of frames and their spectra, whatever the song's length. ``x``:
    ``(stems, 2, samples)`` or a sequence of ``(2, samples)`` of one length. The result lies beside the stems
    (:func:`~anchormix.tools.stem_store.scratch`) where they lie on disk, and is let go of as it is written: a
    caller reads it a stretch or a stem at a time (:func:`~anchormix.tools.stem_store.released`)."""
    window = np.hanning(n_fft).astype(np.float32)
    count = (max(np.shape(x[0])[-1], n_fft) - n_fft) // (n_fft // 2) + 1  # frames of every stem
    out = scratch(x, (len(x), rows, count))
    workers = min(_WORKERS, len(x))

    def one(i: int) -> None:
        stem, written = x[i], 0
        for k in range(0, count, FRAME_CHUNK):  # memory: a chunk's samples and spectra, not the song's
            # (chunk, F); the windowed frames are a temporary of ours, so the FFT may overwrite them
            spectrum = fft.rfft(stem_frames(stem, n_fft, k, k + FRAME_CHUNK) * window, axis=-1,
                                workers=1 if workers > 1 else -1, overwrite_x=True)[:, bins]
            out[i, :, k : k + FRAME_CHUNK] = reduce(spectrum.real**2 + spectrum.imag**2)
            let_go(stem, k * (n_fft // 2), (k + FRAME_CHUNK) * (n_fft // 2))  # the chunk's samples leave our memory
            if k + FRAME_CHUNK - written >= _LET_GO_FRAMES:  # and what was written, a few pages of each row at a time
                let_go(out[i], max(0, written - PAGE_FLOATS), k + FRAME_CHUNK)
                written = k + FRAME_CHUNK
        let_go(out[i])

    with ThreadPoolExecutor(workers) as pool:  # FFTs, products and logs release the GIL
        list(pool.map(one, range(len(x))))
    return out


def band_levels(x, sample_rate: int) -> np.ndarray:
    """Third-octave band levels in dB, ``(stems, bands, frames)``, of ``x``: ``(stems, 2, samples)`` or a list of
    ``(2, samples)`` of one length (:func:`stem_spectra`: memory is one stem's frames)."""
    n_fft = int(2 ** np.round(np.log2(_FRAME_S * sample_rate)))
    freqs = np.fft.rfftfreq(n_fft, 1.0 / sample_rate)
    edges = BAND_CENTRES_HZ[:, None] * 2.0 ** (np.array([-1, 1]) / 6.0)  # (bands, 2)
    member = ((freqs >= edges[:, :1]) & (freqs < edges[:, 1:])).astype(np.float32)  # (bands, F)
    used = slice(0, int(np.flatnonzero(member.any(axis=0))[-1]) + 1)  # no bin above the top band's edge is read
    return stem_spectra(x, n_fft, len(BAND_CENTRES_HZ), lambda power: 10.0 * np.log10(member[:, used] @ power.T + _FLOOR),
                        used)


@dataclass(frozen=True)
class MaskingResult:
    """How much a target stem is masked, overall and per band (``None`` where the target is inactive). The results
    of consecutive stretches of a song add up to the song's (``sum(parts, NO_CELLS)`` or ``a + b``) when each was judged
    against the song's loudest cell (:func:`masked_share`'s ``loudest``)."""

    share: float
    band_share: list[float | None]
    band_masked: list[int]  # masked cells per band
    active_cells: int
    band_active: list[int] = field(default_factory=list)  # active cells per band

    def __add__(self, other: "MaskingResult") -> "MaskingResult":
        return _result(np.add(self.band_masked, other.band_masked), np.add(self.band_active, other.band_active))

    def worst_bands(self, count: int = 3, min_share: float = 0.25) -> list[tuple[float, float]]:
        """Up to ``count`` bands where the target loses most cells, as ``(centre_hz, share)``.

        Ranked by masked cells (a band the target barely uses cannot be its
        worst problem), keeping bands masked at least ``min_share`` of the time.
        """
        ranked = sorted(
            (i for i, s in enumerate(self.band_share) if s is not None and s >= min_share),
            key=lambda i: -self.band_masked[i],
        )
        return [(float(BAND_CENTRES_HZ[i]), float(self.band_share[i])) for i in ranked[:count]]

    def worst_range_hz(self) -> tuple[float, float] | None:
        """Centres of the lowest and highest band of the contiguous run around the worst band."""
        worst = self.worst_bands(1)
        if not worst:
            return None
        shares = [s or 0.0 for s in self.band_share]
        i = int(np.flatnonzero(BAND_CENTRES_HZ == worst[0][0])[0])
        lo = hi = i
        while lo > 0 and shares[lo - 1] >= max(0.25, worst[0][1] / 2):
            lo -= 1
        while hi < len(shares) - 1 and shares[hi + 1] >= max(0.25, worst[0][1] / 2):
            hi += 1
        return float(BAND_CENTRES_HZ[lo]), float(BAND_CENTRES_HZ[hi])


def _power_sum_db(levels: np.ndarray, axis: int = 0) -> np.ndarray:
    return 10.0 * np.log10(np.sum(10.0 ** (levels / 10.0), axis=axis) + _FLOOR)


def masked_share(target: np.ndarray, masker: np.ndarray, margin_db: float = 3.0,
                 loudest: float | None = None) -> MaskingResult:
    """Share of ``target``'s active cells where ``masker`` is at least ``margin_db`` louder.

    Both are band levels in dB ``(bands, frames)`` at the gains to judge: the whole song, or a stretch of it with
    ``loudest`` the target's loudest cell over the whole song (what makes a cell active), so stretches add up.
    """
    if loudest is None:
        loudest = float(target.max())
    if loudest < _SILENT_DB:  # a silent target has nothing to mask
        return _result(np.zeros(target.shape[0], int), np.zeros(target.shape[0], int))
    active = target > loudest - ACTIVE_RANGE_DB  # (bands, T)
    masked = active & (masker >= target + margin_db)
    return _result(masked.sum(axis=1), active.sum(axis=1))


def _result(per_band_masked: np.ndarray, per_band_active: np.ndarray) -> MaskingResult:
    band_share = [float(m / a) if a else None for m, a in zip(per_band_masked, per_band_active)]
    total = int(per_band_active.sum())
    share = float(per_band_masked.sum() / total) if total else 0.0
    return MaskingResult(share, band_share, [int(m) for m in per_band_masked], total, [int(a) for a in per_band_active])


# No cells at all: where the masking of a song read a stretch at a time starts (``result += part`` per stretch).
NO_CELLS = _result(np.zeros(len(BAND_CENTRES_HZ), int), np.zeros(len(BAND_CENTRES_HZ), int))


def masking_matrix(levels: np.ndarray | Iterable[np.ndarray], margin_db: float = 3.0,
                   loudest: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray]:
    """Pairwise masking of ``levels`` ``(stems, bands, frames)``: the whole song, or its stretches one after another
    with ``loudest`` ``(stems,)`` each stem's loudest cell over the whole song.

    Returns ``(directed, mutual)``: ``directed[i, j]`` is the share of stem i's
    active cells masked by stem j alone; ``mutual = (directed + directed.T) / 2``
    is the symmetric matrix (how much i and j fight for the same cells).
    """
    if isinstance(levels, np.ndarray):
        levels, loudest = [levels], levels.max(axis=(1, 2)) if loudest is None else loudest
    masked, active = 0, 0
    for stretch in levels:
        count = len(stretch)
        part = np.zeros((count, count))
        cells = np.zeros(count)
        for i in range(count):
            if loudest[i] < _SILENT_DB:
                continue
            on = stretch[i] > loudest[i] - ACTIVE_RANGE_DB
            cells[i] = on.sum()
            part[i] = (on[None] & (stretch >= stretch[i][None] + margin_db)).sum(axis=(1, 2))  # (S, bands, T)
        masked, active = masked + part, active + cells
    directed = np.divide(masked, np.asarray(active)[:, None], out=np.zeros_like(masked), where=active[:, None] > 0)
    np.fill_diagonal(directed, 0.0)
    return directed, (directed + directed.T) / 2.0


def rest_of_mix(levels: np.ndarray, index: int) -> np.ndarray:
    """Band levels of the power sum of every stem but ``index``."""
    others = np.delete(levels, index, axis=0)
    return _power_sum_db(others) if len(others) else np.full(levels.shape[1:], 10 * np.log10(_FLOOR))
