"""A balance as a REAPER project (``.RPP``, plain text): one track per stem, one item over its source file, the
fader (``VOLPAN``) at the advised gain, and a reader for the same format.

An RPP is a tree of chunks, ``<NAME args`` ... ``>``, whose other lines are
``KEY args``; arguments are space-separated, quoted with ``"``, ``'`` or a
backtick when they hold spaces. ``VOLPAN``'s first argument is the fader as a
linear factor; ``MASTER_VOLUME`` the master's (it carries the mix's true-peak
trim, so REAPER's render is anchormix's ``mix.wav``). The anchor's track is
named "<stem> (anchor)" and coloured; the advice is the project's notes.
"""

from __future__ import annotations

import shlex
import uuid
from dataclasses import dataclass, field
from pathlib import Path

from ..audio import write_text_atomic
from .common import DawStem

__all__ = ["write_reaper_project", "read_rpp", "RppChunk", "ANCHOR_PEAKCOL"]

ANCHOR_PEAKCOL = 0x1000000 | (0x3D << 16) | (0xA3 << 8) | 0xE8  # custom colour flag | B G R: amber
_SOURCE_TYPES = {".flac": "FLAC", ".mp3": "MP3", ".ogg": "VORBIS"}  # anything else: WAVE (wav, aiff)


def quote(text: str) -> str:
    """An RPP argument: bare when it can be, else in the first quote character it does not hold."""
    if text and not any(c in text for c in " \t\"'`"):
        return text
    for mark in ('"', "'", "`"):
        if mark not in text:
            return f"{mark}{text}{mark}"
    return '"' + text.replace('"', "'") + '"'


def write_reaper_project(path: Path, stems: list[DawStem], sample_rate: int, trim_db: float = 0.0, notes: str = "") -> Path:
    """Write the project ``path`` (atomically) for ``stems``."""
    lines = ['<REAPER_PROJECT 0.1 "7.0/anchormix" 0', f"  SAMPLERATE {sample_rate} 0 0",
             f"  MASTER_VOLUME {10.0 ** (trim_db / 20.0)!r} 0 -1 -1 1", "  <NOTES 0 2"]
    lines += [f"    |{line}" for line in notes.splitlines()] + ["  >"]
    for stem in stems:
        seconds = stem.frames / sample_rate
        kind = _SOURCE_TYPES.get(stem.file.suffix.lower(), "WAVE")
        lines += [f"  <TRACK {{{uuid.uuid5(uuid.NAMESPACE_URL, str(stem.file)).hex.upper()}}}",
                  f"    NAME {quote(f'{stem.name} (anchor)' if stem.is_anchor else stem.name)}",
                  f"    PEAKCOL {ANCHOR_PEAKCOL if stem.is_anchor else 16576}",
                  f"    VOLPAN {10.0 ** (stem.gain_db / 20.0)!r} 0 -1 -1 1", "    MUTESOLO 0 0 0", "    NCHAN 2",
                  "    <ITEM", "      POSITION 0", f"      LENGTH {seconds!r}", f"      NAME {quote(stem.file.name)}",
                  f"      <SOURCE {kind}", f"        FILE {quote(str(stem.file))}", "      >", "    >", "  >"]
    return write_text_atomic(path, "\n".join(lines + [">"]) + "\n")


@dataclass
class RppChunk:
    """One ``<NAME args`` ... ``>`` chunk: its arguments, its ``KEY args`` lines and its child chunks, in order."""

    name: str
    args: list[str]
    lines: list[list[str]] = field(default_factory=list)
    children: list["RppChunk"] = field(default_factory=list)

    def value(self, key: str) -> list[str] | None:
        """The arguments of the first ``key`` line, or None."""
        return next((line[1:] for line in self.lines if line and line[0] == key), None)

    def chunks(self, name: str) -> list["RppChunk"]:
        return [c for c in self.children if c.name == name]


def read_rpp(path: Path) -> RppChunk:
    """The project at ``path`` as a chunk tree; ``ValueError`` naming the file and line when it is not an RPP."""
    stack: list[RppChunk] = []
    root = None
    for number, raw in enumerate(Path(path).read_text(encoding="utf-8", errors="replace").splitlines(), start=1):
        text = raw.strip()
        if not text:
            continue
        try:
            words = shlex.split(text.replace("`", '"'), posix=True) if not text.startswith("|") else [text]
        except ValueError as err:
            raise ValueError(f"{path}:{number}: cannot read this line ({err})") from None
        if text.startswith("<"):
            chunk = RppChunk(words[0][1:], words[1:])
            (stack[-1].children if stack else []).append(chunk)
            root = root or chunk
            stack.append(chunk)
        elif text == ">":
            if not stack:
                raise ValueError(f"{path}:{number}: '>' closes no chunk")
            stack.pop()
        elif stack:
            stack[-1].lines.append(words)
    if root is None or root.name != "REAPER_PROJECT" or stack:
        raise ValueError(f"{path}: not a REAPER project (.RPP): " + ("unclosed chunks" if stack else "no <REAPER_PROJECT"))
    return root
