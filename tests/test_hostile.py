"""Hostile sessions: each is handled correctly or refused with an error naming the file, and nothing is lost.

Every case is a session folder with a good bass stem plus one hostile item,
generated here byte by byte. Refusals: the CLI exits non-zero with the file
and the problem in one line, and the chat app shows its error screen.
"""

import errno
import json
import os
import struct

import numpy as np
import pytest

from anchormix.cli import main
from anchormix.tools import load_session

from .conftest import sine, tree_hash, write_wav

SR = 22050


def bass(folder):
    folder.mkdir(parents=True, exist_ok=True)
    write_wav(folder / "bass.wav", sine(55, 2.0, SR, 0.3), SR)
    return folder


def keys_wav(folder, fmt="int16", seconds=2.0, rate=SR, channels=2, audio=None):
    audio = sine(440, seconds, rate, 0.2, channels) if audio is None else audio
    return write_wav(folder / "keys.wav", audio, rate, fmt)


def truncated_header(d):
    (d / "keys.wav").write_bytes(keys_wav(d).read_bytes()[:30])


def wrong_data_length(d):
    data = keys_wav(d).read_bytes()
    (d / "keys.wav").write_bytes(data[: len(data) // 2])  # the header still declares the whole length


def header_claims_a_gigabyte(d):
    data = bytearray(keys_wav(d).read_bytes())
    struct.pack_into("<I", data, data.find(b"data") + 4, 10**9)
    (d / "keys.wav").write_bytes(bytes(data))


def too_long_for_memory(d):
    """An 11.6-hour mono WAV (4 GB of int16, as long as a WAV's 32-bit sizes allow): a sparse file, so it costs no
    disk; it must not be decoded (balancing it beside the bass would hold 9 GB of analyses and room)."""
    frames = 2 * 10**9
    header = struct.pack("<4sI4s4sIHHIIHH4sI", b"RIFF", 36 + 2 * frames, b"WAVE", b"fmt ", 16, 1, 1, 48000,
                         96000, 2, 16, b"data", 2 * frames)
    with open(d / "keys.wav", "wb") as f:
        f.write(header)
        f.truncate(len(header) + 2 * frames)


def nan_float(d):
    audio = sine(440, 2.0, SR, 0.2)
    audio[0, 100] = np.nan
    keys_wav(d, "float32", audio=audio)


def inf_float64(d):
    audio = sine(440, 2.0, SR, 0.2).astype(np.float64)
    audio[1, 7] = np.inf
    keys_wav(d, "float64", audio=audio)


def dangling_symlink(d):
    os.symlink(d.parent / "nowhere.wav", d / "keys.wav")


REFUSED = [
    ("truncated header", truncated_header, "keys.wav", "cannot decode"),
    ("wrong data length", wrong_data_length, "keys.wav", "truncated WAV"),
    ("header claims 1 GB", header_claims_a_gigabyte, "keys.wav", "truncated WAV"),
    ("longer than the memory bound", too_long_for_memory, "keys.wav", "GB in memory"),
    ("0-byte file", lambda d: (d / "keys.wav").write_bytes(b""), "keys.wav", "empty (0 bytes)"),
    ("text file named .wav", lambda d: (d / "keys.wav").write_text("just text\n" * 20), "keys.wav", "cannot decode"),
    ("NaN samples", nan_float, "keys.wav", "NaN/inf"),
    ("inf samples", inf_float64, "keys.wav", "NaN/inf"),
    ("one sample", lambda d: keys_wav(d, seconds=1 / SR), "keys.wav", "too short"),
    ("dangling symlink", dangling_symlink, "keys.wav", "does not exist"),
    ("session.json wrong type", lambda d: (d / "session.json").write_text('{"roles": {"bass": 3}}'),
     "session.json", "is not one of"),
    ("session.json unknown stem", lambda d: (d / "session.json").write_text('{"roles": {"tuba": "brass"}}'),
     "session.json", "names stem 'tuba'"),
]


@pytest.mark.parametrize("label, make, file, problem", REFUSED, ids=[r[0] for r in REFUSED])
def test_refused_with_the_file_and_the_problem(tmp_path, capsys, label, make, file, problem):
    session = bass(tmp_path / "song")
    make(session)
    before = {p.name: (p.lstat().st_size, p.lstat().st_mtime_ns) for p in session.iterdir()}
    assert main(["measure", str(session)]) == 2
    err = capsys.readouterr().err.replace("\n", "")
    assert file in err and problem in err, err
    assert main(["balance", str(session), "--out", str(tmp_path / "out")]) == 1
    err = capsys.readouterr().err.replace("\n", "")
    assert file in err and problem in err, err
    assert {p.name: (p.lstat().st_size, p.lstat().st_mtime_ns) for p in session.iterdir()} == before
    assert not (tmp_path / "out" / "song" / "mix.wav").exists()


@pytest.mark.parametrize("fmt", ["uint8", "int16", "int24", "int32", "float32", "float64"])
@pytest.mark.parametrize("rate", [8000, 192000])
def test_every_sample_format_and_rate_loads_at_the_right_level(tmp_path, fmt, rate):
    session = bass(tmp_path / "song")
    keys_wav(session, fmt, seconds=1.0, rate=rate)
    loaded = load_session(session)
    assert loaded.active["keys"] and loaded.sample_rate in (SR, rate)
    peak = np.abs(loaded.stems["keys"]).max()
    assert peak == pytest.approx(0.2, abs=0.01)  # 8-bit and resampling keep the level within 0.5 dB


@pytest.mark.parametrize("channels", [1, 2, 6])
def test_mono_stereo_and_six_channels_load_as_stereo(tmp_path, channels):
    session = bass(tmp_path / "song")
    keys_wav(session, channels=channels)
    loaded = load_session(session)
    assert loaded.stems["keys"].shape[0] == 2 and loaded.source_channels["keys"] == channels


def test_silence_dc_and_a_full_scale_square_are_handled_and_noted(tmp_path, capsys):
    session = bass(tmp_path / "song")
    write_wav(session / "silence.wav", np.zeros((2, SR)), SR)
    write_wav(session / "dc.wav", np.full((2, SR), 0.5), SR)
    t = np.arange(2 * SR) / SR
    write_wav(session / "square.wav", np.repeat(np.sign(np.sin(2 * np.pi * 100 * t))[None], 2, axis=0), SR, "int16")
    loaded = load_session(session)
    assert not loaded.active["silence"] and not loaded.active["dc"] and loaded.active["square"]
    assert any("dc.wav: DC offset 0.50" in w for w in loaded.warnings)
    assert any("square.wav" in w and "clipped" in w for w in loaded.warnings)

    assert main(["balance", str(session), "--out", str(tmp_path / "out")]) == 0
    gains = json.loads((tmp_path / "out" / "song" / "gains.json").read_text())
    assert gains["gains_db"]["silence"] == 0.0 and gains["gains_db"]["dc"] == 0.0  # nothing to balance
    from anchormix.tools.audio import read_audio
    from anchormix.tools.true_peak import true_peak_dbtp

    mix, rate = read_audio(tmp_path / "out" / "song" / "mix.wav")
    assert true_peak_dbtp(mix[None], rate)[0] <= -1.0 + 0.05


def test_unicode_and_spaces_in_names_and_200_stems(tmp_path, capsys):
    session = bass(tmp_path / "Sommer Session – ünïcode")
    write_wav(session / "Vöcals – take 2 ✓.wav", sine(330, 1.0, SR, 0.2), SR)
    for i in range(198):
        write_wav(session / f"track {i:03d}.wav", sine(200 + 7 * i, 1.0, SR, 0.05), SR, "int16")
    loaded = load_session(session)
    assert len(loaded.stems) == 200 and "Vöcals – take 2 ✓" in loaded.stems
    assert main(["balance", str(session), "--out", str(tmp_path / "out"), "--planner", "rules"]) == 0
    (out,) = (tmp_path / "out").iterdir()
    assert (out / "mix.wav").exists() and "Vöcals – take 2 ✓" in (out / "gains.json").read_text(encoding="utf-8")


def test_a_symlink_to_outside_is_read_but_never_written(tmp_path):
    from anchormix.tools.audio import write_audio_atomic

    (tmp_path / "library").mkdir()
    outside = write_wav(tmp_path / "library" / "keys take.wav", sine(440, 2.0, SR, 0.2), SR)
    session = bass(tmp_path / "song")
    os.symlink(outside, session / "keys.wav")
    before = tree_hash(tmp_path / "library")
    loaded = load_session(session)
    assert loaded.active["keys"]
    protected = [loaded.path.resolve(), *(f.resolve() for f in loaded.files.values())]
    with pytest.raises(ValueError, match="source material is read-only"):
        write_audio_atomic(outside, np.zeros((2, 10), np.float32), SR, protected)  # the link's target is a source
    assert main(["balance", str(session), "--out", str(tmp_path / "library")]) == 0  # a new folder beside it
    assert {k: v for k, v in tree_hash(tmp_path / "library").items() if not k.startswith("song")} == before


def test_a_read_only_session_folder_is_only_read(tmp_path):
    session = bass(tmp_path / "song")
    keys_wav(session)
    before = tree_hash(session)
    session.chmod(0o555)
    try:
        assert main(["balance", str(session), "--out", str(tmp_path / "out")]) == 0
        assert tree_hash(session) == before and sorted(p.name for p in session.iterdir()) == ["bass.wav", "keys.wav"]
    finally:
        session.chmod(0o755)


@pytest.mark.parametrize("code, where", [(errno.ENOSPC, "fsync"), (errno.EROFS, "mkstemp")])
def test_a_full_or_read_only_output_disk_is_named_and_loses_nothing(tmp_path, capsys, monkeypatch, code, where):
    import tempfile

    session = bass(tmp_path / "song")
    keys_wav(session)
    before = tree_hash(session)

    def fail(*args, **kwargs):
        raise OSError(code, os.strerror(code))

    monkeypatch.setattr(os if where == "fsync" else tempfile, where, fail)
    assert main(["balance", str(session), "--out", str(tmp_path / "out")]) == 1
    err = capsys.readouterr().err.replace("\n", "")
    assert os.strerror(code) in err and str(tmp_path / "out" / "song") in err
    monkeypatch.undo()
    assert tree_hash(session) == before
    leftovers = [p.name for p in (tmp_path / "out" / "song").glob("*") if ".part" in p.name]
    assert leftovers == [] and not (tmp_path / "out" / "song" / "mix.wav").exists()


def test_an_output_folder_that_is_a_file_is_named(tmp_path, capsys):
    session = bass(tmp_path / "song")
    keys_wav(session)
    (tmp_path / "out").write_text("I am a file")
    assert main(["balance", str(session), "--out", str(tmp_path / "out")]) == 1
    err = capsys.readouterr().err.replace("\n", "")
    assert str(tmp_path / "out") in err


def test_the_chat_app_shows_an_error_screen_for_a_hostile_session(tmp_path):
    import asyncio

    from anchormix.tui.app import ChatApp
    from anchormix.tui.screens import ErrorScreen

    session = bass(tmp_path / "song")
    wrong_data_length(session)

    async def run():
        app = ChatApp(session, tmp_path / "out", intent_model=False)
        async with app.run_test() as pilot:
            await app.workers.wait_for_complete()
            await pilot.pause()
            assert isinstance(app.screen, ErrorScreen)
            assert "truncated WAV" in str(app.screen.query_one("#error-message").render())

    asyncio.run(run())
