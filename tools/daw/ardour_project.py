"""An engineer's Ardour session: its tracks read (tools/daw/project.py), and a copy with the faders moved.

Per audio track (``Route`` whose ``PresentationInfo`` says ``AudioTrack``): its
playlist's one region, the region's sources (``Source`` by id: an absolute path,
or a name in the session's ``interchange/<name>/audiofiles``), the amp's
``gaincontrol`` (the fader), the ``trimcontrol`` and the region's
``scale-amplitude``, all linear factors. The copy is the session's XML tree with each moved
fader's ``value`` and each source's ``name`` (made absolute) changed and every
other element, attribute, comment and text as it was (re-serialised: quoting and
entity spelling may differ, the document does not).
"""

from __future__ import annotations

import xml.etree.ElementTree as ET
from pathlib import Path

from ..audio import write_text_atomic
from .ardour import FADER_MAX_DB, TRIM_MAX_DB, set_track_gain
from .common import DawProject, DawTrack, db, level_db

__all__ = ["read_ardour", "balanced_ardour"]

REGION_MAX_DB = 24.0  # a region's gain (boosts of a quiet take); beyond it the value is not a level
MAX_CHANNELS = 64


def _root(path: Path, keep_comments: bool = False) -> ET.Element:
    builder = ET.TreeBuilder(insert_comments=keep_comments, insert_pis=keep_comments)
    try:
        root = ET.parse(path, ET.XMLParser(target=builder)).getroot()
    except ET.ParseError as err:
        raise ValueError(f"{path}: not an Ardour session ({err})") from None
    if root.tag != "Session" or root.find("Routes") is None:
        raise ValueError(f"{path}: not an Ardour session (no <Session> with <Routes>)")
    return root


def _control(route: ET.Element, kind: str, name: str) -> ET.Element | None:
    return route.find(f"Processor[@type='{kind}']/Controllable[@name='{name}']")


def _source_path(path: Path, root: ET.Element, source: ET.Element) -> Path:
    name = source.get("name", "")
    if Path(name).is_absolute():
        return Path(name)
    here = path.parent / "interchange" / root.get("name", path.stem) / "audiofiles" / name
    return here if here.exists() else path.parent / name


def read_ardour(path: Path) -> DawProject:
    """The audio tracks of the session file ``path`` (tools/daw/project.py says which count)."""
    root = _root(path)
    sources = {s.get("id"): s for s in root.iter("Source")}
    playlists = {p.get("id"): p for p in root.iter("Playlist")}
    tracks, skipped = [], []
    for route in root.find("Routes"):
        info = route.find("PresentationInfo")
        if info is None or "AudioTrack" not in info.get("flags", ""):
            continue
        name, mute = route.get("name", "?"), route.find("Controllable[@name='mute']")
        playlist = playlists.get(route.get("audio-playlist", ""))
        regions = [] if playlist is None else playlist.findall("Region")
        if mute is not None and mute.get("value", "0") not in ("0", "0.0", ""):
            skipped.append(f"'{name}' (muted)")
            continue
        if not regions:
            skipped.append(f"'{name}' (no region)")
            continue
        region = regions[0]
        if len(regions) > 1 or region.get("start", "a0") not in ("a0", "0") or \
                not region.get("length", "").endswith("@a0"):
            raise ValueError(f"{path}: track '{name}' is not one region from the session start "
                             f"({len(regions)} regions); bounce it to one file first")
        ids = [region.get(f"source-{k}") for k in range(_channels(path, name, region))]
        if any(i not in sources for i in ids):
            raise ValueError(f"{path}: track '{name}' plays a source the session does not list")
        files = tuple(dict.fromkeys(_source_path(path, root, sources[i]) for i in ids))
        tracks.append(DawTrack(name, files, *_levels(path, name, route, region)))
    return DawProject("ardour", Path(path), tracks, skipped)


def _channels(path: Path, track: str, region: ET.Element) -> int:
    """The region's channel count, 1 to 64 (Ardour's own limit is far above any stem), checked before use."""
    text = region.get("channels", "1")
    if not text.isdigit() or not 1 <= int(text) <= MAX_CHANNELS:
        raise ValueError(f"{path}: track '{track}': region channels '{text}' is not a channel count (1 to {MAX_CHANNELS})")
    return int(text)


def _levels(path: Path, track: str, route: ET.Element, region: ET.Element) -> tuple[float, float]:
    """(level, fader) in dB: the fader + the trim + the region's gain, each within what Ardour allows."""
    fader, trim = _control(route, "amp", "gaincontrol"), _control(route, "trim", "trimcontrol")
    fader_db = level_db(fader.get("value", "1"), path, track, "fader (gaincontrol)", FADER_MAX_DB) if fader is not None else 0.0
    trim_db = level_db(trim.get("value", "1"), path, track, "trim (trimcontrol)", TRIM_MAX_DB) if trim is not None else 0.0
    region_db = level_db(region.get("scale-amplitude", "1"), path, track, "region gain (scale-amplitude)", REGION_MAX_DB)
    return fader_db + trim_db + region_db, fader_db


def balanced_ardour(project: DawProject, moves_db: dict[str, float], folder: Path) -> Path:
    """``folder/<name>.ardour``: the session with each track's fader moved by ``moves_db`` (by track name) and
    its sources' names absolute; the Ardour folders beside it. Edited as an XML tree (comments and processing
    instructions kept), so every form of XML the engineer's file uses is read as Ardour reads it."""
    root = _root(project.path, keep_comments=True)
    for route in root.find("Routes"):
        fader, trim = _control(route, "amp", "gaincontrol"), _control(route, "trim", "trimcontrol")
        if route.get("name") in moves_db and fader is not None:
            trim_db = db(trim.get("value", "1")) if trim is not None else 0.0
            set_track_gain(route, db(fader.get("value", "1")) + moves_db[route.get("name")], trim_db,
                           f"{project.path}: track '{route.get('name')}'")
    for source in root.iter("Source"):
        source.set("name", str(_source_path(project.path, root, source).resolve()))
    name = root.get("name", project.path.stem)
    for sub in (f"interchange/{name}/audiofiles", f"interchange/{name}/midifiles", "analysis", "dead", "export",
                "peaks", "plugins", "externals"):
        (folder / sub).mkdir(parents=True, exist_ok=True)
    text = '<?xml version="1.0" encoding="UTF-8"?>\n' + ET.tostring(root, encoding="unicode") + "\n"
    return write_text_atomic(folder / f"{name}.ardour", text)
