"""The roles the name patterns could not give, read by the language model and the ear when a session is opened.

``balance``, ``measure`` and ``chat`` call :func:`read_unknown_roles` on each
session they load: stems whose name the patterns leave ``other`` and
session.json does not name ("Kin", "BkV3", "Audio 07") are read by the shipped
name reader and the role tagger (model/names/role_reader.py), their sources
said ("name reader (0.91)", "ear (0.88)"). A session whose anchor the ear chose
(no name said bass) takes the stem read as bass, most confident, instead. A
session whose every role is known, or a machine without the name reader's
checkpoint, costs nothing: the model is loaded once per process, and only
when a name needs it. :func:`models_held` says what a command's models will
hold, the name reader's only where a name needs it, so that the memory bound
charges them before any audio is decoded (tools/memory_bound.py).
"""

from __future__ import annotations

from typing import Mapping

from anchormix.model.shipped import (ALM_BYTES, BACKBONE_BYTES, DEFAULT_INTENT_CHECKPOINT, DEFAULT_NAMES_CHECKPOINT,
                                     INTENT_BYTES, NAMES_BYTES)
from anchormix.tools import Session
from anchormix.tools.anchor_choice import BY_EAR
from anchormix.tools.memory_bound import ModelsHeld

__all__ = ["read_unknown_roles", "models_held"]

_READER = []  # the process's RoleReader, loaded on first need


def _needs_the_reader(role_sources: Mapping[str, str]) -> bool:
    """Whether a session's names call for the name reader: a name no pattern read, and the reader's checkpoint here."""
    return "unknown" in role_sources.values() and DEFAULT_NAMES_CHECKPOINT.exists()


def read_unknown_roles(session: Session) -> None:
    """Fill ``session``'s unknown roles in place (and, for an anchor chosen by ear, prefer a stem read as bass)."""
    if not _needs_the_reader(session.role_sources):
        return
    from anchormix.model.names.role_reader import RoleReader, fill_unknown_roles  # lazy: loads torch and the LLM

    if not _READER:
        _READER.append(RoleReader.load(ear=True))
    readings = fill_unknown_roles(session, _READER[0])
    basses = [r for r in readings if r.role == "bass" and session.active[r.name]]
    if session.anchor_by_ear and basses:
        best = max(basses, key=lambda r: r.confidence)
        session.anchor = best.name
        session.anchor_rule = (f"{BY_EAR}; '{best.name}' reads as bass to the "
                               f"{session.role_sources[best.name]}")


def models_held(planner: str | None = None, intent: bool = False, every_name: bool = False) -> ModelsHeld:
    """What a command's models hold beside a session's audio (the memory bound's charge, by the session's role
    sources): the ALM with ``planner`` "alm", the intent model with ``intent``, the name reader and the tagger where
    a name needs them (as :func:`read_unknown_roles` decides; ``every_name``: always), and one backbone under them
    all."""
    def held(role_sources: Mapping[str, str]) -> dict[str, int]:
        parts = {}
        if planner == "alm":
            parts["the ALM and its advice writer"] = ALM_BYTES
        if intent and DEFAULT_INTENT_CHECKPOINT.exists():
            parts["the intent model"] = INTENT_BYTES
        if every_name or _needs_the_reader(role_sources):
            parts["the name reader and the role tagger"] = NAMES_BYTES
        return {"the language model's backbone": BACKBONE_BYTES, **parts} if parts else {}

    return held
