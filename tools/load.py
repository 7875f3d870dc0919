"""``load_session``: what anchormix balances, a folder of stems or an engineer's DAW session.

A folder is read by tools/session.py; an Ardour session (``.ardour``) or a
REAPER project (``.RPP``) by tools/daw/project.py: its tracks' source files are
the stems, its faders already applied (so the balance starts from the
engineer's rough mix, and every move is relative to their faders).
"""

from __future__ import annotations

from pathlib import Path

from .daw.project import PROJECT_SUFFIXES, load_daw_session
from .memory_bound import ModelsHeld
from .session import Session, load_stem_folder

__all__ = ["load_session"]


def load_session(path: str | Path, anchor: str | None = None, models: ModelsHeld | None = None) -> Session:
    """The session at ``path``: a folder of stems, an ``.ardour`` file or an ``.RPP``; ``anchor`` overrides the
    session's own choice and the bass default; ``models``: what the command's models will hold beside its audio,
    charged by the memory bound before decoding (tools/memory_bound.py)."""
    path = Path(path)
    if path.is_file() and path.suffix.lower() in PROJECT_SUFFIXES:
        return load_daw_session(path, anchor, models)
    if path.is_file():
        raise ValueError(f"{path}: not a session: give a folder of stems, an Ardour session (.ardour) or a REAPER "
                         f"project (.RPP)")
    return load_stem_folder(path, anchor, models)
