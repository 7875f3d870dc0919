"""DAW sessions: a balance written as an Ardour session and a REAPER project, every fader at its advised gain; an
engineer's Ardour session or REAPER project read as the session to balance, and written back with the faders moved."""

from .ardour import write_ardour_session
from .common import DawProject, DawStem, DawTrack, daw_stems, staged_folder
from .project import PROJECT_SUFFIXES, load_daw_session, read_project, write_balanced_copy
from .reaper import write_reaper_project

__all__ = ["DawProject", "DawStem", "DawTrack", "PROJECT_SUFFIXES", "daw_stems", "load_daw_session", "read_project",
           "staged_folder", "write_ardour_session", "write_balanced_copy", "write_reaper_project"]
