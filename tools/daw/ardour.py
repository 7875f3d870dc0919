"""A balance as an Ardour 7 session: one track per stem reading its source file, each fader at its advised gain.

The session is built from ``ardour_template.ardour``, which Ardour itself wrote
(``ardour7-lua ardour_template.lua``): a stereo master and one stereo track named
TEMPLATE. Per stem the track is cloned with fresh ids and the stem's name, its
playlist holds one region over the whole file (referenced where it lies, or its
WAV copy beside the DAW sessions, see tools/daw/common.py), its fader (the amp's ``gaincontrol``) is the advised gain
as a linear factor, and its comment is the move's advice. The anchor's track is
named "<stem> (anchor)" and coloured. The master's fader carries the mix's
true-peak trim, so Ardour's render of the session is anchormix's ``mix.wav``.
Nothing is baked into the audio.
"""

from __future__ import annotations

import copy
import math
import xml.etree.ElementTree as ET
from pathlib import Path

from ..audio import write_text_atomic
from .common import DawStem, anchor_mark, safe_name, split_gain

__all__ = ["write_ardour_session", "set_track_gain", "ANCHOR_COLOUR", "SUPERCLOCK_RATE", "FADER_MAX_DB", "TRIM_MAX_DB"]

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
