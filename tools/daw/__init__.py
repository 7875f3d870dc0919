"""DAW sessions: a balance written as an Ardour session and a REAPER project, every fader at its advised gain."""

from .ardour import write_ardour_session
from .common import DawStem, daw_stems, staged_folder
from .reaper import write_reaper_project

__all__ = ["DawStem", "daw_stems", "staged_folder", "write_ardour_session", "write_reaper_project"]
