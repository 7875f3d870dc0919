"""Each stem's role, by name and by ear, and where it came from: what `anchormix roles` and the session views show.

The name reader (model/names/name_reader.py) reads the track's name; the role
tagger (model/tagger/role_tagger.py) hears the stem. Combined so that a name
that says something wins, and the ear speaks where the name cannot:

- both agree: that role, ``both``, the higher of the two confidences;
- the name reader is sure (probability >= :data:`NAME_SURE`) of a role other
  than ``other``: the name's;
- else the ear, when the tagger is sure (its own shipped threshold) of a role:
  the ear's ("Audio 07", "Standard-Preset" are the ear's to say);
- else the name's reading, whatever it is (often ``other``).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np

from anchormix.model.features import FLOOR_DB, session_mels
from anchormix.model.tagger.role_tagger import RoleTagger
from anchormix.tools import Session, load_session
from anchormix.tools.stem_store import released
from anchormix.tools.session import infer_role  # the pattern matcher the readers are measured against

from .held_out import NamedStem
from .name_reader import NameReader, patterns_then, right

__all__ = ["NAME_SURE", "RoleReading", "RoleReader", "combine", "fill_unknown_roles", "scored_with_ear"]

NAME_SURE = 0.5
_SAID = {"name": "name reader", "ear": "ear", "both": "name reader + ear"}  # a session's role source, as shown


@dataclass(frozen=True)
class RoleReading:
    """One stem's (or name's) role, the confidence in it, and its source: name, ear or both."""

    name: str
    role: str
    confidence: float
    source: str

    def to_json(self) -> dict:
        return {**asdict(self), "confidence": round(self.confidence, 3)}


def combine(name: str, by_name: tuple[str, float], by_ear: tuple[str, float] | None, ear_threshold: float) -> RoleReading:
    """The reading of one stem from its name's (role, p) and its sound's (role, p) (None: no audio)."""
    role, p = by_name
    if by_ear is None:
        return RoleReading(name, role, p, "name")
    heard, q = by_ear
    if heard == role:
        return RoleReading(name, role, max(p, q), "both")
    if role != "other" and p >= NAME_SURE:
        return RoleReading(name, role, p, "name")
    if heard != "other" and q >= ear_threshold:
        return RoleReading(name, heard, q, "ear")
    return RoleReading(name, role, p, "name")


class RoleReader:
    """The name reader, and the role tagger for a session's audio."""

    def __init__(self, names: NameReader, tagger: RoleTagger | None = None, threshold: float = 1.0) -> None:
        self.names, self.tagger, self.threshold = names, tagger, threshold

    @classmethod
    def load(cls, ear: bool = False, llm=None, tokenizer=None) -> "RoleReader":
        """The shipped name reader (on ``llm`` when given: one backbone in memory), and the tagger if ``ear``."""
        names = NameReader.load(llm=llm, tokenizer=tokenizer)
        if not ear:
            return cls(names)
        tagger, threshold, _ = RoleTagger.load()
        return cls(names, tagger, threshold)

    def read_names(self, names: list[str]) -> list[RoleReading]:
        """Names alone: the name reader's reading of each."""
        return [RoleReading(n, role, p, "name") for n, (role, p) in zip(names, self.names.read(names))]

    def read_session(self, session: Session, names: list[str] | None = None,
                     called: list[str] | None = None) -> list[RoleReading]:
        """Each stem of ``session`` (or those ``names``) by name (its own, or the track name ``called`` gives each) and,
        with a tagger, by ear (its whole-song log-mel, :func:`~anchormix.model.features.session_mels`: kept with the
        session for the ALM, each floored as a copy of its own, one stem at a time)."""
        names = session.names if names is None else names
        by_name = self.names.read(names if called is None else called)
        if self.tagger is None:
            return [combine(n, r, None, self.threshold) for n, r in zip(names, by_name)]
        heard = self.tagger.tag((np.maximum(m, FLOOR_DB) for m in released(session_mels(session, names))), 0.0)
        return [combine(n, r, h if session.active[n] else None, self.threshold)
                for n, r, h in zip(names, by_name, heard)]


def fill_unknown_roles(session: Session, reader: RoleReader) -> list[RoleReading]:
    """Read the stems whose role neither session.json nor the name patterns gave ("Kin", "Audio 07") with the name
    reader and the ear, in place (``session.roles`` and ``session.role_sources``: "name reader (0.87)", "ear (0.93)",
    "name reader + ear (0.95)"); their
    readings. A stem the reader also calls ``other`` stays ``other``, its source "unknown"."""
    unknown = [n for n in session.names if session.role_sources.get(n, "unknown") == "unknown"]
    if not unknown:
        return []
    readings = reader.read_session(session, unknown)
    for r in readings:
        if r.role != "other":
            session.roles[r.name] = r.role
            session.role_sources[r.name] = f"{_SAID[r.source]} ({r.confidence:.2f})"
    return readings


def scored_with_ear(reader: RoleReader, stems: list[NamedStem]) -> dict[str, dict]:
    """The share of ``stems`` the patterns, the name reader, the two as a session uses them (the patterns first) and
    the name reader + ear (``reader``'s tagger) read right, each stem by the track name its composer typed
    (:func:`~.held_out.midi_named_stems`), the ear by its audio."""
    hits: dict[str, list[bool]] = {"patterns": [], "name reader": [], "patterns, then name reader": [],
                                   "name reader + ear": []}
    sessions: dict[Path, list[NamedStem]] = {}
    for stem in stems:
        sessions.setdefault(stem.session, []).append(stem)
    for folder, group in sessions.items():
        called = [s.name for s in group]
        heard = reader.read_session(load_session(folder), [s.stem for s in group], called)
        for s, (role, _), both in zip(group, reader.names.read(called), heard):
            drums = s.role == "drums"  # the drum channel: any drum role is right
            hits["patterns"].append(right(infer_role(s.name), s.role, drums))
            hits["name reader"].append(right(role, s.role, drums))
            hits["patterns, then name reader"].append(right(patterns_then(role, s.name), s.role, drums))
            hits["name reader + ear"].append(right(both.role, s.role, drums))
    return {who: {"n": len(h), "accuracy": round(sum(h) / max(len(h), 1), 3)} for who, h in hits.items()}
