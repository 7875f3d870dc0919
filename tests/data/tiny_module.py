"""A ProTracker module written byte by byte: two (or more) looped instruments on their own channels.

The layout is the M.K. format: a 20-byte title, 31 sample headers of 30 bytes, the song length, the
restart byte, 128 orders, "M.K.", 64-row patterns of 4 channels x 4 bytes, then signed 8-bit samples.
"""

from __future__ import annotations

import struct

import numpy as np

PERIODS = {"C-1": 856, "C-2": 428, "G-2": 285, "C-3": 214}  # ProTracker periods


def _sample_header(name: str, data: bytes, volume: int) -> bytes:
    words = len(data) // 2
    return struct.pack(">22sHBBHH", name.encode()[:22], words, 0, volume, 0, words)  # looped over its whole length


def _cell(sample: int, period: int, effect: int = 0, param: int = 0) -> bytes:
    return bytes([(sample & 0xF0) | (period >> 8), period & 0xFF, ((sample & 0x0F) << 4) | effect, param])


def tiny_module(instruments: list[tuple[str, str, str, int]], title: str = "anchormix test", rows_per_note: int = 8,
                amplitude: int = 100) -> bytes:
    """``instruments``: (name, waveform 'square' | 'saw' | 'sine', note, volume 0-64), one channel each (up to 4)."""
    waves = {"square": np.where(np.arange(64) < 32, 1.0, -1.0), "saw": np.linspace(-1.0, 1.0, 64, endpoint=False),
             "sine": np.sin(2 * np.pi * np.arange(64) / 64)}
    samples = [np.round(waves[w] * amplitude).astype(np.int8).tobytes() for _, w, _, _ in instruments]
    headers = b"".join(_sample_header(n, d, v) for (n, _, _, v), d in zip(instruments, samples))
    headers += b"".join(_sample_header("", b"", 0) for _ in range(31 - len(instruments)))
    rows = []
    for row in range(64):
        cells = []
        for channel in range(4):
            cell = _cell(0, 0)
            if channel < len(instruments) and row % rows_per_note == 0:
                cell = _cell(channel + 1, PERIODS[instruments[channel][2]])
            if channel == 3 and row == 0 and len(instruments) < 4:
                cell = _cell(0, 0, 0xF, 3)  # speed 3: a short song
            cells.append(cell)
        rows.append(b"".join(cells))
    head = title.encode()[:20].ljust(20, b"\0") + headers + bytes([1, 127]) + bytes(128) + b"M.K."
    return head + b"".join(rows) + b"".join(samples)
