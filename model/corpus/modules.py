"""Corpus sessions from tracker modules: balances a composer set and heard, one stem per instrument.

:func:`build_module_session` renders a module with libxmp (model/corpus/xmp.py):
the whole song, then each instrument alone. It keeps the song only when the stems
sum back to the full render (null test at least 50 dB down) and a second render
is bit-identical; otherwise the song is skipped with the reason. The session
keeps the 30 s excerpt where the most stems play (FLAC, to keep the corpus
small); the reference balance is each stem's integrated loudness over it. Given a
feature function (the CLI passes model.features.log_mel), it also keeps every
stem's features over the *whole* song (float16 log-mel, ``songs/<id>.npz``: about
0.3 MB a stem-minute, a sixtieth of it as float WAV), so training hears every
section of the song without the corpus holding whole songs as audio.

Roles come from the instrument's name, else its samples' names (about a quarter
say), else ``other``. The anchor is the loudest bass by name; without one, the
lowest sustained stem (lowest spectral centroid among the stems audible most of
the excerpt); the manifest entry says which rule fired.
"""

from __future__ import annotations

import hashlib
import re
import time
from pathlib import Path
from typing import Any, Callable

import numpy as np

from anchormix.tools.anchor_choice import activity, lowest_sustained_stem
from anchormix.tools.audio import atomic_path
from anchormix.tools.loudness import integrated_loudness
from anchormix.tools.session import infer_role

from .debian import licence_of
from .manifest import song_features_path, split_of, write_session
from .midi_songs import infer_genre
from .xmp import module_info, render_module

__all__ = ["MODULE_EXTENSIONS", "DEBIAN_MODULE_PACKAGES", "NULL_LIMIT_DB", "find_modules", "module_song_id",
           "build_module_session", "render_stems", "unique_name", "excerpt_window", "choose_anchor",
           "write_song_features"]

MODULE_EXTENSIONS = (".mod", ".xm", ".s3m", ".it")
# Debian game data packages that ship tracker modules (docs/architecture.md, "Where real balances come from"): every
# package of Debian 12 whose files end in .mod/.xm/.s3m/.it under a game's share folder (`apt-file search`, issue
# 28), less redeclipse-data (862 MB to download for one module). The first 11 are the corpus of before issue 28.
DEBIAN_MODULE_PACKAGES = ("ironseed-data", "tecnoballz-data", "pekka-kana-2-data", "heroes-sound-tracks",
                          "pingus-data", "freedroid-data", "rafkill-data", "pachi-data", "biniax2-data",
                          "bomberclone-data", "open-invaders-data",
                          "gl-117-data", "flobopuyo", "rockdodger", "madbomber-data", "circuslinux-data", "gemdropx",
                          "vodovod", "tuxtype-data", "tuxmath-data", "ri-li-data", "penguin-command", "njam-data", "bb",
                          "solarwolf", "dodgindiamond2", "bugsquish", "vor", "vectoroids", "tomatoes-data",
                          "monsterz-data", "gweled", "gltron", "fb-music-high", "cuyo-data", "criticalmass-data",
                          "ceferino-data", "ballz-data", "black-box", "sdlbasic", "pathogen")
NULL_LIMIT_DB = -50.0  # the stems must sum back to the full render at least this far down
# Splits by package, so one game's music (one composer, usually) is never on both sides. Hashing 11 names
# gave no test package at all, so Debian's packages are assigned: the test split is ironseed-data and
# open-invaders-data (31 songs), valid freedroid-data and bomberclone-data (14); every other Debian package trains
# (the held-out splits stay the songs every table was measured on), and a user's folder is split by song (hash).
PACKAGE_SPLITS = {"ironseed-data": "test", "open-invaders-data": "test", "freedroid-data": "valid",
                  "bomberclone-data": "valid"}


def module_song_id(package: str | None, path: Path) -> str:
    """The session id of the module at ``path`` from Debian ``package`` (None: a user's folder)."""
    slug = re.sub(r"[^\w]+", "_", Path(path).stem).strip("_").lower()[:50] or "song"
    return f"{package or 'modules'}-{slug}"


def find_modules(files: list[tuple[str | None, Path]]) -> list[tuple[str | None, Path, str]]:
    """(package, path, md5) of each module among ``files``, the first of identical files only (dedupe by md5)."""
    seen, found = set(), []
    for package, path in sorted(files, key=lambda f: (f[0] or "", str(f[1]))):
        if path.suffix.lower() not in MODULE_EXTENSIONS:
            continue
        digest = hashlib.md5(path.read_bytes()).hexdigest()
        if digest not in seen:
            seen.add(digest)
            found.append((package, path, digest))
    return found


def _null_db(full: np.ndarray, stems: list[np.ndarray]) -> float:
    """Energy of (full render - sum of stems) against the full render, dB; one int32 accumulator (16-bit renders of
    up to 65,536 stems cannot overflow it), so a long song's memory stays at its stems."""
    residual = full.astype(np.int32)
    for stem in stems:
        residual -= stem
    energy = max(float(np.square(full, dtype=np.float64).sum()), 1e-20)
    return max(-200.0, float(10 * np.log10(max(float(np.square(residual, dtype=np.float64).sum()), 1e-30) / energy)))


def render_stems(data: bytes, where: Path, sample_rate: int = 44100,
                 null_limit_db: float = NULL_LIMIT_DB) -> tuple[np.ndarray, dict[str, np.ndarray], dict[str, Any]]:
    """The full render, the audible stems by instrument name (int16), and what was learnt (title, null test, sample
    names).

    Raises ValueError (the reason a song is skipped) for a render that is not deterministic or does not null."""
    info = module_info(data, where)
    full = render_module(data, where, sample_rate=sample_rate)
    if not np.array_equal(full, render_module(data, where, sample_rate=sample_rate)):
        raise ValueError(f"{where}: two renders differ (not deterministic)")
    stems, samples = {}, {}
    for stem in info.stems:
        audio = render_module(data, where, stem.samples, sample_rate)
        if np.abs(audio).max() > 0:  # instruments the song never plays are not stems
            name = unique_name(stem.name, stems)
            stems[name], samples[name] = audio, stem.sample_names
    if len(stems) < 2:
        raise ValueError(f"{where}: fewer than two audible instruments")
    null_db = _null_db(full, list(stems.values()))
    if null_db > null_limit_db:
        raise ValueError(f"{where}: stems do not sum to the full render (null test {null_db:.1f} dB, "
                         f"limit {null_limit_db:.0f} dB)")
    return full, stems, {"title": info.title, "format": info.format, "null_db": round(null_db, 1),
                         "sample_names": samples, "comment": info.comment}


def unique_name(name: str, taken: dict) -> str:
    """``name`` as a stem's file name (word characters, lower case), numbered if ``taken`` has it."""
    base = re.sub(r"[^\w]+", "_", name).strip("_").lower()[:40] or "instrument"
    candidate, n = base, 2
    while candidate in taken:
        candidate, n = f"{base}_{n}", n + 1
    return candidate


def _role(name: str, sample_names: tuple[str, ...]) -> tuple[str, str]:
    """(role, where it came from): the instrument's name, else its samples' names, else unknown."""
    role = infer_role(name)
    if role != "other" and not name.startswith("instrument_"):
        return role, "instrument name"
    for sample in sample_names:
        if sample and infer_role(sample) != "other":
            return infer_role(sample), "sample name"
    return "other", "unknown"


def excerpt_window(stems: dict[str, np.ndarray], sample_rate: int, seconds: float, full_scale: float = 32768.0) -> slice:
    """The ``seconds`` window (1 s grid) where the most stems play most of the time (``full_scale``: of the
    samples, 32768 for int16 renders, 1 for float)."""
    active = activity(stems, sample_rate, full_scale=full_scale)
    width = int(seconds)
    if active.shape[1] <= width:
        return slice(0, None)
    scores = np.convolve(active.sum(axis=0), np.ones(width), "valid")
    start = int(np.argmax(scores))
    return slice(start * sample_rate, (start + width) * sample_rate)


def choose_anchor(stems: dict[str, np.ndarray], roles: dict[str, str], lufs: dict[str, float],
                  sample_rate: int, full_scale: float = 32768.0) -> tuple[str, str]:
    """(anchor, the rule that chose it): the loudest bass by name or tag, else the lowest sustained stem."""
    basses = sorted((n for n in stems if roles[n] == "bass"), key=lambda n: -lufs[n])
    if basses:
        return basses[0], "bass by name"
    return lowest_sustained_stem(stems, sample_rate, full_scale=full_scale)[0], "lowest sustained stem"


def write_song_features(path: Path, stems: dict[str, np.ndarray], sample_rate: int,
                        features: Callable[[np.ndarray, int], np.ndarray], full_scale: float = 32768.0) -> None:
    """Whole-song features of each stem (one at a time: a long song's float audio never exists all at once)."""
    mel = [features(audio[None].astype(np.float32) / np.float32(full_scale), sample_rate)[0] for audio in stems.values()]
    with atomic_path(path) as tmp:
        np.savez(tmp, mel=np.stack(mel).astype(np.float16), names=np.array(list(stems)))


def build_module_session(path: Path, out_root: Path, package: str | None = None, seconds: float = 30.0,
                         sample_rate: int = 44100, null_limit_db: float = NULL_LIMIT_DB,
                         song_features: Callable[[np.ndarray, int], np.ndarray] | None = None) -> dict[str, Any]:
    """Render one module into a session folder; returns its manifest entry (raises ValueError to skip it).
    ``song_features`` (stems ``(S, 2, N)`` float, rate -> ``(S, n_mels, T)``) also keeps whole-song features."""
    started = time.perf_counter()
    data = Path(path).read_bytes()
    full, stems, learnt = render_stems(data, path, sample_rate, null_limit_db)
    cut = excerpt_window(stems, sample_rate, seconds)
    excerpt = {n: a[:, cut].astype(np.float32) / 32768.0 for n, a in stems.items()}
    lufs = dict(zip(excerpt, integrated_loudness(np.stack(list(excerpt.values())), sample_rate)))
    audible = {n: a for n, a in excerpt.items() if np.isfinite(lufs[n])}
    if len(audible) < 2:
        raise ValueError(f"{path}: fewer than two audible stems in the excerpt")
    found = {n: _role(n, learnt["sample_names"][n]) for n in audible}
    roles = {n: role for n, (role, _) in found.items()}
    anchor, rule = choose_anchor(audible, roles, lufs, sample_rate)
    song_id = module_song_id(package, path)
    meta = {
        "anchor": anchor,
        "genre": infer_genre(learnt["title"] or Path(path).stem),
        "reference_lu": {n: round(float(lufs[n] - lufs[anchor]), 2) for n in audible},
        "source": f"{path} ({learnt['format']}, \"{learnt['title']}\"; rendered per instrument with libxmp, "
                  f"excerpt {cut.start / sample_rate:.0f}-{(cut.start / sample_rate) + seconds:.0f} s)",
        "licence": licence_of(path),
        "notes": f"null test {learnt['null_db']:.1f} dB; anchor: {rule}",
    }
    if song_features is not None:
        write_song_features(song_features_path(out_root, song_id), {n: stems[n] for n in audible}, sample_rate,
                             song_features)
    write_session(out_root / song_id, audible, roles, sample_rate, meta)
    split = PACKAGE_SPLITS.get(package, "train") if package else split_of(song_id)
    return {"id": song_id, "kind": "module", "split": split, "package": package,
            "genre": meta["genre"], "anchor": anchor, "anchor_rule": rule, "stems": len(audible),
            "role_sources": {n: source for n, (_, source) in found.items()}, "null_db": learnt["null_db"],
            "title": learnt["title"], "song_seconds": round(full.shape[-1] / sample_rate, 1),
            "source": str(path), "licence": meta["licence"], "seconds": round(time.perf_counter() - started, 1)}
