"""An engineer's Ardour session: its tracks read (tools/daw/project.py), and a copy with the faders moved.

Per audio track (``Route`` whose ``PresentationInfo`` says ``AudioTrack``): its
playlist's one region, the region's sources (``Source`` by id: an absolute path,
or a name in the session's ``interchange/<name>/audiofiles``), the amp's
``gaincontrol`` (the fader), the ``trimcontrol`` and the region's
``scale-amplitude``, all linear factors. The copy edits the text, not a re-serialised
tree: each moved fader's ``value`` and each source's ``name`` (made absolute)
change, every other byte stays the engineer's.
"""

from __future__ import annotations

import re
import xml.etree.ElementTree as ET
from pathlib import Path

from ..audio import write_text_atomic
from .common import DawProject, DawTrack, db

__all__ = ["read_ardour", "balanced_ardour"]


def _root(path: Path) -> ET.Element:
    try:
        root = ET.parse(path).getroot()
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
        if mute is not None and float(mute.get("value", "0")) > 0:
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
        ids = [region.get(f"source-{k}") for k in range(int(region.get("channels", "1")))]
        if any(i not in sources for i in ids):
            raise ValueError(f"{path}: track '{name}' plays a source the session does not list")
        files = tuple(dict.fromkeys(_source_path(path, root, sources[i]) for i in ids))
        fader, trim = _control(route, "amp", "gaincontrol"), _control(route, "trim", "trimcontrol")
        fader_db = db(fader.get("value", "1")) if fader is not None else 0.0
        level = fader_db + (db(trim.get("value", "1")) if trim is not None else 0.0) + db(region.get("scale-amplitude", "1"))
        tracks.append(DawTrack(name, files, level, fader_db))
    return DawProject("ardour", Path(path), tracks, skipped)


def balanced_ardour(project: DawProject, moves_db: dict[str, float], folder: Path) -> Path:
    """``folder/<name>.ardour``: the session with each track's fader moved by ``moves_db`` (by track name) and
    its sources' names absolute; the Ardour folders beside it."""
    text = project.path.read_text(encoding="utf-8")
    root = _root(project.path)
    for route in root.find("Routes"):
        fader = _control(route, "amp", "gaincontrol")
        if route.get("name") in moves_db and fader is not None:
            value = float(fader.get("value", "1")) * 10.0 ** (moves_db[route.get("name")] / 20.0)
            text = _set_attribute(text, "Controllable", fader.get("id"), "value", repr(value))
    for source in root.iter("Source"):
        absolute = _source_path(project.path, root, source).resolve()
        text = _set_attribute(text, "Source", source.get("id"), "name", _xml_attr(str(absolute)))
    name = root.get("name", project.path.stem)
    for sub in (f"interchange/{name}/audiofiles", f"interchange/{name}/midifiles", "analysis", "dead", "export",
                "peaks", "plugins", "externals"):
        (folder / sub).mkdir(parents=True, exist_ok=True)
    return write_text_atomic(folder / f"{name}.ardour", text)


def _xml_attr(value: str) -> str:
    return value.replace("&", "&amp;").replace("<", "&lt;").replace('"', "&quot;")


def _set_attribute(text: str, tag: str, element_id: str, key: str, value: str) -> str:
    """``text`` with attribute ``key`` of the ``<tag ... id="element_id" ...>`` element set to ``value``."""
    element = re.compile(rf'<{tag}\s[^>]*\sid="{re.escape(element_id)}"[^>]*>')
    found = element.search(text)
    if found is None:
        raise ValueError(f"cannot find <{tag} id=\"{element_id}\"> to edit")
    edited = re.sub(rf'(\s{key}=")[^"]*(")', lambda m: m.group(1) + value + m.group(2), found.group(0), count=1)
    return text[:found.start()] + edited + text[found.end():]
