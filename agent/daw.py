"""A balance's DAW sessions: the engineer's own session back with its faders moved, and fresh Ardour/REAPER ones.

Shared by the batch (``balance --daw``) and the chat (F6). ``gains_db`` are the
gains the mix got, relative to the stems as loaded (for a DAW session: to its
faders); the sessions are written under ``out_dir`` (tools/daw/).
"""

from __future__ import annotations

from pathlib import Path

from anchormix.tools import Session
from anchormix.tools.daw import daw_stems, staged_folder, write_ardour_session, write_balanced_copy, write_reaper_project

__all__ = ["DAW_FORMATS", "write_daw_sessions", "daw_formats"]

DAW_FORMATS = ("ardour", "reaper")


def daw_formats(text: str) -> tuple[str, ...]:
    """Comma-separated DAW formats ("ardour,reaper"); ``ValueError`` naming an unknown one."""
    formats = tuple(f.strip().lower() for f in text.split(",") if f.strip())
    unknown = [f for f in formats if f not in DAW_FORMATS]
    if unknown or not formats:
        raise ValueError(f"'{text}': choose from {', '.join(DAW_FORMATS)} (comma-separated)")
    return formats


def write_daw_sessions(formats: tuple[str, ...], session: Session, sid: str, out_dir: Path, gains_db: dict[str, float],
                       notes: dict[str, str], advice: str, trim_db: float) -> dict[str, Path]:
    """The DAW sessions of a balance, every fader at the gain the mix got, the master at its trim: {format: path}.
    A session read from a DAW file is always written back, its faders moved and nothing else."""
    written, own = {}, session.project.kind if session.project is not None else None
    if own == "ardour":
        with staged_folder(out_dir / "ardour") as staging:
            name = write_balanced_copy(session, gains_db, staging).name
        written["ardour"] = out_dir / "ardour" / name
    elif own == "reaper":
        written["reaper"] = write_balanced_copy(session, gains_db, out_dir)
    unknown = [f for f in formats if f not in DAW_FORMATS]
    if unknown:
        raise ValueError(f"--daw: unknown format {', '.join(unknown)}; choose from {', '.join(DAW_FORMATS)}")
    fresh = tuple(f for f in formats if f != own)
    stems = daw_stems(session, gains_db, notes, out_dir / "daw-audio") if fresh else []
    if "ardour" in fresh:
        with staged_folder(out_dir / "ardour") as staging:
            write_ardour_session(staging, sid, stems, session.sample_rate, trim_db)
        written["ardour"] = out_dir / "ardour" / f"{sid}.ardour"
    if "reaper" in fresh:
        written["reaper"] = write_reaper_project(out_dir / f"{sid}.RPP", stems, session.sample_rate, trim_db, advice)
    return written
