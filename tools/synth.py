"""Instrument voices for the procedural demo sessions, in numpy.

Each voice renders one note or hit as a mono float32 array; the arranger in
:mod:`anchormix.tools.demo` places them on a timeline. The sounds are simple
but recognisable: a pitch-swept sine kick, a tone-plus-noise snare, filtered
noise hats, a filtered saw bass, additive electric-piano keys, a detuned-saw
pad, a square-ish lead with vibrato, and a formant-filtered glottal source for
the vocal line (F1-F3 of five vowels, after Peterson & Barney 1952).
"""

from __future__ import annotations

import numpy as np

__all__ = ["midi_hz", "kick", "snare", "hat", "bass_note", "keys_note", "pad_chord", "lead_note", "vocal_note"]

# Formants (Hz) of sung vowels, roughly an adult male voice: a, e, i, o, u.
VOWELS = np.array([[730, 1090, 2440], [530, 1840, 2480], [390, 1990, 2550], [570, 840, 2410], [440, 1020, 2240]])


def _signal():
    from scipy import signal  # lazy: scipy.signal takes ~0.8 s to import; the CLI imports the demo for every command

    return signal


def midi_hz(note: float) -> float:
    return 440.0 * 2.0 ** ((note - 69) / 12.0)


def _t(seconds: float, sr: int) -> np.ndarray:
    return np.arange(int(seconds * sr)) / sr


def _adsr(n: int, sr: int, attack: float, release: float) -> np.ndarray:
    env = np.ones(n)
    a, r = min(n, int(attack * sr)), min(n, int(release * sr))
    env[:a] = np.linspace(0.0, 1.0, a, endpoint=False)
    if r:
        env[n - r :] *= np.linspace(1.0, 0.0, r)
    return env


def _harmonics(f0: np.ndarray | float, t: np.ndarray, amps: np.ndarray, sr: int, vibrato: np.ndarray | None = None) -> np.ndarray:
    """Sum of harmonics k * f0 with amplitudes ``amps`` (k = 1..len), dropping any above Nyquist."""
    inst = np.broadcast_to(np.asarray(f0, dtype=float), t.shape) * (1.0 if vibrato is None else vibrato)
    phase = 2 * np.pi * np.cumsum(inst) / sr
    out = np.zeros_like(t)
    top = float(np.max(inst))
    for k, amp in enumerate(amps, start=1):
        if k * top < sr / 2 - 500 and amp:
            out += amp * np.sin(k * phase)
    return out


def kick(sr: int, rng: np.random.Generator) -> np.ndarray:
    t = _t(0.45, sr)
    freq = 48.0 + 110.0 * np.exp(-t / 0.035)
    body = np.sin(2 * np.pi * np.cumsum(freq) / sr) * np.exp(-t / 0.22)
    click = rng.standard_normal(len(t)) * np.exp(-t / 0.003) * 0.3
    return (body + click).astype(np.float32)


def snare(sr: int, rng: np.random.Generator) -> np.ndarray:
    t = _t(0.3, sr)
    tone = np.sin(2 * np.pi * 185.0 * t) * np.exp(-t / 0.05)
    b, a = _signal().butter(2, [1500, 7000], btype="band", fs=sr)
    noise = _signal().lfilter(b, a, rng.standard_normal(len(t))) * np.exp(-t / 0.09)
    return (0.6 * tone + 1.4 * noise).astype(np.float32)


def hat(sr: int, rng: np.random.Generator, open_: bool = False) -> np.ndarray:
    t = _t(0.35 if open_ else 0.08, sr)
    b, a = _signal().butter(2, 7000, btype="high", fs=sr)
    return (_signal().lfilter(b, a, rng.standard_normal(len(t))) * np.exp(-t / (0.12 if open_ else 0.018))).astype(np.float32)


def bass_note(note: int, seconds: float, sr: int) -> np.ndarray:
    t = _t(seconds, sr)
    saw = _harmonics(midi_hz(note), t, 1.0 / np.arange(1, 25), sr)
    b, a = _signal().butter(2, 700, fs=sr)
    env = _adsr(len(t), sr, 0.005, 0.03) * (0.6 + 0.4 * np.exp(-t / 0.15))
    return (_signal().lfilter(b, a, saw) * env).astype(np.float32)


def keys_note(notes: list[int], seconds: float, sr: int) -> np.ndarray:
    t = _t(seconds, sr)
    amps = np.array([1.0, 0.45, 0.25, 0.12, 0.08, 0.04])
    tone = sum(_harmonics(midi_hz(n), t, amps, sr) for n in notes)
    return (tone * np.exp(-t / 0.7) * _adsr(len(t), sr, 0.004, 0.05)).astype(np.float32)


def pad_chord(notes: list[int], seconds: float, sr: int) -> np.ndarray:
    t = _t(seconds, sr)
    saw = 1.0 / np.arange(1, 16)
    tone = sum(_harmonics(midi_hz(n + d), t, saw, sr) for n in notes for d in (-0.08, 0.0, 0.08))
    b, a = _signal().butter(2, 1800, fs=sr)
    return (_signal().lfilter(b, a, tone) * _adsr(len(t), sr, 0.35, 0.4)).astype(np.float32)


def lead_note(note: int, seconds: float, sr: int) -> np.ndarray:
    t = _t(seconds, sr)
    vibrato = 1.0 + 0.004 * np.sin(2 * np.pi * 5.5 * t) * np.clip(t / 0.2, 0, 1)
    square = np.array([1.0 / k if k % 2 else 0.15 / k for k in range(1, 16)])
    b, a = _signal().butter(2, 3500, fs=sr)
    return (_signal().lfilter(b, a, _harmonics(midi_hz(note), t, square, sr, vibrato)) * _adsr(len(t), sr, 0.01, 0.06)).astype(np.float32)


def vocal_note(note: int, seconds: float, vowel: int, sr: int, rng: np.random.Generator) -> np.ndarray:
    """A sung syllable: glottal source (harmonics falling 12 dB/oct) through three formant resonators."""
    t = _t(seconds, sr)
    vibrato = 1.0 + 0.006 * np.sin(2 * np.pi * 5.2 * t + rng.uniform(0, 6.28)) * np.clip(t / 0.25, 0, 1)
    source = _harmonics(midi_hz(note), t, 1.0 / np.arange(1, 40) ** 2, sr, vibrato)
    source += 0.02 * rng.standard_normal(len(t))  # breath
    out = np.zeros_like(t)
    for formant, gain in zip(VOWELS[vowel % len(VOWELS)], (1.0, 0.6, 0.35)):
        bandwidth = 60.0 + formant * 0.05
        r = np.exp(-np.pi * bandwidth / sr)
        a = [1.0, -2 * r * np.cos(2 * np.pi * formant / sr), r * r]
        out += gain * _signal().lfilter([1.0 - r], a, source)
    return (out * _adsr(len(t), sr, 0.04, 0.08)).astype(np.float32)
