"""Loudness per ITU-R BS.1770-4: integrated (gated) loudness (true peak: tools/true_peak.py).

Vectorised over blocks: each stem is K-weighted ten seconds at a time (the
filter's state carried from one stretch to the next, so the result is the
whole-file filter's, sample for sample) and its mean-square energy taken per
100 ms hop; the 400 ms gating blocks (75 % overlap) are sums of four hops. A
stem whose two channels are equal (a mono source, as most recorded tracks are)
has one filtered and its energy counted twice. The
memory a measurement needs beyond the stems is a few stretches, whatever the
song's length, and the stems may be a list (no stacked copy of a session).

References
----------
- ITU-R BS.1770-4 (2015), "Algorithms to measure audio programme loudness and
  true-peak audio level": eq. (1)-(7) for gating.
- K-weighting coefficients for any sample rate: the analogue prototypes fitted
  by libebur128 (J. Kokkinis / R. Mansbridge), which reproduce the BS.1770
  48 kHz coefficient table exactly.
"""

from __future__ import annotations

import os
from concurrent.futures import ThreadPoolExecutor
from collections.abc import Sequence

import numpy as np

from .stem_store import let_go

__all__ = [
    "as_stems",
    "one_signal",
    "k_weighting_sos",
    "integrated_loudness",
    "loudness_matched",
    "matching_gains_db",
    "sample_peak",
    "ABSOLUTE_GATE_LUFS",
]

ABSOLUTE_GATE_LUFS = -70.0  # BS.1770-4 eq. (5), Γ_a
RELATIVE_GATE_LU = -10.0  # BS.1770-4 eq. (6), Γ_r offset
_BLOCK_HOPS = 4  # 400 ms block = 4 hops of 100 ms (75 % overlap)
# Channel weights G_i of BS.1770-4 table 3 (L, R, C, Ls, Rs); LFE is excluded upstream.
_CHANNEL_WEIGHTS = np.array([1.0, 1.0, 1.0, 1.41, 1.41])
_WORKERS = max(1, min(4, os.cpu_count() or 1))
STRETCH_HOPS = 100  # the K filter runs over 10 s at a time (its state carried between stretches)


def k_weighting_sos(sample_rate: float) -> np.ndarray:
    """Second-order sections ``(2, 6)`` of the K-weighting pre-filter (shelf, then RLB high-pass)."""
    # Stage 1: high-shelf modelling the head (+4 dB above ~1.7 kHz).
    f0, gain_db, q = 1681.974450955533, 3.999843853973347, 0.7071752369554196
    k = np.tan(np.pi * f0 / sample_rate)
    vh = 10.0 ** (gain_db / 20.0)
    vb = vh**0.4996667741545416
    a0 = 1.0 + k / q + k * k
    shelf = [
        (vh + vb * k / q + k * k) / a0, 2.0 * (k * k - vh) / a0, (vh - vb * k / q + k * k) / a0,
        1.0, 2.0 * (k * k - 1.0) / a0, (1.0 - k / q + k * k) / a0,
    ]
    # Stage 2: RLB weighting, a 2nd-order high-pass at ~38 Hz.
    f0, q = 38.13547087602444, 0.5003270373238773
    k = np.tan(np.pi * f0 / sample_rate)
    a0 = 1.0 + k / q + k * k
    highpass = [1.0, -2.0, 1.0, 1.0, 2.0 * (k * k - 1.0) / a0, (1.0 - k / q + k * k) / a0]
    return np.array([shelf, highpass])


def one_signal(x) -> bool:
    """Whether ``x`` is one signal ``(channels, samples)``, not a stack or a sequence of stems."""
    return isinstance(x, np.ndarray) and x.ndim == 2


def as_stems(x) -> Sequence[np.ndarray]:
    """Accept ``(channels, samples)``, ``(stems, channels, samples)`` or a sequence of ``(channels, samples)`` of one
    length; return the stems as a sequence of 2-D arrays. A lazy sequence (``Session.arrays()``, each stem read from
    disk when indexed) stays lazy: only shapes are checked here, and a measurement holds the stem in hand."""
    if one_signal(x):
        stems = [np.asarray(x)]
    else:
        stems = [np.asarray(s) for s in x] if isinstance(x, (list, tuple)) or not isinstance(x, Sequence) else x
    if not len(stems):
        raise ValueError("no stems to measure")
    first = np.shape(stems[0])
    for k in range(len(stems)):
        shape = np.shape(stems[k])
        if len(shape) != 2 or shape[0] > len(_CHANNEL_WEIGHTS) or shape[-1] != first[-1]:
            raise ValueError(f"expected (channels<=5, samples) or (stems, channels, samples), got {shape}")
    return stems


def _hop_edges(num_samples: int, sample_rate: float) -> np.ndarray:
    """Sample index where each 100 ms hop starts, plus the end of the last complete hop."""
    num_hops = int(num_samples // (0.1 * sample_rate))
    return np.round(np.arange(num_hops + 1) * 0.1 * sample_rate).astype(np.int64)


_ANTI_DENORMAL = np.zeros(0, dtype=np.float32)


def _grow_anti_denormal(length: int) -> None:
    """``_ANTI_DENORMAL``: +-1e-18 alternating, at least ``length`` + 1 samples (a stretch's, from either parity)."""
    global _ANTI_DENORMAL
    if len(_ANTI_DENORMAL) < length + 1:
        _ANTI_DENORMAL = np.tile(np.array([1e-18, -1e-18], dtype=np.float32), length // 2 + 1)


def _hop_energy(x, sample_rate: float, stretch_hops: int = STRETCH_HOPS) -> tuple[np.ndarray, np.ndarray]:
    """K-weighted energy (sum of squares) per 100 ms hop, ``(stems, channels, hops)`` float64.

    The K filter runs in float32 through ``scipy.signal.sosfilt`` (which releases
    the GIL), one thread per stem, ``stretch_hops`` hops at a time with its state
    carried over; float32 keeps the filtered signal within ~1e-5 dB of a float64
    run while halving memory traffic.
    """
    stems = as_stems(x)
    edges = _hop_edges(stems[0].shape[-1], sample_rate)
    if len(edges) < _BLOCK_HOPS + 1:
        raise ValueError(f"{stems[0].shape[-1] / sample_rate:.3f} s of audio is shorter than one 400 ms block")
    firsts = np.arange(0, len(edges) - 1, stretch_hops)  # the dither a stretch needs, not the song's
    _grow_anti_denormal(int((edges[np.minimum(firsts + stretch_hops, len(edges) - 1)] - edges[firsts]).max()))
    with ThreadPoolExecutor(_WORKERS) as pool:
        return np.stack(list(pool.map(lambda stem: _stem_hop_energy(stem, sample_rate, edges, stretch_hops),
                                      stems))), edges


def _stem_hop_energy(stem: np.ndarray, sample_rate: float, edges: np.ndarray, stretch_hops: int) -> np.ndarray:
    """One stem ``(C, N)``'s K-weighted energy per hop ``(C, hops)``, filtered stretch by stretch."""
    from scipy import signal  # lazy: scipy.signal imports scipy.stats, 1.5 s before any command can say a word

    sos = k_weighting_sos(sample_rate).astype(np.float32)
    state = np.zeros((len(sos), stem.shape[0], 2), dtype=np.float32)
    out = np.empty((stem.shape[0], len(edges) - 1))
    twins = stem.shape[0] == 2  # both channels equal so far (a mono source laid out as stereo): one is filtered
    for first in range(0, len(edges) - 1, stretch_hops):
        last = min(first + stretch_hops, len(edges) - 1)
        start, stop = edges[first], edges[last]
        # A +-1e-18 Nyquist dither keeps the filter state out of denormal floats, which a
        # recursive filter decaying through digital silence otherwise hits at ~100x the cost.
        # It adds 1e-36 to a block's mean square: nothing against the -70 LUFS gate.
        dither = _ANTI_DENORMAL[start % 2 : start % 2 + stop - start]  # +1e-18 on even samples of the song
        x32 = np.add(stem[:, start:stop], dither, dtype=np.float32)
        twins = twins and np.array_equal(x32[0], x32[1])
        if twins:  # the same samples through the same state give the same output: filter one, count it twice
            y, lane = signal.sosfilt(sos, x32[:1], axis=-1, zi=state[:, :1])
            state = np.repeat(lane, 2, axis=1)
        else:
            y, state = signal.sosfilt(sos, x32, axis=-1, zi=state)
        let_go(stem, start, stop)  # a stem mapped from the store: this stretch's pages leave our memory
        hops = np.diff(edges[first : last + 1])
        if np.all(hops == hops[0]):  # 100 ms is a whole number of samples: fused square-and-sum, no temporary
            frames = y.reshape(y.shape[0], -1, hops[0])
            out[:, first:last] = np.einsum("chn,chn->ch", frames, frames)
        else:
            np.square(y, out=y)
            out[:, first:last] = np.add.reduceat(y, edges[first:last] - start, axis=-1, dtype=np.float64)
    return out


def _block_loudness(energy: np.ndarray, edges: np.ndarray, span: int) -> np.ndarray:
    """Loudness of every window of ``span`` hops (step one hop): eq. (2)-(4) of BS.1770-4.

    energy: (S, C, H) hop sums -> returns (S, H - span + 1) in LUFS (-inf for digital silence).
    """
    csum = np.concatenate([np.zeros(energy.shape[:-1] + (1,)), np.cumsum(energy, axis=-1)], axis=-1)
    sums = csum[..., span:] - csum[..., :-span]  # (S, C, J)
    lengths = (edges[span:] - edges[:-span]).astype(np.float64)  # (J,)
    weights = _CHANNEL_WEIGHTS[: energy.shape[1], None]  # (C, 1)
    power = (weights * sums / lengths).sum(axis=1)  # (S, J)
    with np.errstate(divide="ignore"):
        return -0.691 + 10.0 * np.log10(power)


def _gated_mean(loudness: np.ndarray) -> np.ndarray:
    """Two-stage gating of block loudness ``(S, J)`` -> integrated loudness ``(S,)``: eq. (5)-(7)."""
    power = 10.0 ** ((loudness + 0.691) / 10.0)  # back to weighted mean square, (S, J)
    gate_abs = loudness > ABSOLUTE_GATE_LUFS

    def mean_lufs(mask: np.ndarray) -> np.ndarray:
        count = mask.sum(axis=-1)
        total = np.where(mask, power, 0.0).sum(axis=-1)
        with np.errstate(divide="ignore", invalid="ignore"):
            return np.where(count > 0, -0.691 + 10.0 * np.log10(total / np.maximum(count, 1)), -np.inf)

    relative_gate = mean_lufs(gate_abs) + RELATIVE_GATE_LU  # (S,)
    return mean_lufs(gate_abs & (loudness > relative_gate[:, None]))


def integrated_loudness(x, sample_rate: float, stretch_hops: int = STRETCH_HOPS) -> np.ndarray | float:
    """Gated integrated loudness in LUFS.

    Args:
        x: ``(channels, samples)`` for one signal, ``(stems, channels, samples)`` or a list of
            ``(channels, samples)`` of one length for many.
        sample_rate: in Hz.
        stretch_hops: hops (100 ms) the K filter runs over at a time; the result does not depend on it.

    Returns:
        A float for one signal, else an array ``(stems,)``; ``-inf`` where every
        block falls under the -70 LUFS absolute gate (silence).
    """
    energy, edges = _hop_energy(x, sample_rate, stretch_hops)
    lufs = _gated_mean(_block_loudness(energy, edges, _BLOCK_HOPS))
    return float(lufs[0]) if one_signal(x) else lufs


def sample_peak(x: np.ndarray, stretch: int = 1 << 17) -> float:
    """max |sample| of ``x`` ``(channels, samples)``, read a stretch at a time (and let go of)."""
    peak = 0.0
    for start in range(0, x.shape[1], stretch):
        part = x[:, start : start + stretch]
        peak = max(peak, float(np.max(part, initial=0.0)), -float(np.min(part, initial=0.0)))
        let_go(x, start, start + stretch)
    return peak


def matching_gains_db(mixes: list[np.ndarray], sample_rate: int | list[int], target_lufs: float,
                      ceiling_dbfs: float = -1.0) -> tuple[list[float], float]:
    """The gain (dB) that brings each mix to one integrated loudness, ``target_lufs``, or lower so that none peaks
    above ``ceiling_dbfs`` (sample peak); and that loudness. For comparing balances by ear, not by volume.
    ``sample_rate``: of every mix, or one per mix. Each mix is read a stretch at a time; none is copied."""
    rates = sample_rate if isinstance(sample_rate, list) else [sample_rate] * len(mixes)
    lufs = [integrated_loudness(m, rate) for m, rate in zip(mixes, rates)]
    headroom = [ceiling_dbfs - 20 * np.log10(sample_peak(m) + 1e-12) + level for m, level in zip(mixes, lufs)]
    target = min(target_lufs, *headroom)
    return [target - level for level in lufs], target


def loudness_matched(mixes: list[np.ndarray], sample_rate: int | list[int], target_lufs: float,
                     ceiling_dbfs: float = -1.0) -> tuple[list[np.ndarray], float]:
    """The mixes gained by :func:`matching_gains_db` (new arrays), and the loudness they share."""
    gains, target = matching_gains_db(mixes, sample_rate, target_lufs, ceiling_dbfs)
    return [(m * 10 ** (gain / 20)).astype(np.float32) for m, gain in zip(mixes, gains)], target
