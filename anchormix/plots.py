"""Figures drawn with matplotlib and written as SVG, atomically: the calibration of the ALM's intervals.

Each function takes plain numbers (what a command already measured) and a path;
nothing here measures anything. matplotlib is imported when a figure is drawn,
with the Agg backend (no display needed).
"""

from __future__ import annotations

import io
from pathlib import Path

from anchormix.tools.audio import write_text_atomic

__all__ = ["calibration_svg"]

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
