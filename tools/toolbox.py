"""The tools a planner can call, and the context they act on.

Every tool takes the :class:`ToolContext` first (the session, the current
gains and the output folder) and JSON-typed arguments after it, described in
its ``Args:`` section: :data:`REGISTRY` turns those into the schemas the
planner sees. Measurements are taken once at unity gain and viewed at the
current gains (tools/measurements.py), so a planner can measure after every
move for free.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any, Mapping

from .masking import NO_CELLS, MaskingResult, format_hz, masked_share, masking_matrix, rest_of_mix
from .measurements import MeasuredAt, Measurements
from .registry import ToolRegistry
from .render import write_outputs
from .session import Session

__all__ = ["ToolContext", "REGISTRY", "MAX_GAIN_CHANGE_DB"]

MAX_GAIN_CHANGE_DB = 24.0  # one move larger than this is a mistake, not a mix decision
REGISTRY = ToolRegistry()


def _num(value: float, digits: int = 2) -> float | None:
    """JSON-safe rounding: -inf (silence) becomes None."""
    return round(float(value), digits) if math.isfinite(value) else None


@dataclass(frozen=True)
class ToolContext:
    """What a tool acts on: the session, its measurements viewed at the current gains, and where outputs go.

    Immutable: a tool that changes gains (``apply_gains``) returns the new gains, and the
    caller (the graph, the conversation) keeps them in its own state.
    """

    session: Session
    measured: MeasuredAt
    out_dir: Path | None = None

    @classmethod
    def of(cls, session: Session, out_dir: Path | None = None) -> "ToolContext":
        """A context at unity gain over fresh measurements of ``session``."""
        return cls(session, Measurements(session).at({}), out_dir)

    @property
    def measurements(self) -> Measurements:
        return self.measured.measurements

    @property
    def gains_db(self) -> Mapping[str, float]:
        return self.measured.gains_db

    def at(self, gains_db: Mapping[str, float]) -> "ToolContext":
        """The same context at other gains (dB per stem vs. as loaded)."""
        return replace(self, measured=self.measurements.at(gains_db))

    def gain(self, name: str) -> float:
        return self.measured.gain(name)

    def lufs(self, name: str) -> float:
        return self.measured.lufs(name)

    def stem(self, name: str) -> str:
        if name not in self.session.stems:
            raise ValueError(f"unknown stem '{name}'; stems: {', '.join(self.session.stems)}")
        return name


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
                "true_peak_dbtp": _num(ctx.measured.true_peak(n)),
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
    if masker is not None and ctx.stem(masker) == target:
        raise ValueError("masker must differ from target")
    m = None if masker is None else names.index(ctx.stem(masker))
    bands = ctx.measured.bands()
    loudest = float(bands.loudest()[t])
    others = [i for i, n in enumerate(names) if i != t and ctx.session.active[n]] if masker is None else []
    result, by = NO_CELLS, dict.fromkeys(others, NO_CELLS)
    for levels in bands.stretches():  # a stretch of the song at a time; the parts add up to the song's
        masker_levels = rest_of_mix(levels, t) if m is None else levels[m]
        by = {i: by[i] + masked_share(levels[t], levels[i], margin_db, loudest) for i in others}
        result += masked_share(levels[t], masker_levels, margin_db, loudest)
    span = result.worst_range_hz()
    return {
        "target": target,
        "masker": masker or "rest of mix",
        "masked_share": round(result.share, 3),
        # Against the rest of the mix: which stems do the masking, each on its own (advice names them).
        "maskers": _maskers(names, by),
        "worst_bands": [{"band_hz": hz, "band": format_hz(hz), "share": round(s, 3)} for hz, s in result.worst_bands()],
        "worst_range": (format_hz(span[0]) if span[0] == span[1] else f"{format_hz(span[0])}-{format_hz(span[1])}")
        if span
        else None,
    }


def _maskers(names: list[str], by: Mapping[int, MaskingResult], count: int = 2) -> list[dict[str, Any]]:
    """The (up to ``count``) other active stems that on their own mask the target most (``by``: stem index -> how
    much it masks the target), at least 10 % of the time, worst first."""
    shares = sorted(((result.share, names[i]) for i, result in by.items()), reverse=True)
    return [{"stem": n, "share": round(s, 3)} for s, n in shares[:count] if s >= 0.1]


@REGISTRY.register
def measure_masking_matrix(ctx: ToolContext, margin_db: float = 3.0) -> dict[str, Any]:
    """Pairwise masking for the whole session: how much each pair of stems fights for the same bands.

    Args:
        margin_db: How much louder (dB) one stem must be in a band and frame to count as masking the other.
    """
    bands = ctx.measured.bands()
    directed, mutual = masking_matrix(bands.stretches(), margin_db, bands.loudest())
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
    after = {n: g + float(changes_db.get(n, 0.0)) for n, g in before.items()}
    # The caller keeps the gains (the context is immutable): "gains_db" at full precision, the rest for people.
    return {
        "gains_before_db": {n: round(g, 2) for n, g in before.items()},
        "gains_after_db": {n: round(g, 2) for n, g in after.items()},
        "gains_db": after,
    }


@REGISTRY.register
def render(ctx: ToolContext, write_stems: bool = False) -> dict[str, Any]:
    """Render the mix at the current gains to the output folder (mix.wav), trimmed to a -1 dBTP ceiling.

    Args:
        write_stems: Also write each processed stem to stems/<name>.wav.
    """
    if ctx.out_dir is None:
        raise ValueError("no output folder was given for this session")
    mix, paths = write_outputs(ctx.session, dict(ctx.gains_db), ctx.out_dir, write_stems)
    return {
        "mix": str(paths["mix"]),
        "files": len(paths),
        "trim_db": round(mix.trim_db, 2),
        "true_peak_dbtp": _num(mix.true_peak_dbtp),
        "lufs": _num(mix.lufs),
    }
