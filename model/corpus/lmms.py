"""Corpus sessions from LMMS projects: modern productions, every track at the level its producer set and heard.

:func:`build_lmms_session` renders a project with LMMS 1.2 (Debian's ``lmms``;
``lmms render`` headless): the whole song, then each track alone, on a copy of the
project in which every other track is muted (its ``rendertracks`` mode is not
usable). A beat/bassline track's instruments are stems of their own (kick, snare
and hats apart), each soloed inside the beat container. The song is kept only when
the stems sum back to the full render (the null test); its session keeps the 30 s
excerpt where the most stems play, the reference balance measured over it, and
every stem's features over the whole song, like the module corpus
(model/corpus/modules.py, whose excerpt, anchor and feature rules it shares).

Roles come from the track's name, else its mixer channel's name, else ``other``
(``data features`` then tags them by ear). Debian's ``lmms-common`` ships 26
projects; :data:`LMMS_PROJECTS` names the 13 this corpus may use, split by
producer. **The other 13 are held out for evaluation by people outside this
repository: nothing here renders, reads or lists them.**
"""

from __future__ import annotations

import copy
import gzip
import os
import re
import subprocess
import tempfile
import time
import xml.etree.ElementTree as ET
import zlib
from pathlib import Path
from typing import Any, Callable

import numpy as np

from anchormix.tools.audio import read_audio
from anchormix.tools.loudness import integrated_loudness
from anchormix.tools.session import infer_role

from .manifest import song_features_path, split_of, write_session
from .midi_songs import infer_genre
from .modules import choose_anchor, excerpt_window, unique_name, write_song_features

__all__ = ["LMMS_PROJECTS", "LMMS_ROOT", "LMMS_NULL_LIMIT_DB", "LEVEL_CHECK_LU", "lmms_available", "project_split",
           "read_project", "project_stems", "session_id", "build_lmms_session"]

LMMS_ROOT = Path("/usr/share/lmms/projects")
# The 13 projects issue 28 allows, each with its split: by producer, so one producer's sound is never on both sides.
LMMS_PROJECTS = {  # valid first: a build cut short still has what the evaluation needs
    "demos/Oglsdl-Dr8v2.mmpz": "valid",
    "demos/Oglsdl-PpTrip.mmpz": "valid",
    "demos/Momo64-esp.mmpz": "valid",
    "demos/Shovon-ProgressiveHousePluckDemo.mmpz": "valid",
    "demos/CapDan/CapDan-ReggaeTry.mmpz": "train",
    "demos/CapDan/CapDan-ReggaetonTry.mmpz": "train",
    "demos/CapDan/CapDan-TwilightArea-OriginalByAlf42red.mmpz": "train",
    "demos/CapDan/CapDan-ZeroSumGame-OriginalByZakarra.mmpz": "train",
    "demos/Skiessi/Skiessi-C64.mmpz": "train",
    "demos/Skiessi/Skiessi-Onion.mmpz": "train",
    "shorties/Skiessi-222.mmpz": "train",
    "demos/Saber-FinalStep.mmpz": "train",
    "demos/Settel-InnerRecreation.mmpz": "train",
}
# A producer's mixer may compress or limit a bus, which no sum of soloed tracks reproduces exactly: looser than
# the module corpus's -50 dB, tight enough that a track rendered wrong (or missing) fails.
LMMS_NULL_LIMIT_DB = -30.0
# A project that does not render the same twice (ZynAddSubFX randomises its oscillators' phases) cannot null; its
# stems must then sum to the full render's integrated loudness within this much (a missing track would not).
LEVEL_CHECK_LU = 1.0
_TRACK_KINDS = {"0": "instrument", "1": "beat/bassline", "2": "sample"}  # 5, 6: automation, not sound


def project_split(path: Path, split: str | None = None) -> str:
    """The split a user's project (``data lmms --projects``) goes to: ``split`` if given, else by its name's hash.

    A project of Debian's ``lmms-common`` (under :data:`LMMS_ROOT`) keeps its producer's split from :data:`LMMS_PROJECTS`, so
    a valid song is never trained on by naming it, and one of the held-out 13 is refused before anything reads it.
    """
    try:
        inside = Path(path).resolve().relative_to(Path(LMMS_ROOT).resolve()).as_posix()
    except ValueError:
        return split or split_of(Path(path).stem)
    if inside not in LMMS_PROJECTS:
        raise ValueError(f"{path}: an LMMS demo project held out for evaluation (issue 28); anchormix renders only "
                         f"the {len(LMMS_PROJECTS)} projects model/corpus/lmms.py names")
    if split and split != LMMS_PROJECTS[inside]:
        raise ValueError(f"{path}: --split {split}, but this project's producer is in the {LMMS_PROJECTS[inside]} "
                         "split (one producer's sound is never on both sides)")
    return LMMS_PROJECTS[inside]


def lmms_available() -> bool:
    """Whether the ``lmms`` program (Debian's package) is on the PATH."""
    return any((Path(d) / "lmms").is_file() for d in os.environ.get("PATH", "").split(os.pathsep))


def read_project(path: Path) -> ET.ElementTree:
    """An LMMS project (``.mmp`` XML, or ``.mmpz``: a 4-byte length and zlib) as XML; ValueError naming the file."""
    path = Path(path)
    data = path.read_bytes()
    try:
        if path.suffix.lower() == ".mmpz":
            data = zlib.decompress(data[4:]) if data[:2] != b"\x1f\x8b" else gzip.decompress(data)
        return ET.ElementTree(ET.fromstring(data))
    except (zlib.error, ET.ParseError, OSError) as err:
        raise ValueError(f"{path}: not an LMMS project ({err})") from None


def project_stems(tree: ET.ElementTree) -> list[tuple[str, ET.Element, str]]:
    """(name, track element, mixer channel's name) of every sounding track: the song's instrument and sample tracks,
    and each instrument of its beat/bassline container."""
    song = tree.getroot().find("song")
    if song is None:
        raise ValueError("no <song> in the project")
    mixer = {ch.get("num"): ch.get("name", "") for ch in song.iter("fxchannel")}
    stems = []
    for track in song.iter("track"):
        if track.get("type") not in ("0", "2") or track.get("muted") == "1":  # the producer's muted tracks: not heard
            continue
        instrument = track.find("instrumenttrack")
        channel = mixer.get(instrument.get("fxch", "0"), "") if instrument is not None else ""
        stems.append((track.get("name") or _TRACK_KINDS[track.get("type")], track, channel))
    return stems


def _solo_copy(tree: ET.ElementTree, keep: ET.Element | None) -> ET.ElementTree:
    """A copy of the project with every sounding track muted but ``keep`` (None: nothing muted, the full mix);
    the beat/bassline tracks stay on when ``keep`` plays inside one."""
    index = {id(t): i for i, t in enumerate(tree.getroot().iter("track"))}
    solo = copy.deepcopy(tree)
    tracks = list(solo.getroot().iter("track"))
    kept = None if keep is None else tracks[index[id(keep)]]
    in_beat = set()
    for beat in (t for t in tracks if t.get("type") == "1"):
        in_beat |= {id(t) for t in beat.iter("track") if t is not beat}
    for track in tracks:
        track.set("solo", "0")
        if kept is None or track.get("type") not in ("0", "1", "2"):
            continue
        if track.get("type") == "1":  # plays its container: as the producer left it when the kept track is in it
            if id(kept) not in in_beat:
                track.set("muted", "1")
        else:
            track.set("muted", "0" if track is kept else "1")
    return solo


def _render(tree: ET.ElementTree, where: Path, sample_rate: int, label: str) -> np.ndarray:
    """Render ``tree`` with ``lmms render`` (headless, 32-bit float WAV) and read it back ``(2, samples)``."""
    with tempfile.TemporaryDirectory(prefix="anchormix-lmms-") as tmp:
        project, wav = Path(tmp) / "song.mmp", Path(tmp) / "song.wav"
        tree.write(project, encoding="utf-8", xml_declaration=True)
        # Oversampling 1 (LMMS's default is 2) halves the render time; the full mix and every stem are rendered
        # alike, so the null test and the balance are unaffected.
        command = ["lmms", *(["--allowroot"] if os.geteuid() == 0 else []), "render", str(project), "-o", str(wav),
                   "-f", "wav", "-a", "-s", str(sample_rate), "-x", "1"]
        done = subprocess.run(command, capture_output=True, text=True, timeout=1800,
                              env={**os.environ, "QT_QPA_PLATFORM": "offscreen"})
        if done.returncode != 0 or not wav.exists():
            raise ValueError(f"{where}: lmms could not render {label} (exit {done.returncode}: "
                             f"{(done.stderr or done.stdout).strip().splitlines()[-1:] or ''})")
        return read_audio(wav)[0]


def _null_db(full: np.ndarray, stems: list[np.ndarray]) -> float:
    """Energy of (full render - sum of the stems) against the full render, dB."""
    residual = full.astype(np.float64)
    for stem in stems:
        width = min(residual.shape[1], stem.shape[1])
        residual[:, :width] -= stem[:, :width]
    energy = max(float(np.square(full, dtype=np.float64).sum()), 1e-20)
    return max(-200.0, float(10 * np.log10(max(float(np.square(residual).sum()), 1e-30) / energy)))


def render_project(path: Path, sample_rate: int = 44100, null_limit_db: float = LMMS_NULL_LIMIT_DB,
                   ) -> tuple[np.ndarray, dict[str, np.ndarray], dict[str, Any]]:
    """The full render, the audible stems by track name (float32), and what was learnt (each stem's track kind and
    mixer channel, the null test). Raises ValueError (the reason a song is skipped)."""
    tree = read_project(path)
    full = _render(_solo_copy(tree, None), path, sample_rate, "the full song")
    stems, channels = {}, {}
    for name, track, channel in project_stems(tree):
        audio = _render(_solo_copy(tree, track), path, sample_rate, f"track '{name}'")
        if np.abs(audio).max() > 1e-6:  # a track the song never plays is not a stem
            key = unique_name(name, stems)
            stems[key], channels[key] = audio, channel
    if len(stems) < 2:
        raise ValueError(f"{path}: fewer than two audible tracks")
    null_db, check = _null_db(full, list(stems.values())), None
    if null_db > null_limit_db:
        check = _level_check(tree, path, full, stems, sample_rate, null_db, null_limit_db)
    return full, stems, {"null_db": round(null_db, 1), "channels": channels, "level_check": check}


def _level_check(tree: ET.ElementTree, path: Path, full: np.ndarray, stems: dict[str, np.ndarray], sample_rate: int,
                 null_db: float, null_limit_db: float) -> str:
    """For a project that does not null: if it does not render the same twice, the stems' sum must reach the full
    render's loudness within LEVEL_CHECK_LU (said in the manifest); otherwise ValueError, the song skipped."""
    again = _render(_solo_copy(tree, None), path, sample_rate, "the full song again")
    width = min(full.shape[1], again.shape[1])
    if np.array_equal(full[:, :width], again[:, :width]):
        raise ValueError(f"{path}: the tracks do not sum to the full render (null test {null_db:.1f} dB, "
                         f"limit {null_limit_db:.0f} dB)")
    total = np.zeros_like(full)
    for stem in stems.values():
        total[:, : stem.shape[1]] += stem[:, : total.shape[1]]
    gap = float(integrated_loudness(total, sample_rate) - integrated_loudness(full, sample_rate))
    if not abs(gap) <= LEVEL_CHECK_LU:
        raise ValueError(f"{path}: not the same render twice, and the tracks sum to {gap:+.1f} LU of the full "
                         f"render (limit {LEVEL_CHECK_LU:.0f} LU)")
    return f"renders differ run to run (null test {null_db:.1f} dB); the tracks sum to {gap:+.2f} LU of the full render"


def _role(name: str, channel: str) -> tuple[str, str]:
    """(role, where it came from): the track's name, else its mixer channel's (not LMMS's own "FX 3" or "Master",
    which say nothing of the sound), else unknown."""
    if re.fullmatch(r"(FX|Effects?) ?\d*|Master", channel.strip(), flags=re.IGNORECASE):
        channel = ""
    for text, source in ((name, "track name"), (channel, "mixer channel name")):
        role = infer_role(re.sub(r"\.(ogg|wav|flac|ds|xpf)$", "", text, flags=re.IGNORECASE))
        if text and role != "other":
            return role, source
    return "other", "unknown"


def session_id(path: Path) -> str:
    """The session folder's name for the project at ``path``."""
    return "lmms-" + (re.sub(r"[^\w]+", "_", Path(path).name.split(".")[0]).strip("_").lower()[:50] or "song")


def build_lmms_session(path: Path, out_root: Path, split: str, seconds: float = 30.0, sample_rate: int = 44100,
                       null_limit_db: float = LMMS_NULL_LIMIT_DB,
                       song_features: Callable[[np.ndarray, int], np.ndarray] | None = None) -> dict[str, Any]:
    """Render one project into a session folder; returns its manifest entry (raises ValueError to skip it)."""
    started = time.perf_counter()
    full, stems, learnt = render_project(path, sample_rate, null_limit_db)
    length = max(a.shape[1] for a in stems.values())
    stems = {n: np.pad(a, ((0, 0), (0, length - a.shape[1]))) for n, a in stems.items()}
    cut = excerpt_window(stems, sample_rate, seconds, full_scale=1.0)
    excerpt = {n: np.ascontiguousarray(a[:, cut]) for n, a in stems.items()}
    lufs = dict(zip(excerpt, integrated_loudness(list(excerpt.values()), sample_rate)))
    audible = {n: a for n, a in excerpt.items() if np.isfinite(lufs[n])}
    if len(audible) < 2:
        raise ValueError(f"{path}: fewer than two audible tracks in the excerpt")
    found = {n: _role(n, learnt["channels"][n]) for n in audible}
    roles = {n: role for n, (role, _) in found.items()}
    anchor, rule = choose_anchor(audible, roles, lufs, sample_rate, full_scale=1.0)
    song_id = session_id(path)
    meta = {
        "anchor": anchor,
        "genre": infer_genre(Path(path).stem),
        "reference_lu": {n: round(float(lufs[n] - lufs[anchor]), 2) for n in audible},
        "source": f"{path} (LMMS project; rendered per track with lmms render, "
                  f"excerpt {cut.start / sample_rate:.0f}-{(cut.start / sample_rate) + seconds:.0f} s)",
        "licence": "see /usr/share/doc/lmms-common/copyright",
        "notes": f"{learnt['level_check'] or 'null test ' + format(learnt['null_db'], '.1f') + ' dB'}; anchor: {rule}",
    }
    if song_features is not None:
        write_song_features(song_features_path(out_root, song_id), {n: stems[n] for n in audible}, sample_rate,
                            song_features, full_scale=1.0)
    write_session(out_root / song_id, audible, roles, sample_rate, meta)
    return {"id": song_id, "kind": "lmms", "split": split, "package": "lmms-common", "genre": meta["genre"],
            "anchor": anchor, "anchor_rule": rule, "stems": len(audible),
            "role_sources": {n: source for n, (_, source) in found.items()}, "null_db": learnt["null_db"],
            "level_check": learnt["level_check"],
            "title": Path(path).stem, "song_seconds": round(full.shape[-1] / sample_rate, 1), "source": str(path),
            "licence": meta["licence"], "seconds": round(time.perf_counter() - started, 1)}
