"""A session: a folder of stems, their roles, and the anchor they are balanced against.

``load_stem_folder(path)`` reads every audio file in the folder (see
:data:`anchormix.tools.audio.AUDIO_EXTENSIONS`) plus an optional ``session.json``::

    {"anchor": "bass", "genre": "pop", "roles": {"Track 7": "vocals"}}

Stems are resampled to one rate (the most common one, ties to the higher),
laid out as stereo float32 ``(2, samples)`` and zero-padded to one length,
decoded a block at a time into files of a private temporary folder and mapped
from there when a measurement asks for a stem (tools/stem_store.py): a
session's memory is a few stems', whatever its number of stems. Source files
are only ever opened for reading.
"""

from __future__ import annotations

import hashlib
import json
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Mapping

import numpy as np

from .anchor_choice import BY_EAR, anchor_by_name, lowest_sustained_stem
from .audio import AUDIO_EXTENSIONS, probe_audio
from .conventions import ROLES
from .memory_bound import ModelsHeld, check_memory_bound
from .role_names import infer_role
from .stem_store import StemSequence, StemStats, StemView, decode_stems

__all__ = ["Session", "infer_role", "load_stem_folder", "session_from_files", "SESSION_FILE"]

SESSION_FILE = "session.json"
# Keys session.json may hold; anything else is a typo we would rather report than ignore.
_SESSION_KEYS = {"anchor", "genre", "roles", "source", "licence", "reference_lu", "notes"}
# A stem whose peak stays below this is digital silence for our purposes (-90 dBFS).
_SILENCE_PEAK = 10 ** (-90 / 20)

@dataclass
class Session:
    """Stems of one song, all stereo float32 ``(2, samples)`` at ``sample_rate``: a dict of arrays, or (loaded from
    files) a :class:`~anchormix.tools.stem_store.StemStore` that reads each stem from disk when asked for."""

    path: Path
    sample_rate: int
    stems: Mapping[str, np.ndarray]
    roles: dict[str, str]
    anchor: str
    genre: str = "unknown"
    files: dict[str, Path] = field(default_factory=dict)
    active: dict[str, bool] = field(default_factory=dict)
    source_channels: dict[str, int] = field(default_factory=dict)
    # Reference balance (LU relative to the anchor) when the session records one.
    reference_lu: dict[str, float] | None = None
    ignored_files: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)  # loadable, but worth a look (DC offset, clipping)
    faders_db: dict[str, float] = field(default_factory=dict)  # a DAW session's faders, applied to the stems as loaded
    project: Any = None  # the DAW session it was read from (tools/daw/project.py), if any
    channel_files: dict[str, tuple[Path, ...]] = field(default_factory=dict)  # a stem read from one mono file a channel
    anchor_rule: str = ""  # why this stem is the anchor, in one line (tools/anchor_choice.py)
    role_sources: dict[str, str] = field(default_factory=dict)  # where each role came from: session.json, name, ...

    @property
    def names(self) -> list[str]:
        return list(self.stems)

    @property
    def anchor_by_ear(self) -> bool:
        """Whether the ear chose the anchor (no name said bass): worth saying, with :attr:`anchor_rule`."""
        return self.anchor_rule.startswith(BY_EAR)

    @property
    def num_samples(self) -> int:
        return next(iter(self.stems.values())).shape[1]

    @property
    def duration_s(self) -> float:
        return self.num_samples / self.sample_rate

    def array(self) -> np.ndarray:
        """All stems stacked, ``(stems, 2, samples)`` float32, in ``names`` order: a copy of the whole session (for
        tests and short excerpts; the measurements walk :meth:`arrays`)."""
        return np.stack(list(self.arrays()))

    def arrays(self) -> StemSequence:
        """Every stem ``(2, samples)`` float32 in ``names`` order, each read when indexed (no copy, and never all
        at once): what the measurements take."""
        return StemSequence(self.stems, self.names)

    def only(self, names: list[str]) -> "Session":
        """This session limited to the stems ``names`` (lazily: no stem is read)."""
        return Session(self.path, self.sample_rate, StemView(self.stems, names), {n: self.roles[n] for n in names},
                       self.anchor, self.genre, active={n: self.active[n] for n in names})

    def source_files(self) -> list[Path]:
        """Every file the stems are read from (and a DAW session's own file): what anchormix must never write."""
        files = {*self.files.values(), *(f for group in self.channel_files.values() for f in group)}
        return sorted(files | ({self.path} if self.path.is_file() else set()))

    def read_only(self) -> list[Path]:
        """What anchormix must never write into: the folder of stems (a DAW project's whole folder: an Ardour
        session's, a REAPER project's), and every source file wherever it lies."""
        folder = self.path.parent if self.path.is_file() else self.path
        return [p.resolve() for p in [folder] + self.source_files()]

    def fingerprint(self) -> str:
        """Name, size and mtime of every source file and session.json (or the DAW session file): changes when the
        audio or the faders do."""
        digest = hashlib.sha256()
        for file in sorted(self.source_files() + [self.path if self.path.is_file() else self.path / SESSION_FILE]):
            if file.exists():
                st = file.stat()
                digest.update(f"{file.name}\0{st.st_size}\0{st.st_mtime_ns}\n".encode())
        return digest.hexdigest()[:16]


def _read_session_json(path: Path) -> dict:
    json_path = path / SESSION_FILE
    if not json_path.exists():
        return {}
    try:
        meta = json.loads(json_path.read_text(encoding="utf-8"))
    except (json.JSONDecodeError, UnicodeDecodeError) as err:
        raise ValueError(f"{json_path}: not valid JSON ({err})") from None
    if not isinstance(meta, dict):
        raise ValueError(f"{json_path}: must hold a JSON object, got {type(meta).__name__}")
    unknown = sorted(set(meta) - _SESSION_KEYS)
    if unknown:
        raise ValueError(f"{json_path}: unknown keys {unknown}; allowed: {sorted(_SESSION_KEYS)}")
    for key in ("anchor", "genre", "source", "licence", "notes"):
        if key in meta and not isinstance(meta[key], str):
            raise ValueError(f"{json_path}: '{key}' must be a string, got {type(meta[key]).__name__}")
    for key in ("roles", "reference_lu"):
        if key in meta and not isinstance(meta[key], dict):
            raise ValueError(f"{json_path}: '{key}' must be an object mapping stem names, got {type(meta[key]).__name__}")
    for stem, role in meta.get("roles", {}).items():
        if role not in ROLES:
            raise ValueError(f"{json_path}: role '{role}' for stem '{stem}' is not one of {', '.join(ROLES)}")
    for stem, value in meta.get("reference_lu", {}).items():
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise ValueError(f"{json_path}: reference_lu['{stem}'] must be a number")
    return meta


def _check_anchor(session: Session, anchor: str, where: Path) -> None:
    if not session.active[anchor]:
        raise ValueError(f"{session.files.get(anchor, where)}: anchor '{anchor}' is silent; choose an audible stem")


def load_stem_folder(path: str | Path, anchor: str | None = None, models: ModelsHeld | None = None) -> Session:
    """Load the session folder ``path``; ``anchor`` overrides ``session.json`` and the bass default; ``models``: what
    the command's models will hold beside it (charged by the memory bound)."""
    path = Path(path)
    if not path.is_dir():
        raise ValueError(f"{path}: not a folder of stems")
    meta = _read_session_json(path)
    files, ignored = [], []
    for item in sorted(path.iterdir()):
        if item.name.startswith(".") or item.name == SESSION_FILE:
            continue
        audio_name = item.suffix.lower() in AUDIO_EXTENSIONS
        (files if audio_name and (item.is_file() or item.is_symlink()) else ignored).append(item)
    if not files:
        raise ValueError(f"{path}: no audio files ({', '.join(AUDIO_EXTENSIONS)}) in the session folder")
    by_name: dict[str, Path] = {}
    for file in files:
        if file.stem in by_name:
            raise ValueError(f"{file}: stem name '{file.stem}' is also used by {by_name[file.stem].name}")
        by_name[file.stem] = file
    json_path = path / SESSION_FILE
    for stem in list(meta.get("roles", {})) + list(meta.get("reference_lu", {})):
        if stem not in by_name:
            raise ValueError(f"{json_path}: names stem '{stem}', which is not in the folder; stems: {', '.join(by_name)}")
    session = session_from_files(path, by_name, meta, anchor, json_path if "anchor" in meta and not anchor else path,
                                 models=models)
    session.ignored_files = [i.name for i in ignored]
    return session


def session_from_files(path: Path, by_name: dict[str, Path | tuple[Path, ...]], meta: dict, anchor: str | None, where: Path,
                       faders_db: dict[str, float] | None = None, models: ModelsHeld | None = None) -> Session:
    """A session of the audio files ``by_name`` (stem name -> file, or its channels' mono files), described by
    ``meta`` (session.json's keys);
    ``faders_db``: gains already applied to the stems as loaded (a DAW session's faders); ``models``: what the
    command's models hold, charged with the audio before decoding. ``where`` is named when the anchor is wrong."""
    groups = {n: (f,) if isinstance(f, Path) else tuple(f) for n, f in by_name.items()}
    roles = {n: meta.get("roles", {}).get(n) or infer_role(n) for n in groups}
    sources = {n: "session.json" if meta.get("roles", {}).get(n) else "name" if roles[n] != "other" else "unknown"
               for n in groups}
    named = anchor_by_name(path, list(groups), roles, anchor or meta.get("anchor"), where)  # before any decoding
    infos = {f: probe_audio(f) for group in groups.values() for f in group}
    rates = Counter(i.sample_rate for i in infos.values())
    sample_rate = max(rates, key=lambda r: (rates[r], r))
    frames = {n: max(int(np.ceil(infos[f].frames * sample_rate / infos[f].sample_rate)) for f in g)
              for n, g in groups.items()}
    check_memory_bound(path, {g[0]: frames[n] for n, g in groups.items()}, sample_rate,
                       models(sources) if models else {})
    stems, stats = decode_stems(groups, frames, sample_rate, faders_db)
    active = {n: _audible(stats[n]) for n in groups}  # before padding: the pad's step is not the stem's sound
    warnings = [w for n, g in groups.items() for w in _warnings(g[0], stats[n])]
    channels = {n: stats[n].channels for n in groups}
    session = Session(
        path=path,
        sample_rate=sample_rate,
        stems=stems,
        roles=roles,
        anchor="",
        genre=meta.get("genre", "unknown"),
        files={n: g[0] for n, g in groups.items()},
        channel_files={n: g for n, g in groups.items() if len(g) > 1},
        active=active,
        source_channels=channels,
        reference_lu={k: float(v) for k, v in meta["reference_lu"].items()} if "reference_lu" in meta else None,
        warnings=warnings,
        faders_db=dict(faders_db or {}),
        role_sources=sources,
    )
    session.anchor, session.anchor_rule = named or "", _named_rule(named, roles, anchor, meta, where)
    if named is None:  # no name says bass: the ear chooses, among the stems that sound
        audible = [n for n in stems if active[n]]
        if not audible:
            raise ValueError(f"{path}: every stem is silent; nothing to balance")
        session.anchor, session.anchor_rule = lowest_sustained_stem(StemView(stems, audible), sample_rate)
    _check_anchor(session, session.anchor, where)
    return session


def _named_rule(named: str | None, roles: dict[str, str], anchor: str | None, meta: dict, where: Path) -> str:
    """Why the names chose ``named`` (empty when they did not)."""
    if named is None:
        return ""
    if anchor:
        return f"'{named}', chosen with --anchor"
    if meta.get("anchor"):
        return f"'{named}', named the anchor in {where.name}"
    return f"'{named}', the stem whose name reads as {roles[named]}"


def _audible(stats: StemStats) -> bool:
    """Anything but digital silence or a constant (DC) level: what a listener could hear (the largest distance of a
    sample from its channel's mean)."""
    mean = stats.mean
    return bool(np.maximum(stats.high - mean, mean - stats.low).max() > _SILENCE_PEAK)


def _warnings(file: Path, stats: StemStats) -> list[str]:
    found = []
    dc = float(np.abs(stats.mean).max())
    if dc > 0.01:
        found.append(f"{file.name}: DC offset {dc:.2f} of full scale" + ("" if _audible(stats) else "; nothing "
                                                                            "audible, treated as silent"))
    clipped = stats.clipped / max(2 * stats.frames, 1)
    if clipped > 0.001:
        found.append(f"{file.name}: {clipped:.1%} of samples at full scale (clipped in the source)")
    return found
