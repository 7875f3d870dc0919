"""Figures drawn with matplotlib as SVG: the calibration of the ALM's intervals (a file, written atomically), and the
report's levels and masking charts (SVG text to inline).

Each function takes plain numbers (what a command already measured); nothing
here measures anything. matplotlib is imported when a figure is drawn,
with the Agg backend (no display needed).
"""

from __future__ import annotations

import io
from pathlib import Path

import numpy as np

from anchormix.tools.audio import write_text_atomic

__all__ = ["calibration_svg", "levels_svg", "masking_svg", "mushra_svg"]

HONEST = (0.7, 0.9)  # the share inside a stated 80 % interval that is honest (issue 16)


def _pyplot():
    import matplotlib  # lazy: matplotlib takes a second to import and only figures need it

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt  # lazy: as above, after choosing the backend

    # The same numbers, the same SVG; text stays text (searchable, and a browser draws it).
    plt.rcParams.update({"svg.hashsalt": "anchormix", "svg.fonttype": "none", "font.size": 9})
    return plt


def _write_svg(fig, path: Path) -> Path:
    buffer = io.StringIO()
    fig.savefig(buffer, format="svg", bbox_inches="tight", metadata={"Date": None})
    return write_text_atomic(path, buffer.getvalue())


def calibration_svg(coverage: dict[str, dict[str, tuple[float, int]]], path: Path, title: str) -> Path:
    """Per protocol, per role: the share of targets inside the stated 80 % interval (bars, with n), the honest
    70-90 % band shaded; ``coverage`` is {protocol: {role: (share, n)}}, "all" the pooled row."""
    plt = _pyplot()
    roles = sorted({r for rows in coverage.values() for r in rows if r != "all"}) + ["all"]
    fig, ax = plt.subplots(figsize=(6.4, 0.32 * len(roles) * len(coverage) + 1.2))
    ax.axvspan(*HONEST, color="#d9f0d3", label="honest: 70-90 %")
    ax.axvline(0.8, color="#555555", lw=0.8, ls="--", label="stated: 80 %")
    height = 0.8 / len(coverage)
    for k, (protocol, rows) in enumerate(coverage.items()):
        ys = [i + (k - (len(coverage) - 1) / 2) * height for i in range(len(roles))]
        shares = [rows.get(r, (float("nan"), 0))[0] for r in roles]
        ax.barh(ys, shares, height=height * 0.9, label=protocol)
        for y, r in zip(ys, roles):
            if r in rows:
                ax.text(1.01, y, f"{100 * rows[r][0]:.0f} % (n={rows[r][1]})", va="center", fontsize=7)
    ax.set_yticks(range(len(roles)), roles)
    ax.invert_yaxis()
    ax.set_xlim(0, 1.25)
    ax.set_xticks([0, 0.2, 0.4, 0.6, 0.8, 1.0], ["0", "20", "40", "60", "80", "100 %"])
    ax.set_xlabel("targets inside the stated 80 % interval")
    ax.set_title(title, fontsize=9)
    ax.legend(loc="lower right", fontsize=7)
    try:
        return _write_svg(fig, path)
    finally:
        plt.close(fig)


def levels_svg(names: list[str], before: dict, after: dict, reference: dict | None, intervals: dict | None,
               anchor: str) -> str:
    """Each stem's level against the anchor (LU) before and after, the reference where there is one, and the
    stated 80 % interval around the after bar where the planner gave one: an SVG string."""
    plt = _pyplot()
    stems = [n for n in names if n != anchor]
    series = [("before", before, "#b0b0b0"), ("after", after, "#2b7bba")] + ([("reference", reference, "#e8a33d")]
                                                                              if reference else [])
    fig, ax = plt.subplots(figsize=(6.4, 0.45 * len(stems) * len(series) / 2 + 1.2))
    height = 0.8 / len(series)
    for k, (label, values, colour) in enumerate(series):
        ys = [i + (k - (len(series) - 1) / 2) * height for i in range(len(stems))]
        xs = [values.get(n) if values.get(n) is not None else float("nan") for n in stems]
        errors = [intervals.get(n, 0.0) for n in stems] if label == "after" and intervals else None
        ax.barh(ys, xs, height=height * 0.9, color=colour, label=label, xerr=errors, capsize=2,
                error_kw={"elinewidth": 0.8, "ecolor": "#1a4d75"})
    ax.axvline(0.0, color="#333333", lw=0.8)
    ax.set_yticks(range(len(stems)), stems)
    ax.invert_yaxis()
    ax.set_xlabel(f"LU against the {anchor} (the anchor, 0)")
    ax.legend(loc="lower right", fontsize=7)
    return _svg_text(fig, plt)


def masking_svg(names: list[str], bands_hz: list[float], before: list[list[float]], after: list[list[float]]) -> str:
    """Per stem and third-octave band, the share of the stem's active cells the rest of the mix masks, before and
    after, side by side: an SVG string (a blank cell: the stem is not active in that band)."""
    plt = _pyplot()
    fig, axes = plt.subplots(1, 2, figsize=(9.6, 0.3 * len(names) + 1.6), sharey=True)
    for ax, title, grid in zip(axes, ("before", "after"), (before, after)):
        image = ax.imshow(np.array(grid, dtype=float), aspect="auto", cmap="magma_r", vmin=0.0, vmax=1.0,
                          interpolation="nearest")
        ax.set_title(f"masked by the rest of the mix, {title}", fontsize=9)
        ticks = range(0, len(bands_hz), 3)
        ax.set_xticks(list(ticks), [_hz(bands_hz[i]) for i in ticks], rotation=60, fontsize=7)
        ax.set_yticks(range(len(names)), names)
    fig.colorbar(image, ax=axes, shrink=0.8, label="share of the stem's active cells masked")
    return _svg_text(fig, plt)


def _hz(hz: float) -> str:
    return f"{hz / 1000:g}k" if hz >= 1000 else f"{hz:g}"


def _svg_text(fig, plt) -> str:
    try:
        buffer = io.StringIO()
        fig.savefig(buffer, format="svg", bbox_inches="tight", metadata={"Date": None})
        text = buffer.getvalue()
        return text[text.index("<svg"):]  # inline in HTML: no XML declaration or doctype
    finally:
        plt.close(fig)


def mushra_svg(conditions: dict[str, dict], path: Path, title: str) -> Path:
    """A MUSHRA result: each condition's mean rating (0-100) with its 95 % confidence interval."""
    plt = _pyplot()
    names = list(conditions)
    fig, ax = plt.subplots(figsize=(6.4, 3.6))
    means = [conditions[n]["mean"] for n in names]
    errors = [0.0 if np.isnan(conditions[n]["ci95"]) else conditions[n]["ci95"] for n in names]
    ax.bar(names, means, yerr=errors, capsize=4, color="#2b7bba")
    for k, value in enumerate(means):
        ax.text(k, 2, f"{value:.0f}", ha="center", color="white", fontsize=8)
    ax.set_ylim(0, 100)
    for level, word in zip((10, 30, 50, 70, 90), ("bad", "poor", "fair", "good", "excellent")):
        ax.text(len(names) - 0.4, level, word, fontsize=7, color="#777777", va="center")
    ax.set_ylabel("rating (MUSHRA, 0-100)")
    ax.set_title(title, fontsize=9)
    try:
        return _write_svg(fig, path)
    finally:
        plt.close(fig)
