"""An engineer's rough mix in Ardour or REAPER: read, balanced from their faders, written back with only the
faders moved; a session with a missing or unreadable file is named and left untouched."""

from __future__ import annotations

import json
import re
import shutil
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest

from anchormix.cli import main
from anchormix.tools import load_session
from anchormix.tools.audio import read_audio, write_audio_atomic
from anchormix.tools.daw import daw_stems, read_project, write_ardour_session, write_reaper_project
from anchormix.tools.loudness import integrated_loudness
from tests.conftest import ardour_render, tree_hash

@pytest.fixture(scope="module")
def demo_session_dir(tmp_path_factory):
    """A 4 s pop demo at 44.1 kHz (Ardour's headless engine renders silence for a 22.05 kHz session)."""
    from anchormix.tools.demo import write_demo_session

    return write_demo_session(tmp_path_factory.mktemp("demo44") / "song", "pop", 4.0, 0, 44100,
                              {"vocals": -6.0, "kick": 3.0})


ROUGH = {"bass": 0.0, "kick": -2.0, "snare": 1.0, "hats": -3.0, "keys": 4.0, "pad": -1.0, "lead": 2.0, "vocals": -6.0}


def _rough_mix(demo_session_dir, tmp_path, kind: str):
    """The demo's stems as an engineer's session at the ROUGH faders, with settings anchormix must not touch."""
    session = load_session(demo_session_dir)
    stems = daw_stems(session, {n: ROUGH[n] for n in session.names}, {}, tmp_path / "unused")
    if kind == "ardour":
        path = write_ardour_session(tmp_path / "Rough", "Rough", stems, session.sample_rate)
        # A setting anchormix does not hear (the LFE send of the master's panner) and an attribute it does not know.
        text = path.read_text().replace('name="pan-azimuth" id="', 'name="pan-azimuth" data-test="kept" id="')
        text = re.sub(r'(name="pan-lfe"[^>]*value=")0"', r'\g<1>0.25"', text, count=1)
    else:
        path = write_reaper_project(tmp_path / "Rough" / "Rough.RPP", stems, session.sample_rate)
        text = path.read_text().replace("    NCHAN 2\n", "    NCHAN 2\n    <FXCHAIN\n      SHOW 0\n    >\n", 1)
    path.write_text(text)
    return path


def _masked(path) -> str:
    """A session without the fader values and source paths anchormix may change: an RPP's text, an Ardour
    session's XML document in canonical form (C14N 2.0: the document, not its spelling)."""
    if path.suffix == ".ardour":
        root = ET.parse(path, ET.XMLParser(target=ET.TreeBuilder(insert_comments=True))).getroot()
        for control in root.iter("Controllable"):  # a fader, and the trim that holds what passes +6 dB
            if control.get("name") in ("gaincontrol", "trimcontrol"):
                control.set("value", "")
        for source in root.iter("Source"):
            source.set("name", "")
        return ET.canonicalize(ET.tostring(root, encoding="unicode"), with_comments=True)
    text = re.sub(r"(?m)^(\s*TRACK-VOLPAN|\s*VOLPAN)\s+\S+", r"\1", path.read_text())
    return re.sub(r"(?m)^(\s*FILE)\s+.*$", r"\1", text)


@pytest.mark.parametrize("kind", ["ardour", "reaper"])
def test_a_rough_mix_is_balanced_from_its_faders_and_written_back_with_only_the_faders_moved(
        kind, demo_session_dir, tmp_path):
    rough = _rough_mix(demo_session_dir, tmp_path, kind)
    before_session, before_sources = tree_hash(rough.parent), tree_hash(demo_session_dir)
    session = load_session(rough)
    assert session.faders_db == pytest.approx({n: ROUGH[n] for n in session.names}, abs=1e-6)
    assert session.anchor == "bass"  # the track named "bass (anchor)"
    out = tmp_path / "mixes"
    assert main(["balance", str(rough), "--out", str(out), "--planner", "rules"]) == 0
    folder = out / "Rough"
    gains = json.loads((folder / "gains.json").read_text())
    copy = folder / "ardour" / "Rough.ardour" if kind == "ardour" else folder / "Rough.RPP"
    back = {t.name.removesuffix(" (anchor)"): t.fader_db for t in read_project(copy).tracks}
    for name, move in gains["gains_db"].items():  # each fader = the engineer's + the move anchormix advised
        assert back[name] == pytest.approx(ROUGH[name] + move, abs=1e-6), name
    assert _masked(copy) == _masked(rough)  # everything else as the engineer left it
    for track in read_project(copy).tracks:  # the copy plays each track's own file, where it lies
        name = track.name.removesuffix(" (anchor)")
        assert track.files == ((demo_session_dir / f"{name}.wav").resolve(),), name
    assert tree_hash(rough.parent) == before_session and tree_hash(demo_session_dir) == before_sources
    if kind == "ardour" and not shutil.which("ardour7-export"):
        pytest.skip("Ardour is not installed: the copy's render is not checked (make test installs it as root)")
    if kind == "ardour":  # Ardour plays the balanced copy as anchormix's mix
        render = ardour_render(copy.parent, "Rough", tmp_path / "render.wav")
        mix, rate = read_audio(folder / "mix.wav", session.sample_rate)
        heard, _ = read_audio(render, session.sample_rate)
        trim = gains["trim_db"] or 0.0  # the mix's true-peak trim is not a fader move
        assert integrated_loudness(heard, rate) + trim == pytest.approx(integrated_loudness(mix, rate), abs=0.05)


@pytest.mark.parametrize("kind", ["ardour", "reaper"])
def test_a_missing_or_unreadable_file_is_named_and_nothing_is_touched(kind, demo_session_dir, tmp_path, capsys):
    rough = _rough_mix(demo_session_dir, tmp_path, kind)
    text = rough.read_text()
    broken = tmp_path / "broken.wav"
    broken.write_bytes(b"RIFF not really a wav file at all")
    for target, expected in ((str(tmp_path / "gone" / "vocals.wav"), "vocals.wav"), (str(broken), "broken.wav")):
        rough.write_text(text.replace(str((demo_session_dir / "vocals.wav").resolve()), target))
        before = tree_hash(rough.parent)
        assert main(["balance", str(rough), "--out", str(tmp_path / "mixes"), "--planner", "rules"]) == 1
        err = capsys.readouterr().err
        assert expected in err and "Traceback" not in err
        assert tree_hash(rough.parent) == before


def test_a_track_with_two_regions_is_refused_by_name(demo_session_dir, tmp_path):
    rough = _rough_mix(demo_session_dir, tmp_path, "reaper")
    text = rough.read_text()
    start = text.index("    <ITEM", text.index("NAME vocals"))
    end = text.index("    >\n  >", start) + len("    >\n")
    rough.write_text(text[:end] + text[start:end] + text[end:])
    with pytest.raises(ValueError, match="vocals.*2 items"):
        load_session(rough)


def test_a_file_that_is_not_a_session_is_named(tmp_path):
    (tmp_path / "notes.txt").write_text("hi")
    with pytest.raises(ValueError, match="notes.txt: not a session"):
        load_session(tmp_path / "notes.txt")


def test_outputs_never_go_into_a_daw_projects_folder(demo_session_dir, tmp_path, capsys):
    """Issue 26, 1: ``balance P/Rough/Rough.RPP --out P`` overwrote Rough.RPP itself; now OUT/Rough is the project's
    own folder, so the outputs go to OUT/Rough-anchormix/ and a note says so; an --out inside it is refused."""
    rough = _rough_mix(demo_session_dir, tmp_path, "reaper")
    (rough.parent / "Rough-old.RPP").write_text("<REAPER_PROJECT\n>\n")  # other work in the project's folder
    before = tree_hash(rough.parent)
    assert main(["balance", str(rough), "--out", str(tmp_path), "--planner", "rules"]) == 0
    assert "Rough-anchormix" in capsys.readouterr().err
    assert (tmp_path / "Rough-anchormix" / "Rough.RPP").exists() and tree_hash(rough.parent) == before
    assert main(["balance", str(rough), "--out", str(rough.parent / "mixes"), "--planner", "rules"]) == 1
    err = capsys.readouterr().err
    assert "refusing to write inside" in err and str(rough.parent.resolve()) in err
    assert tree_hash(rough.parent) == before
    ardour = _rough_mix(demo_session_dir, tmp_path / "a", "ardour")  # an Ardour session's folder is its own
    assert main(["balance", str(ardour), "--out", str(ardour.parent / "mixes"), "--planner", "rules"]) == 1


def test_a_track_with_its_fader_all_the_way_down_is_left_out_with_a_note(demo_session_dir, tmp_path):
    rough = _rough_mix(demo_session_dir, tmp_path, "reaper")
    text = rough.read_text()
    start = text.index("VOLPAN", text.index("NAME pad"))
    rough.write_text(text[:start] + "VOLPAN 0 0 -1 -1 1" + text[text.index("\n", start):])
    session = load_session(rough)
    assert "pad" not in session.names and any("'pad' (fader all the way down)" in w for w in session.warnings)


def test_a_reaper_project_with_relative_paths_reads_each_tracks_own_file_and_level(demo_session_dir, tmp_path):
    """REAPER's usual layout: the project beside its audio, FILE relative to it. Each track must read its own file
    (a copy with two tracks' files swapped would not pass) at its own level, and the balanced copy keeps that."""
    project = tmp_path / "Song"
    shutil.copytree(demo_session_dir, project / "Audio", ignore=shutil.ignore_patterns("session.json"))
    session = load_session(project / "Audio")
    stems = daw_stems(session, {n: ROUGH[n] for n in session.names}, {}, tmp_path / "unused")
    rpp = write_reaper_project(project / "Song.RPP", stems, session.sample_rate)
    rpp.write_text(rpp.read_text().replace(str((project / "Audio").resolve()) + "/", "Audio/"))
    assert "FILE Audio/vocals.wav" in rpp.read_text()
    tracks = {t.name.removesuffix(" (anchor)"): t for t in read_project(rpp).tracks}
    for name, track in tracks.items():
        assert track.files == (project / "Audio" / f"{name}.wav",) and track.level_db == pytest.approx(ROUGH[name])
    loaded = load_session(rpp)
    for name in loaded.names:  # the stems are the files' audio at the tracks' levels
        alone, _ = read_audio(project / "Audio" / f"{name}.wav", loaded.sample_rate)
        assert integrated_loudness(loaded.stems[name], loaded.sample_rate) == pytest.approx(
            integrated_loudness(alone, loaded.sample_rate) + ROUGH[name], abs=0.05), name
    assert main(["balance", str(rpp), "--out", str(tmp_path / "mixes"), "--planner", "rules"]) == 0
    copy = read_project(tmp_path / "mixes" / "Song" / "Song.RPP")
    assert {t.name.removesuffix(" (anchor)"): t.files[0] for t in copy.tracks} == {
        n: (project / "Audio" / f"{n}.wav").resolve() for n in tracks}



def test_an_ardour_session_of_mono_files_with_relative_names_reads_each_tracks_own_files_and_level(
        demo_session_dir, tmp_path):
    """Ardour's own layout for a stereo recording: one mono file a channel in interchange/<session>/audiofiles,
    each Source named relative to it. Each track must read its own two files (left, right) at its own level, and
    Ardour must play the balanced copy, which names them absolutely, as anchormix's mix."""
    session = load_session(demo_session_dir)
    stems = daw_stems(session, {n: ROUGH[n] for n in session.names}, {}, tmp_path / "unused")
    path = write_ardour_session(tmp_path / "Song", "Song", stems, session.sample_rate)
    audiofiles = path.parent / "interchange" / "Song" / "audiofiles"
    root = ET.parse(path).getroot()
    for source in root.iter("Source"):
        stereo = Path(source.get("name"))
        side = "LR"[int(source.get("channel"))]
        audio, rate = read_audio(stereo)
        write_audio_atomic(audiofiles / f"{stereo.stem}%{side}.wav", audio["LR".index(side)][None], rate)
        source.set("name", f"{stereo.stem}%{side}.wav")
        source.set("channel", "0")
    path.write_text('<?xml version="1.0" encoding="UTF-8"?>\n' + ET.tostring(root, encoding="unicode") + "\n")
    assert 'name="vocals%R.wav"' in path.read_text()
    tracks = {t.name.removesuffix(" (anchor)"): t for t in read_project(path).tracks}
    for name, track in tracks.items():
        assert track.files == (audiofiles / f"{name}%L.wav", audiofiles / f"{name}%R.wav"), name
        assert track.level_db == pytest.approx(ROUGH[name], abs=1e-6), name
    loaded = load_session(path)
    for name in loaded.names:  # each stem: the two mono files as its channels, at the track's level
        alone, _ = read_audio(demo_session_dir / f"{name}.wav", loaded.sample_rate)
        assert loaded.stems[name].shape == alone.shape
        assert integrated_loudness(loaded.stems[name], loaded.sample_rate) == pytest.approx(
            integrated_loudness(alone, loaded.sample_rate) + ROUGH[name], abs=0.05), name
    out = tmp_path / "mixes"
    assert main(["balance", str(path), "--out", str(out), "--planner", "rules"]) == 0
    copy = out / "Song" / "ardour" / "Song.ardour"
    assert {t.name.removesuffix(" (anchor)"): t.files for t in read_project(copy).tracks} == {
        n: ((audiofiles / f"{n}%L.wav").resolve(), (audiofiles / f"{n}%R.wav").resolve()) for n in tracks}
    if not shutil.which("ardour7-export"):
        pytest.skip("Ardour is not installed: the copy's render is not checked (make test installs it as root)")
    gains = json.loads((out / "Song" / "gains.json").read_text())
    render = ardour_render(copy.parent, "Song", tmp_path / "render.wav")
    mix, rate = read_audio(out / "Song" / "mix.wav", loaded.sample_rate)
    heard, _ = read_audio(render, loaded.sample_rate)
    assert integrated_loudness(heard, rate) + (gains["trim_db"] or 0.0) == pytest.approx(
        integrated_loudness(mix, rate), abs=0.05)
