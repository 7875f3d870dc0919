"""An engineer's DAW session as anchormix reads it: its tracks, each one source file and a fader.

A track counts when it plays one audio file from the session's start (one
region or item at position 0; Ardour's own recordings, one mono file a channel,
count as one stereo stem), unless it is muted or its fader is all the way down;
its level is its fader, plus its trim and the region's or item's own gain (dB).
A track anchormix cannot read as one stem (several regions or items, an offset)
is refused with a line naming it: bounce it to one file first. Pans, plugins, sends and automation are not
heard here (anchormix balances levels) and are left as they are in the copy it
writes back (:func:`write_balanced_copy`), where only the faders change.
"""

from __future__ import annotations

import math
from pathlib import Path

from ..memory_bound import ModelsHeld
from ..session import Session, session_from_files
from .ardour import balanced_ardour, read_ardour
from .common import DawProject, DawTrack, strip_anchor_mark
from .reaper import balanced_reaper, read_reaper_project

__all__ = ["DawTrack", "DawProject", "PROJECT_SUFFIXES", "read_project", "load_daw_session", "write_balanced_copy",
           "strip_anchor_mark"]

PROJECT_SUFFIXES = (".ardour", ".rpp")


def read_project(path: Path) -> DawProject:
    """The tracks of an ``.ardour`` or ``.RPP`` file; ``ValueError`` naming the file (and track) when it cannot."""
    project = read_ardour(path) if path.suffix.lower() == ".ardour" else read_reaper_project(path)
    project.skipped += [f"'{t.name}' (fader all the way down)" for t in project.tracks if not math.isfinite(t.level_db)]
    project.tracks = [t for t in project.tracks if math.isfinite(t.level_db)]
    if not project.tracks:
        raise ValueError(f"{path}: no audio track that plays a file" + (f" ({'; '.join(project.skipped)})"
                                                                         if project.skipped else ""))
    for track in project.tracks:
        for file in track.files:
            if not file.exists():
                raise ValueError(f"{file}: audio file of track '{track.name}' in {path.name} is missing")
    return project


def load_daw_session(path: Path, anchor: str | None = None, models: ModelsHeld | None = None) -> Session:
    """The session of a DAW file: its tracks as stems at their levels (so a balance starts from the rough mix);
    ``models``: what the command's models hold beside it (tools/memory_bound.py)."""
    project = read_project(Path(path))
    names = {strip_anchor_mark(t.name): t for t in project.tracks}
    if len(names) < len(project.tracks):
        raise ValueError(f"{path}: two tracks share a name; rename one so each stem has its own")
    marked = next((n for n, t in names.items() if t.name != n), None)  # the track anchormix named the anchor
    session = session_from_files(Path(path), {n: t.files for n, t in names.items()}, {"anchor": marked} if marked else {},
                                 anchor, Path(path), {n: t.level_db for n, t in names.items()}, models)
    session.project = project
    session.warnings += [f"{path.name}: left out {why}" for why in project.skipped]
    return session


def write_balanced_copy(session: Session, gains_db: dict[str, float], folder: Path) -> Path:
    """A copy of the session's DAW file in ``folder`` (for Ardour: the session folder it makes) with each track's
    fader moved by its gain and nothing else changed but the sources' paths (absolute, so the copy finds them)."""
    project = session.project
    moves = {t.name: gains_db.get(strip_anchor_mark(t.name), 0.0) for t in project.tracks}
    write = balanced_ardour if project.kind == "ardour" else balanced_reaper
    return write(project, moves, folder)
