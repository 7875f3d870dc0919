"""anchormix.model.corpus: sessions at a balance a person set, their manifest and splits, and where they come from.

Every source writes the same session format (stems + ``session.json`` with roles,
genre, anchor, ``reference_lu``, source and licence): General MIDI songs rendered
per instrument (midi, midi_songs), tracker modules rendered per instrument with
libxmp (xmp, modules) and procedural demo songs (procedural).
"""

from .manifest import MANIFEST, find_sessions, load_manifest, song_features_path, split_of, write_manifest
from .midi_songs import DEBIAN_MIDI_PACKAGES, build_midi_session, debian_midi_dirs, infer_genre, missing_debian_packages
from .procedural import build_procedural_session

__all__ = ["MANIFEST", "DEBIAN_MIDI_PACKAGES", "build_midi_session", "build_procedural_session", "debian_midi_dirs",
           "find_sessions", "infer_genre", "load_manifest", "missing_debian_packages", "song_features_path", "split_of",
           "write_manifest"]
