"""What a conversation remembers: the gains, the proposal and its reasons, the history; saved by its store.

:class:`ChatState` is the whole of it, one record: agent/chat/store.py saves it
after every turn and a reopened conversation restores it (with the anchor, which
lives on the session, and the audio's fingerprint, so changed stems start fresh).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any

__all__ = ["ChatState", "TRANSCRIPT_KEPT"]

TRANSCRIPT_KEPT = 200  # messages saved with the conversation (the last ones)


@dataclass
class ChatState:
    gains: dict[str, float]  # dB per stem, relative to the stems as loaded
    genre: str
    proposal: dict[str, float] = field(default_factory=dict)  # changes (dB) the last balance proposes, not yet applied
    reasons: dict[str, str] = field(default_factory=dict)  # why each stem was moved, from the balance that moved it
    flags: dict[str, str] = field(default_factory=dict)  # proposed moves to check by ear first: applied only when named
    intervals: dict[str, float] = field(default_factory=dict)  # 80 % interval half-width (dB) per proposed move
    written: dict[str, str] = field(default_factory=dict)  # the model's own sentence per proposed move
    undo: list[dict] = field(default_factory=list)  # snapshots {"gains", "anchor"} to go back to
    redo: list[dict] = field(default_factory=list)
    transcript: list[dict[str, str]] = field(default_factory=list)  # {"role": "user" | "assistant", "text"}
    last_trace: list[dict[str, Any]] = field(default_factory=list)  # the tool records of the last turn

    def saved(self, anchor: str, fingerprint: str) -> dict[str, Any]:
        """The record the store keeps: this state, the anchor and the audio's fingerprint."""
        record = asdict(self)
        record["transcript"] = record["transcript"][-TRANSCRIPT_KEPT:]
        return {"fingerprint": fingerprint, "anchor": anchor, **record}

    @classmethod
    def restored(cls, saved: dict[str, Any], names: list[str], genre: str) -> "ChatState":
        """The state in a saved record, keeping only stems the session still has."""
        gains = {n: 0.0 for n in names}
        gains.update({n: float(g) for n, g in saved.get("gains", {}).items() if n in gains})
        return cls(gains=gains, genre=saved.get("genre", genre),
                   proposal={n: v for n, v in saved.get("proposal", {}).items() if n in gains},
                   **{k: saved.get(k) or {} for k in ("reasons", "flags", "intervals", "written")},
                   **{k: saved.get(k) or [] for k in ("undo", "redo", "transcript", "last_trace")})
