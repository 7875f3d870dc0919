"""A balance as a REAPER project (``.RPP``, plain text): one track per stem, one item over its source file, the
fader (``VOLPAN``) at the advised gain, and a reader for the same format.

An RPP is a tree of chunks, ``<NAME args`` ... ``>``, whose other lines are
``KEY args``; arguments are space-separated, quoted with ``"``, ``'`` or a
backtick when they hold spaces. ``VOLPAN``'s first argument is the fader as a
linear factor; ``MASTER_VOLUME`` the master's (it carries the mix's true-peak
trim, so REAPER's render is anchormix's ``mix.wav``). The anchor's track is
named "<stem> (anchor)" and coloured; the advice is the project's notes.

An engineer's project is read for its tracks (:func:`read_reaper_project`) and
copied with only the track faders' ``VOLPAN`` and the ``FILE`` paths (made
absolute) changed (:func:`balanced_reaper`).
"""

from __future__ import annotations

import math
import re
import shlex
import uuid
from dataclasses import dataclass, field
from pathlib import Path

from ..audio import write_text_atomic
from .common import DawProject, DawStem, DawTrack, anchor_mark, db, level_db, safe_name, split_gain

__all__ = ["write_reaper_project", "read_rpp", "RppChunk", "ANCHOR_PEAKCOL", "read_reaper_project", "balanced_reaper"]

ANCHOR_PEAKCOL = 0x1000000 | (0x3D << 16) | (0xA3 << 8) | 0xE8  # custom colour flag | B G R: amber
FADER_MAX_DB, ITEM_MAX_DB = 12.0, 24.0  # REAPER's track fader and item volume go no higher
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
    lines += [f"    |{safe_name(line)}" for line in notes.splitlines()] + ["  >"]
    for stem in stems:
        seconds = stem.frames / sample_rate
        kind = _SOURCE_TYPES.get(stem.file.suffix.lower(), "WAVE")
        fader_db, item_db = split_gain(stem.gain_db, FADER_MAX_DB, ITEM_MAX_DB, f"{path}: track '{stem.name}'")
        lines += [f"  <TRACK {{{uuid.uuid5(uuid.NAMESPACE_URL, str(stem.file)).hex.upper()}}}",
                  f"    NAME {quote(anchor_mark(stem.name, stem.is_anchor))}",
                  f"    PEAKCOL {ANCHOR_PEAKCOL if stem.is_anchor else 16576}",
                  f"    VOLPAN {10.0 ** (fader_db / 20.0)!r} 0 -1 -1 1", "    MUTESOLO 0 0 0", "    NCHAN 2",
                  "    <ITEM", "      POSITION 0", f"      LENGTH {seconds!r}", f"      NAME {quote(stem.file.name)}",
                  f"      VOLPAN {10.0 ** (item_db / 20.0)!r} 0 1 -1",
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


def _item_file(path: Path, item: RppChunk, track: str) -> Path:
    sources = item.chunks("SOURCE")
    file = sources[0].value("FILE") if len(sources) == 1 else None
    if not file:
        raise ValueError(f"{path}: track '{track}' plays an item anchormix cannot read as one file; bounce it first")
    return Path(file[0]) if Path(file[0]).is_absolute() else path.parent / file[0]


def _number(chunk: RppChunk, key: str, path: Path, track: str) -> float:
    text = (chunk.value(key) or ["0"])[0]
    try:
        value = float(text)
    except ValueError:
        raise ValueError(f"{path}: track '{track}': {key} '{text}' is not a number") from None
    if not math.isfinite(value):
        raise ValueError(f"{path}: track '{track}': {key} {text} is not a finite number")
    return value


def read_reaper_project(path: Path) -> DawProject:
    """The tracks of the project ``path`` that play one item from the start (tools/daw/project.py)."""
    tracks, skipped = [], []
    for chunk in read_rpp(path).chunks("TRACK"):
        name = (chunk.value("NAME") or [""])[0] or "(unnamed)"
        items = chunk.chunks("ITEM")
        if (chunk.value("MUTESOLO") or ["0"])[0] not in ("0", ""):
            skipped.append(f"'{name}' (muted)")
            continue
        if not items:
            skipped.append(f"'{name}' (no item)")
            continue
        item = items[0]
        if len(items) > 1 or abs(_number(item, "POSITION", path, name)) > 1e-9 or \
                abs(_number(item, "SOFFS", path, name)) > 1e-9:
            raise ValueError(f"{path}: track '{name}' is not one item from the project start ({len(items)} items); "
                             f"bounce it to one file first")
        fader = level_db((chunk.value("VOLPAN") or ["1"])[0], path, name, "fader (VOLPAN)", FADER_MAX_DB)
        item_gain = level_db((item.value("VOLPAN") or ["1"])[0], path, name, "item volume (VOLPAN)", ITEM_MAX_DB)
        tracks.append(DawTrack(name, (_item_file(path, item, name),), fader + item_gain, fader))
    return DawProject("reaper", Path(path), tracks, skipped)


def balanced_reaper(project: DawProject, moves_db: dict[str, float], folder: Path) -> Path:
    """``folder/<name>.RPP``: the project with each track's fader (its ``VOLPAN``) moved by ``moves_db`` (by track
    name; what REAPER's fader cannot hold above +12 dB goes onto its item's volume) and its sources' paths absolute;
    every other line as it was."""
    tracks = read_rpp(project.path).chunks("TRACK")
    names = [(c.value("NAME") or [""])[0] for c in tracks]
    splits = [split_gain(db((c.value("VOLPAN") or ["1"])[0]) + moves_db[n], FADER_MAX_DB, ITEM_MAX_DB,
                         f"{project.path}: track '{n}'") if n in moves_db else None for c, n in zip(tracks, names)]
    lines, stack, track = project.path.read_text(encoding="utf-8").splitlines(keepends=True), [], -1
    out, item_volume_seen = [], False
    for line in lines:
        text = line.strip()
        split = splits[track] if 0 <= track < len(splits) else None
        if text.startswith("<"):
            stack.append(text[1:].split()[0] if len(text) > 1 else "")
            track += stack == ["REAPER_PROJECT", "TRACK"]
            item_volume_seen = item_volume_seen and stack[-1] != "ITEM"
        elif text == ">":
            if stack[-1:] == ["ITEM"] and split and split[1] and not item_volume_seen:
                out.append(line[: len(line) - len(line.lstrip())] + f"  VOLPAN {10.0 ** (split[1] / 20.0)!r} 0 1 -1\n")
            stack.pop()
        elif stack[-1:] == ["TRACK"] and text.startswith("VOLPAN ") and split:
            line = re.sub(r"^(\s*VOLPAN\s+)\S+", lambda m: m.group(1) + repr(10.0 ** (split[0] / 20.0)), line)
        elif stack[-1:] == ["ITEM"] and text.startswith("VOLPAN ") and split and split[1]:
            item_volume_seen = True
            volume = float(text.split()[1]) * 10.0 ** (split[1] / 20.0)
            line = re.sub(r"^(\s*VOLPAN\s+)\S+", lambda m: m.group(1) + repr(volume), line)
        elif stack[-1:] == ["SOURCE"] and text.startswith("FILE "):
            file = shlex.split(text.replace("`", '"'))[1]
            absolute = (Path(file) if Path(file).is_absolute() else project.path.parent / file).resolve()
            line = line[: len(line) - len(line.lstrip())] + f"FILE {quote(str(absolute))}" + line[len(line.rstrip()):]
        out.append(line)
    return write_text_atomic(folder / project.path.name, "".join(out))
