"""A session's measurements: taken once at unity gain, never changed, viewed at any set of gains.

Integrated loudness, true peak and band levels all move by exactly the gain in dB,
so one measurement of the stems as loaded answers for every gain a planner tries:
``Measurements(session).at(gains)`` is that view. Each measurement is taken the
first time it is asked for (band levels cost the most and not every caller needs them).
"""

from __future__ import annotations

import types
from dataclasses import dataclass, field
from functools import cached_property
from typing import Iterator, Mapping

import numpy as np

from .loudness import integrated_loudness
from .true_peak import true_peak_dbtp
from .masking import band_levels
from .session import Session
from .stem_store import StemView, let_go, released

__all__ = ["Measurements", "MeasuredAt", "BandLevels", "BAND_STRETCH"]

BAND_STRETCH = 1024  # band-level frames read at a time (44 s at 48 kHz; 48 stems' stretch is 5.5 MB)


class Measurements:
    """The stems of ``session`` measured at unity gain (each quantity on first use, then kept)."""

    def __init__(self, session: Session) -> None:
        self.session = session

    @cached_property
    def lufs(self) -> Mapping[str, float]:
        """Integrated loudness (BS.1770-4) per stem, LUFS (-inf: silent)."""
        lufs = integrated_loudness(self.session.arrays(), self.session.sample_rate)
        return types.MappingProxyType(dict(zip(self.session.names, map(float, lufs))))

    @cached_property
    def true_peak(self) -> Mapping[str, float]:
        """True peak per stem, dBTP."""
        peaks = true_peak_dbtp(self.session.arrays(), self.session.sample_rate)
        return types.MappingProxyType(dict(zip(self.session.names, map(float, peaks))))

    @cached_property
    def bands(self) -> "BandLevels":
        """Third-octave band levels ``(stems, bands, frames)`` dB, kept beside the stems (read a stretch at a time)."""
        levels = band_levels(self.session.arrays(), self.session.sample_rate)
        levels.flags.writeable = False
        loudest = np.array([stem.max() for stem in released(levels)], dtype=np.float32)
        return BandLevels(levels, np.zeros(len(levels), dtype=np.float32), loudest)

    def measure_all(self) -> "Measurements":
        """Take every measurement now (before a batch of draws, or off a UI thread)."""
        self.lufs, self.true_peak, self.bands  # noqa: B018 - touching the cached properties measures them
        return self

    def at(self, gains_db: Mapping[str, float]) -> "MeasuredAt":
        """These measurements as they read with ``gains_db`` (dB per stem vs. as loaded) applied."""
        return MeasuredAt(self, types.MappingProxyType(dict(gains_db)))

    def shifted(self, offsets_db: Mapping[str, float]) -> "Measurements":
        """The measurements of a new session whose stems are this one's moved by ``offsets_db`` *in the audio*.

        The new session's stems are the scaled audio (a planner sees only them; each scaled when it is read); what was
        measured here is carried over shifted by the offsets, which is exact.
        """
        session = self.session
        moved = Measurements(Session(**{**session.__dict__, "stems": StemView(session.stems, gains_db=offsets_db)}))
        for name in ("lufs", "true_peak"):
            if name in self.__dict__:
                moved.__dict__[name] = types.MappingProxyType(
                    {n: v + offsets_db.get(n, 0.0) for n, v in self.__dict__[name].items()})
        if "bands" in self.__dict__:
            moved.__dict__["bands"] = self.__dict__["bands"].moved([offsets_db.get(n, 0.0) for n in session.names])
        return moved


@dataclass(frozen=True)
class BandLevels:
    """A session's third-octave band levels ``(stems, bands, frames)`` dB as measured (``kept``: beside the stems
    where they lie on disk, :func:`~anchormix.tools.masking.stem_spectra`), moved by ``offsets`` dB per stem, with
    each stem's loudest cell (``kept_loudest``, as measured). Read a stretch of frames at a time
    (:meth:`stretches`), so what a masking check holds grows with the stems, not with the song."""

    kept: np.ndarray
    offsets: np.ndarray  # (stems,) dB
    kept_loudest: np.ndarray  # (stems,) dB

    def moved(self, gains_db) -> "BandLevels":
        """These levels with ``gains_db`` (dB per stem, in order) more."""
        return BandLevels(self.kept, self.offsets + np.asarray(gains_db, dtype=np.float32), self.kept_loudest)

    def loudest(self) -> np.ndarray:
        """Each stem's loudest cell over the whole song, dB ``(stems,)``."""
        return self.kept_loudest + self.offsets

    def stretches(self, frames: int = BAND_STRETCH) -> Iterator[np.ndarray]:
        """The levels ``(stems, bands, <= frames)``, a copy of each stretch in turn, the one before let go of."""
        total = self.kept.shape[-1]
        for start in range(0, total, frames):
            yield self.kept[:, :, start : start + frames] + self.offsets[:, None, None]
            for stem in self.kept:  # each stem let go of whole, in one call (row by row was 28 calls a stem and 6 s
                let_go(stem)  # more for `measure` at 48 x 5): the pages not read yet are not in memory anyway


@dataclass(frozen=True)
class MeasuredAt:
    """:class:`Measurements` viewed at a set of gains; every quantity is the unity-gain one plus the gain."""

    measurements: Measurements
    gains_db: Mapping[str, float] = field(default_factory=lambda: types.MappingProxyType({}))

    def gain(self, name: str) -> float:
        return float(self.gains_db.get(name, 0.0))

    def lufs(self, name: str) -> float:
        return self.measurements.lufs[name] + self.gain(name)

    def true_peak(self, name: str) -> float:
        return self.measurements.true_peak[name] + self.gain(name)

    def bands(self) -> BandLevels:
        """Band levels at these gains, ``(stems, bands, frames)`` dB, read a stretch at a time."""
        return self.measurements.bands.moved([self.gain(n) for n in self.measurements.session.names])
