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

GAINS = {"bass": 0.0, "vocals": 4.5, "keys": -3.0, "pad": 1.5}


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
    return daw_stems(session, gains, {"vocals": "vocals +4.5 dB — up"}, tmp_path / "out" / "daw-audio")


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
    assert integrated_loudness(audio, rate) == pytest.approx(mix.lufs, abs=0.5)
    for name in ("vocals", "keys"):  # per track too: each stem alone at its fader (the others at -200 dB)
        alone = {n: (GAINS[n] if n == name else -200.0) for n in session.names}
        ref = mix_down(session, alone)
        write_ardour_session(tmp_path / name, "song", _stems(session, tmp_path, alone), session.sample_rate, ref.trim_db)
        audio, _ = read_audio(ardour_render(tmp_path / name, "song", tmp_path / f"{name}.wav"), session.sample_rate)
        assert integrated_loudness(audio, rate) == pytest.approx(ref.lufs, abs=0.5), name
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
