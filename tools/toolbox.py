"""The tools a planner can call, and the context they act on.

Every tool takes the :class:`ToolContext` first (the session, the current
gains and the output folder) and JSON-typed arguments after it, described in
its ``Args:`` section: :data:`REGISTRY` turns those into the schemas the
planner sees. Measurements are taken once at unity gain and shifted by the
current gains (loudness, true peak and band levels all move by exactly the
gain in dB), so a planner can measure after every move for free.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path
from typing import Any

import numpy as np

from .loudness import integrated_loudness, true_peak_dbtp
from .masking import band_levels, format_hz, masked_share, masking_matrix, rest_of_mix
from .registry import ToolRegistry
from .render import write_outputs
from .session import Session

__all__ = ["ToolContext", "REGISTRY", "MAX_GAIN_CHANGE_DB"]

MAX_GAIN_CHANGE_DB = 24.0  # one move larger than this is a mistake, not a mix decision
REGISTRY = ToolRegistry()


def _num(value: float, digits: int = 2) -> float | None:
    """JSON-safe rounding: -inf (silence) becomes None."""
    return round(float(value), digits) if math.isfinite(value) else None


@dataclass
class ToolContext:
    """What tools act on: the session, the gains so far (dB vs. as loaded) and where outputs go."""

    session: Session
    gains_db: dict[str, float] = field(default_factory=dict)
    out_dir: Path | None = None

    def gain(self, name: str) -> float:
        return float(self.gains_db.get(name, 0.0))

    def stem(self, name: str) -> str:
        if name not in self.session.stems:
            raise ValueError(f"unknown stem '{name}'; stems: {', '.join(self.session.stems)}")
        return name

    @cached_property
    def base_lufs(self) -> dict[str, float]:
        lufs = integrated_loudness(self.session.array(), self.session.sample_rate)
        return dict(zip(self.session.names, map(float, lufs)))

    @cached_property
    def base_true_peak(self) -> dict[str, float]:
        peaks = true_peak_dbtp(self.session.array(), self.session.sample_rate)
        return dict(zip(self.session.names, map(float, peaks)))

    @cached_property
    def base_bands(self) -> np.ndarray:
        """Band levels at unity gain, ``(stems, bands, frames)`` dB."""
        return band_levels(self.session.array(), self.session.sample_rate)

    def copy(self, out_dir: Path | None = None) -> "ToolContext":
        """A context over the same session and gains, sharing the measurements already taken."""
        ctx = ToolContext(self.session, dict(self.gains_db), out_dir)
        ctx.__dict__.update({k: v for k, v in self.__dict__.items() if k in ("base_lufs", "base_true_peak", "base_bands")})
        return ctx

    def shifted(self, offsets_db: dict[str, float]) -> "ToolContext":
        """A context over this session with each stem moved by ``offsets_db`` *in the audio itself*.

        The new session's stems are the scaled audio (a planner sees only them);
        measurements already taken here are carried over shifted by the offsets,
        which is exact because every measurement moves by the gain in dB.
        """
        session = self.session
        scale = {n: np.float32(10 ** (offsets_db.get(n, 0.0) / 20)) for n in session.names}
        moved = Session(**{**session.__dict__, "stems": {n: a * scale[n] for n, a in session.stems.items()}})
        ctx = ToolContext(moved, out_dir=self.out_dir)
        shift = np.array([offsets_db.get(n, 0.0) for n in session.names], dtype=np.float32)
        for name in ("base_lufs", "base_true_peak"):
            if name in self.__dict__:
                ctx.__dict__[name] = {n: v + offsets_db.get(n, 0.0) for n, v in self.__dict__[name].items()}
        if "base_bands" in self.__dict__:
            ctx.__dict__["base_bands"] = self.__dict__["base_bands"] + shift[:, None, None]
        return ctx

    def lufs(self, name: str) -> float:
        return self.base_lufs[name] + self.gain(name)

    def bands(self) -> np.ndarray:
        """Band levels at the current gains."""
        shift = np.array([self.gain(n) for n in self.session.names], dtype=np.float32)
        return self.base_bands + shift[:, None, None]


@REGISTRY.register
def measure_loudness(ctx: ToolContext, stems: list[str] | None = None) -> dict[str, Any]:
    """Integrated loudness (BS.1770-4) of each stem at the current gains, and its level against the anchor.

    Args:
        stems: Stem names to measure; all stems when omitted.
    """
    names = [ctx.stem(n) for n in stems] if stems else ctx.session.names
    anchor = ctx.session.anchor
    anchor_lufs = ctx.lufs(anchor)
    return {
        "anchor": anchor,
        "stems": {
            n: {
                "role": ctx.session.roles[n],
                "lufs": _num(ctx.lufs(n)),
                "lu_vs_anchor": _num(ctx.lufs(n) - anchor_lufs),
                "true_peak_dbtp": _num(ctx.base_true_peak[n] + ctx.gain(n)),
                "gain_db": round(ctx.gain(n), 2),
                "active": ctx.session.active[n],
            }
            for n in names
        },
    }


@REGISTRY.register
def measure_masking(ctx: ToolContext, target: str, masker: str | None = None, margin_db: float = 3.0) -> dict[str, Any]:
    """How much the rest of the mix (or one masker stem) masks a target stem, per third-octave band.

    Args:
        target: The stem that may be masked.
        masker: One stem to test as the masker; the sum of all other stems when omitted.
        margin_db: How much louder (dB) the masker must be in a band and frame to count as masking it.
    """
    names = ctx.session.names
    t = names.index(ctx.stem(target))
    levels = ctx.bands()
    if masker is None:
        masker_levels = rest_of_mix(levels, t)
    elif ctx.stem(masker) == target:
        raise ValueError("masker must differ from target")
    else:
        masker_levels = levels[names.index(masker)]
    result = masked_share(levels[t], masker_levels, margin_db)
    span = result.worst_range_hz()
    return {
        "target": target,
        "masker": masker or "rest of mix",
        "masked_share": round(result.share, 3),
        "worst_bands": [{"band_hz": hz, "band": format_hz(hz), "share": round(s, 3)} for hz, s in result.worst_bands()],
        "worst_range": (format_hz(span[0]) if span[0] == span[1] else f"{format_hz(span[0])}-{format_hz(span[1])}")
        if span
        else None,
    }


@REGISTRY.register
def measure_masking_matrix(ctx: ToolContext, margin_db: float = 3.0) -> dict[str, Any]:
    """Pairwise masking for the whole session: how much each pair of stems fights for the same bands.

    Args:
        margin_db: How much louder (dB) one stem must be in a band and frame to count as masking the other.
    """
    directed, mutual = masking_matrix(ctx.bands(), margin_db)
    names = ctx.session.names
    return {
        "stems": names,
        "mutual": [[round(float(v), 3) for v in row] for row in mutual],
        "masked_by": [[round(float(v), 3) for v in row] for row in directed],
    }


@REGISTRY.register
def apply_gains(ctx: ToolContext, changes_db: dict[str, float]) -> dict[str, Any]:
    """Change stem gains by the given dB amounts (added to the current gains).

    Args:
        changes_db: Stem name to gain change in dB, e.g. {"vocals": 2.5}; positive is louder.
    """
    for name, change in changes_db.items():
        ctx.stem(name)
        if not math.isfinite(change) or abs(change) > MAX_GAIN_CHANGE_DB:
            raise ValueError(f"change for '{name}' must be finite and within ±{MAX_GAIN_CHANGE_DB:g} dB, got {change}")
    before = {n: ctx.gain(n) for n in ctx.session.names}
    for name, change in changes_db.items():
        ctx.gains_db[name] = ctx.gain(name) + float(change)
    return {
        "gains_before_db": {n: round(g, 2) for n, g in before.items()},
        "gains_after_db": {n: round(ctx.gain(n), 2) for n in ctx.session.names},
    }


@REGISTRY.register
def render(ctx: ToolContext, write_stems: bool = False) -> dict[str, Any]:
    """Render the mix at the current gains to the output folder (mix.wav), trimmed to a -1 dBTP ceiling.

    Args:
        write_stems: Also write each processed stem to stems/<name>.wav.
    """
    if ctx.out_dir is None:
        raise ValueError("no output folder was given for this session")
    mix, paths = write_outputs(ctx.session, ctx.gains_db, ctx.out_dir, write_stems)
    return {
        "mix": str(paths["mix"]),
        "files": len(paths),
        "trim_db": round(mix.trim_db, 2),
        "true_peak_dbtp": _num(mix.true_peak_dbtp),
        "lufs": _num(mix.lufs),
    }
