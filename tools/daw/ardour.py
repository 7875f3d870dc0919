"""Ardour 7 sessions: a balance written as one, and an engineer's session read and copied with its faders moved.

**Writing** (:func:`write_ardour_session`): the session is built from
``ardour_template.ardour``, which Ardour itself wrote (``ardour7-lua
ardour_template.lua``): a stereo master and one stereo track named TEMPLATE. Per
stem the track is cloned with fresh ids and the stem's name, its playlist holds
one region over the whole file (referenced where it lies, or its WAV copy beside
the DAW sessions, see tools/daw/common.py), its fader (the amp's ``gaincontrol``)
is the advised gain as a linear factor (past +6 dB, the rest on its trim), and its
comment is the move's advice. The anchor's track is named "<stem> (anchor)" and
coloured. The master's fader carries the mix's true-peak trim, so Ardour's render
of the session is anchormix's ``mix.wav``. Nothing is baked into the audio.

**Reading** (:func:`read_ardour`, for tools/daw/project.py): per audio track
(``Route`` whose ``PresentationInfo`` says ``AudioTrack``) its playlist's one
region, the region's sources (``Source`` by id: an absolute path, or a name in the
session's ``interchange/<name>/audiofiles``), the amp's ``gaincontrol`` (the
fader), the ``trimcontrol`` and the region's ``scale-amplitude``, all linear
factors, each within what Ardour allows. **Copying** (:func:`balanced_ardour`): the
session's XML tree with each moved fader's ``value`` (and, past +6 dB, its trim)
and each source's ``name`` (made absolute) changed, every other element,
attribute, comment and text as it was (re-serialised: quoting and entity spelling
may differ, the document does not).
"""

from __future__ import annotations

import copy
import math
import xml.etree.ElementTree as ET
from pathlib import Path

from ..audio import write_text_atomic
from .common import DawProject, DawStem, DawTrack, anchor_mark, db, level_db, safe_name, split_gain

__all__ = ["write_ardour_session", "read_ardour", "balanced_ardour", "ANCHOR_COLOUR", "SUPERCLOCK_RATE", "FADER_MAX_DB",
           "TRIM_MAX_DB"]

TEMPLATE = Path(__file__).with_name("ardour_template.ardour")
SUPERCLOCK_RATE = 282_240_000  # Ardour 7's audio time unit per second (the template's TempoMap says so)
ANCHOR_COLOUR = 0xE8A33DFF  # RGBA: the anchor's track, amber
# What Ardour 7 allows: the fader up to gain 2.0 (+6 dB; it clamps a higher value on load), the trim +-20 dB.
FADER_MAX_DB, TRIM_MAX_DB = 20 * math.log10(2.0), 20.0
_REGION = {"muted": "0", "opaque": "1", "locked": "0", "video-locked": "0", "automatic": "0", "import": "0",
           "external": "0", "sync-marked": "0", "left-of-split": "0", "right-of-split": "0", "hidden": "0",
           "position-locked": "0", "valid-transients": "0", "start": "a0", "sync-position": "a0",
           "ancestral-start": "a0", "ancestral-length": "a0@a0", "stretch": "1", "shift": "1", "layering-index": "0",
           "tags": "anchormix", "contents": "0", "envelope-active": "0", "default-fade-in": "0",
           "default-fade-out": "0", "fade-in-active": "1", "fade-out-active": "1", "scale-amplitude": "1",
           "type": "audio", "first-edit": "nothing"}


def track_name(stem: DawStem) -> str:
    return anchor_mark(stem.name, stem.is_anchor)


def write_ardour_session(folder: Path, name: str, stems: list[DawStem], sample_rate: int, trim_db: float = 0.0) -> Path:
    """Write ``folder/<name>.ardour`` (and the folders Ardour expects) for ``stems``; the session file's path."""
    root = ET.parse(TEMPLATE).getroot()
    root.set("name", name)
    root.set("sample-rate", str(sample_rate))
    ids = _Ids(int(root.get("id-counter")))
    routes, playlists = root.find("Routes"), root.find("Playlists")
    template = next(r for r in routes if "AudioTrack" in r.find("PresentationInfo").get("flags"))
    template_playlist = playlists.find(f"Playlist[@id='{template.get('audio-playlist')}']")
    routes.remove(template)
    playlists.remove(template_playlist)
    master = next(r for r in routes if "MasterOut" in r.find("PresentationInfo").get("flags"))
    _set_gain(master, trim_db)
    length = max(s.frames for s in stems) * SUPERCLOCK_RATE // sample_rate
    for order, stem in enumerate(stems, start=1):
        route = _track(template, stem, order, ids)
        routes.append(route)
        sources = [_source(root.find("Sources"), stem, ch, ids) for ch in range(stem.channels)]
        if len(sources) == 1:
            sources *= 2  # a mono file on both sides at unity, as anchormix hears it
        whole = _region(root.find("Regions"), stem, sources, ids, whole_file=True, sample_rate=sample_rate)
        playlist = ET.SubElement(playlists, "Playlist", {**template_playlist.attrib, "id": ids.next(), "name": track_name(stem),
                                                         "orig-track-id": route.get("id")})
        route.set("audio-playlist", playlist.get("id"))
        _region(playlist, stem, sources, ids, whole_file=False, sample_rate=sample_rate, name=whole.get("name"))
        for port, master_port in zip(route.find("IO[@direction='Output']"), master.find("IO[@direction='Input']")):
            ET.SubElement(port, "Connection", other=master_port.get("name"))
            ET.SubElement(master_port, "Connection", other=port.get("name"))
    locations = root.find("Locations")
    ET.SubElement(locations, "Location", {"id": ids.next(), "name": "session", "start": "a0", "end": f"a{length}",
                                          "flags": "IsSessionRange", "locked": "0", "timestamp": "0", "cue": "0"})
    root.set("id-counter", str(ids.counter + 1))
    for sub in ("interchange/" + name + "/audiofiles", "interchange/" + name + "/midifiles", "analysis", "dead",
                "export", "peaks", "plugins", "externals"):
        (folder / sub).mkdir(parents=True, exist_ok=True)
    ET.indent(root, space="  ")
    text = '<?xml version="1.0" encoding="UTF-8"?>\n' + ET.tostring(root, encoding="unicode") + "\n"
    return write_text_atomic(folder / f"{name}.ardour", text)


class _Ids:
    """Fresh Ardour object ids, above the template's ``id-counter``."""

    def __init__(self, start: int) -> None:
        self.counter = start

    def next(self) -> str:
        self.counter += 1
        return str(self.counter)


def _set_gain(route: ET.Element, gain_db: float) -> None:
    """The route's fader (the amp processor's ``gaincontrol``) at ``gain_db``."""
    control = route.find("Processor[@type='amp']/Controllable[@name='gaincontrol']")
    control.set("value", repr(10.0 ** (gain_db / 20.0)))


def set_track_gain(route: ET.Element, gain_db: float, trim_db: float, where: str) -> None:
    """A track at ``gain_db`` on its fader over its trim of ``trim_db``: what the fader cannot hold above +6 dB goes
    onto the trim (common.split_gain), so Ardour plays the gain instead of clamping the fader."""
    fader_db, rest_db = split_gain(gain_db, FADER_MAX_DB, TRIM_MAX_DB - trim_db, where)
    _set_gain(route, fader_db)
    if rest_db:
        trim = route.find("Processor[@type='trim']/Controllable[@name='trimcontrol']")
        if trim is None:
            raise ValueError(f"{where}: the track has no trim to carry {rest_db:+.1f} dB above the fader's +6 dB")
        trim.set("value", repr(10.0 ** ((trim_db + rest_db) / 20.0)))


def _track(template: ET.Element, stem: DawStem, order: int, ids: _Ids) -> ET.Element:
    """The template track cloned for ``stem``: fresh ids, its name everywhere TEMPLATE was, its fader, comment
    and (the anchor) colour."""
    route = copy.deepcopy(template)
    name = track_name(stem)
    for element in route.iter():
        for key, value in element.attrib.items():
            if key == "id":
                element.set(key, ids.next())
            elif "TEMPLATE" in value:
                element.set(key, value.replace("TEMPLATE", name))
    info = route.find("PresentationInfo")
    info.set("order", str(order))
    info.set("color", str(ANCHOR_COLOUR if stem.is_anchor else 0))
    set_track_gain(route, stem.gain_db, 0.0, f"track '{name}'")
    for io in route.findall("IO"):  # inputs: none (nothing is recorded); outputs: to the master, set by the caller
        for port in io:
            for connection in list(port):
                port.remove(connection)
    if stem.note:
        ET.SubElement(route, "Comment").text = safe_name(stem.note)
    return route


def _source(sources: ET.Element, stem: DawStem, channel: int, ids: _Ids) -> str:
    """A Source for one channel of the stem's file, by its absolute path."""
    ET.SubElement(sources, "Source", {"name": str(stem.file), "take-id": "", "type": "audio", "flags": "", "id": ids.next(),
                                      "natural-position": "a0", "captured-for": "", "channel": str(channel),
                                      "origin": "", "gain": "1"})
    return sources[-1].get("id")


def _region(parent: ET.Element, stem: DawStem, sources: list[str], ids: _Ids, whole_file: bool, sample_rate: int,
            name: str | None = None) -> ET.Element:
    """A region over the whole file at the session's start."""
    length = stem.frames * SUPERCLOCK_RATE // sample_rate
    attrs = {"name": name or stem.name, **_REGION, "whole-file": "1" if whole_file else "0",
             "length": f"a{length}@a0", "id": ids.next(), "channels": str(len(sources))}
    for k, source in enumerate(sources):
        attrs[f"source-{k}"] = attrs[f"master-source-{k}"] = source
    return ET.SubElement(parent, "Region", attrs)


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
