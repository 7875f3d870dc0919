"""DAW sessions of a balance: REAPER's project read back, Ardour's session rendered by Ardour itself."""

from __future__ import annotations

import json
import shutil

import numpy as np
import pytest

from anchormix.cli import main
from anchormix.tools import load_session
from anchormix.tools.audio import read_audio
from anchormix.tools.daw import daw_stems, write_ardour_session, write_reaper_project
from anchormix.tools.daw.reaper import read_rpp
from anchormix.tools.loudness import integrated_loudness
from anchormix.tools.render import mix_down
from tests.conftest import ardour_render, sine, tree_hash, write_wav

GAINS = {"bass": 0.0, "vocals": 9.5, "keys": -3.0, "pad": 1.5}  # vocals: past the fader's +6 dB in Ardour


@pytest.fixture()
def session_dir(tmp_path):
    """Four stems at 44.1 kHz: stereo, mono (referenced as it is), and one at 48 kHz (copied at the session's rate)."""
    folder = tmp_path / "song"
    folder.mkdir()
    rng = np.random.default_rng(0)
    write_wav(folder / "bass.wav", sine(55, 3.0, 44100, 0.4), 44100, "int24")
    write_wav(folder / "vocals.wav", sine(440, 3.0, 44100, 0.1, channels=1), 44100, "int16")
    write_wav(folder / "keys.wav", (rng.standard_normal((2, 3 * 44100)) * 0.05).astype(np.float32), 44100)
    write_wav(folder / "pad.wav", sine(220, 3.0, 48000, 0.2), 48000)
    return folder


def _stems(session, tmp_path, gains=GAINS):
    return daw_stems(session, gains, {"vocals": "vocals +9.5 dB — up"}, tmp_path / "out" / "daw-audio")


def test_the_reaper_project_reads_back_with_each_track_file_and_fader(session_dir, tmp_path):
    session = load_session(session_dir)
    path = write_reaper_project(tmp_path / "out" / "song.RPP", _stems(session, tmp_path), session.sample_rate, -1.2,
                                "# advice\n- vocals +4.5 dB")
    project = read_rpp(path)
    tracks = {t.value("NAME")[0]: t for t in project.chunks("TRACK")}
    assert set(tracks) == {"bass (anchor)", "vocals", "keys", "pad"}
    for name, gain in GAINS.items():
        track = tracks[f"{name} (anchor)" if name == "bass" else name]
        assert 20 * np.log10(float(track.value("VOLPAN")[0])) == pytest.approx(gain, abs=1e-6)
        file = track.chunks("ITEM")[0].chunks("SOURCE")[0].value("FILE")[0]
        expected = tmp_path / "out" / "daw-audio" / "pad.wav" if name == "pad" else session_dir / f"{name}.wav"
        assert file == str(expected.resolve())
    assert 20 * np.log10(float(project.value("MASTER_VOLUME")[0])) == pytest.approx(-1.2)
    assert ["|- vocals +4.5 dB"] in project.chunks("NOTES")[0].lines


def test_a_broken_project_is_named(tmp_path):
    bad = tmp_path / "bad.RPP"
    bad.write_text("<REAPER_PROJECT 0.1\n  <TRACK\n")
    with pytest.raises(ValueError, match="bad.RPP"):
        read_rpp(bad)


@pytest.mark.skipif(shutil.which("ardour7-export") is None,
                    reason="Ardour is not installed (Debian: apt install ardour; .ci/run installs it)")
def test_ardour_renders_the_session_at_the_loudness_of_anchormix_own_mix(session_dir, tmp_path):
    before = tree_hash(session_dir)
    session = load_session(session_dir)
    mix = mix_down(session, GAINS)
    folder = tmp_path / "out" / "ardour"
    path = write_ardour_session(folder, "song", _stems(session, tmp_path), session.sample_rate, mix.trim_db)
    audio, rate = read_audio(ardour_render(folder, "song", tmp_path / "render.wav"), session.sample_rate)
    assert rate == session.sample_rate and audio.shape[1] == pytest.approx(session.num_samples, abs=2)
    assert mix.trim_db < -0.5  # the master fader carries a real trim: that path is rendered too
    assert integrated_loudness(audio, rate) == pytest.approx(mix.lufs, abs=0.05)  # Ardour agrees within 0.001 LU
    for name in ("vocals", "keys"):  # per track too: each stem alone at its fader (the others at -200 dB)
        alone = {n: (GAINS[n] if n == name else -200.0) for n in session.names}
        ref = mix_down(session, alone)
        write_ardour_session(tmp_path / name, "song", _stems(session, tmp_path, alone), session.sample_rate, ref.trim_db)
        audio, _ = read_audio(ardour_render(tmp_path / name, "song", tmp_path / f"{name}.wav"), session.sample_rate)
        assert integrated_loudness(audio, rate) == pytest.approx(ref.lufs, abs=0.05), name
    assert tree_hash(session_dir) == before and path.name == "song.ardour"


def test_balance_writes_both_daw_sessions_with_the_mix_gains(demo_session_dir, tmp_path, capsys):
    before = tree_hash(demo_session_dir)
    out = tmp_path / "mixes"
    assert main(["balance", str(demo_session_dir), "--out", str(out), "--planner", "rules", "--daw", "ardour,reaper"]) == 0
    folder = out / demo_session_dir.name
    gains = json.loads((folder / "gains.json").read_text())["gains_db"]
    tracks = {t.value("NAME")[0].removesuffix(" (anchor)"): t for t in read_rpp(folder / f"{folder.name}.RPP").chunks("TRACK")}
    for name, gain in gains.items():
        assert 20 * np.log10(float(tracks[name].value("VOLPAN")[0])) == pytest.approx(gain, abs=1e-6)
    assert (folder / "ardour" / f"{folder.name}.ardour").is_file()
    assert not list(folder.glob(".*part*")) and tree_hash(demo_session_dir) == before


def test_an_unknown_daw_format_is_named(demo_session_dir, tmp_path, capsys):
    assert main(["balance", str(demo_session_dir), "--out", str(tmp_path), "--daw", "logic"]) == 2
    assert "logic" in capsys.readouterr().err


def test_control_characters_in_stem_names_never_break_either_daw_file(tmp_path, capsys):
    """Issue 26, 6: a newline in a file name injected lines into the RPP, an ESC made the .ardour malformed XML."""
    import xml.etree.ElementTree as ET

    from anchormix.tools.daw import read_project

    song = tmp_path / "song"
    song.mkdir()
    write_wav(song / "bass.wav", sine(55, 2.0, 44100, 0.4), 44100)
    write_wav(song / "vox\nNAME injected\x1b[31m.wav", sine(440, 2.0, 44100, 0.1), 44100)
    before = tree_hash(song)
    assert main(["balance", str(song), "--out", str(tmp_path / "out"), "--planner", "rules", "--daw", "ardour,reaper"]) == 0
    rpp, ardour = tmp_path / "out" / "song" / "song.RPP", tmp_path / "out" / "song" / "ardour" / "song.ardour"
    ET.parse(ardour)  # well-formed XML
    for project in (read_project(rpp), read_project(ardour)):  # anchormix reads its own projects back
        names = sorted(t.name for t in project.tracks)
        assert names == ["bass (anchor)", "vox_NAME injected_[31m"], names
        assert all(f.exists() for t in project.tracks for f in t.files)
    assert "injected" not in "".join(line for line in rpp.read_text().splitlines() if line.strip().startswith("NAME i"))
    assert tree_hash(song) == before


def test_an_ardour_file_in_any_xml_spelling_gets_every_fader_moved(tmp_path):
    """Issue 26, 7: a fader whose value was single-quoted (valid XML) was skipped by the regex edit."""
    from anchormix.tools.daw import read_project, write_balanced_copy

    song = tmp_path / "song"
    song.mkdir()
    write_wav(song / "bass.wav", sine(55, 2.0, 44100, 0.4), 44100)
    write_wav(song / "keys.wav", sine(440, 2.0, 44100, 0.1), 44100)
    session = load_session(song)
    path = write_ardour_session(tmp_path / "Rough", "Rough", _stems(session, tmp_path, {"bass": 0.0, "keys": -2.0}),
                                session.sample_rate)
    text = path.read_text()
    at = text.index('value="', text.index('name="gaincontrol"', text.index('name="keys" default-type')))
    end = text.index('"', at + len('value="'))
    path.write_text(text[:at] + "value='" + text[at + len('value="'):end] + "'" + text[end + 1:])
    rough = load_session(path)
    copy = write_balanced_copy(rough, {"keys": 3.0, "bass": 0.0}, tmp_path / "copy")
    faders = {t.name: t.fader_db for t in read_project(copy).tracks}
    assert faders["keys"] == pytest.approx(1.0, abs=1e-6) and faders["bass (anchor)"] == pytest.approx(0.0, abs=1e-9)


def test_two_thousand_tracks_are_read_and_copied_with_every_fader_moved(tmp_path):
    """Issue 26, 11: the regex edit was quadratic in tracks (2,000 tracks: 104 s); the tree edit is one pass."""
    from anchormix.tools.daw import DawStem, read_project
    from anchormix.tools.daw.ardour import balanced_ardour

    file = write_wav(tmp_path / "one.wav", sine(110, 0.5, 44100, 0.1), 44100)
    stems = [DawStem(f"t{k}", file.resolve(), 22050, 2, -6.0, k == 0) for k in range(2000)]
    path = write_ardour_session(tmp_path / "Big", "Big", stems, 44100)
    project = read_project(path)
    copy = balanced_ardour(project, {t.name: 1.0 for t in project.tracks}, tmp_path / "copy")
    assert [t.fader_db for t in read_project(copy).tracks] == pytest.approx([-5.0] * 2000, abs=1e-6)


def test_a_gain_past_the_daws_fader_is_carried_by_the_tracks_second_stage(session_dir, tmp_path):
    """REAPER's fader ends at +12 dB, Ardour's at +6 dB (each clamps a higher value): the rest goes onto the item's
    volume (REAPER) or the track's trim (Ardour), so each DAW plays the gain the mix got; both read back whole."""
    from anchormix.tools.daw import read_project

    session = load_session(session_dir)
    gains = {**GAINS, "vocals": 15.0}
    stems = _stems(session, tmp_path, gains)
    rpp = read_project(write_reaper_project(tmp_path / "out" / "song.RPP", stems, session.sample_rate))
    ardour = read_project(write_ardour_session(tmp_path / "out" / "ardour", "song", stems, session.sample_rate))
    for project, fader_max in ((rpp, 12.0), (ardour, 20 * np.log10(2.0))):
        vocals = next(t for t in project.tracks if t.name == "vocals")
        assert vocals.fader_db == pytest.approx(fader_max) and vocals.level_db == pytest.approx(15.0)
