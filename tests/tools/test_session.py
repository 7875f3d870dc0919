"""Session loading: layout, roles, anchors, and a clear error naming the file for each bad input."""

import json

import numpy as np
import pytest

from anchormix.tools import infer_role, load_session
from anchormix.tools.audio import write_audio_atomic

from ..conftest import sine, tree_hash, write_wav


@pytest.fixture
def folder(tmp_path):
    d = tmp_path / "song"
    d.mkdir()
    return d


def test_mono_and_stereo_at_different_rates_load_as_stereo_at_one_rate(folder):
    write_wav(folder / "bass.wav", sine(55, 2.0, 44100, channels=1), 44100, "int16")
    write_wav(folder / "keys.wav", sine(440, 2.5, 44100), 44100, "int24")
    write_wav(folder / "vox.wav", sine(330, 1.0, 48000), 48000, "float32")
    s = load_session(folder)
    assert s.sample_rate == 44100  # the most common rate
    assert s.names == ["bass", "keys", "vox"]
    assert all(a.shape == (2, int(2.5 * 44100)) and a.dtype == np.float32 for a in s.stems.values())
    assert s.source_channels == {"bass": 1, "keys": 2, "vox": 2}
    assert s.anchor == "bass" and s.roles == {"bass": "bass", "keys": "keys", "vox": "vocals"}
    # Mono is centred on both sides; the resampled stem keeps its level.
    assert np.allclose(s.stems["bass"][0], s.stems["bass"][1])
    assert np.abs(s.stems["vox"][:, 4410:40000]).max() == pytest.approx(0.5, abs=0.01)
    # Zero padding after the shorter stems.
    assert not s.stems["vox"][:, int(1.01 * 44100):].any()


@pytest.mark.parametrize("fmt", ["uint8", "int16", "int24", "int32", "float32", "float64"])
def test_every_wav_sample_format_reads_at_the_right_level(folder, fmt):
    write_wav(folder / "bass.wav", sine(100, 1.0, 22050, amplitude=0.5), 22050, fmt)
    peak = np.abs(load_session(folder).stems["bass"]).max()
    assert peak == pytest.approx(0.5, abs=0.01)


@pytest.mark.parametrize("name, role", [
    ("01_Kick In", "kick"), ("BassDrum", "kick"), ("Snare Top", "snare"), ("HiHat", "hats"), ("OH L", "drums"),
    ("Bass DI", "bass"), ("synth bass", "bass"), ("Lead Vox", "vocals"), ("BVs", "vocals"), ("Gtr Rhythm", "guitar"),
    ("Rhodes", "keys"), ("Warm Pad", "pad"), ("Synth Lead", "lead"), ("Violins", "strings"), ("Trumpet", "brass"),
    ("Riser FX", "fx"), ("Default preset", "other"), ("track 7", "other"), ("Audio 12", "other"),
])
def test_roles_are_inferred_from_names(name, role):
    assert infer_role(name) == role


def test_session_json_overrides_roles_anchor_and_genre(folder):
    write_wav(folder / "Track 1.wav", sine(55, 1.0, 22050), 22050)
    write_wav(folder / "Track 2.wav", sine(440, 1.0, 22050), 22050)
    (folder / "session.json").write_text(json.dumps(
        {"anchor": "Track 2", "genre": "funk", "roles": {"Track 1": "bass", "Track 2": "keys"}}))
    s = load_session(folder)
    assert (s.anchor, s.genre, s.roles) == ("Track 2", "funk", {"Track 1": "bass", "Track 2": "keys"})
    assert load_session(folder, anchor="Track 1").anchor == "Track 1"  # the argument wins


def test_silent_stems_are_kept_but_inactive(folder):
    write_wav(folder / "bass.wav", sine(55, 1.0, 22050), 22050)
    write_wav(folder / "fx.wav", np.zeros((2, 22050)), 22050)
    s = load_session(folder)
    assert s.active == {"bass": True, "fx": False}


def test_other_files_are_ignored_and_listed(folder):
    write_wav(folder / "bass.wav", sine(55, 1.0, 22050), 22050)
    (folder / "notes.txt").write_text("mix notes")
    (folder / ".DS_Store").write_bytes(b"\0")
    assert load_session(folder).ignored_files == ["notes.txt"]


def test_loading_never_writes_to_the_session(folder):
    write_wav(folder / "bass.wav", sine(55, 1.0, 22050), 22050)
    write_wav(folder / "kick.wav", sine(60, 1.0, 22050), 22050)
    before = tree_hash(folder)
    load_session(folder)
    assert tree_hash(folder) == before


# --- bad input: a ValueError whose message names the file (or folder) and the problem ---

def _error(folder, **kwargs) -> str:
    with pytest.raises(ValueError) as info:
        load_session(folder, **kwargs)
    return str(info.value)


def test_missing_folder(tmp_path):
    assert f"{tmp_path / 'nope'}: not a folder" in _error(tmp_path / "nope")


def test_empty_folder(folder):
    assert f"{folder}: no audio files" in _error(folder)


def test_zero_byte_file(folder):
    (folder / "bass.wav").write_bytes(b"")
    assert f"{folder / 'bass.wav'}: file is empty" in _error(folder)


def test_text_file_named_wav(folder):
    (folder / "bass.wav").write_text("this is not audio\n" * 20)
    assert f"{folder / 'bass.wav'}: cannot decode as audio" in _error(folder)


def test_truncated_header(folder):
    good = write_wav(folder / "full.wav", sine(55, 1.0, 22050), 22050)
    (folder / "bass.wav").write_bytes(good.read_bytes()[:30])
    good.unlink()
    assert f"{folder / 'bass.wav'}: cannot decode as audio" in _error(folder)


def test_header_with_no_frames(folder):
    write_wav(folder / "bass.wav", np.zeros((2, 0)), 22050)
    message = _error(folder)
    assert str(folder / "bass.wav") in message and ("zero-length" in message or "cannot decode" in message)


def test_too_short_to_measure(folder):
    write_wav(folder / "bass.wav", sine(55, 0.2, 22050), 22050)
    assert f"{folder / 'bass.wav'}: 0.200 s is too short" in _error(folder)


def test_nan_samples(folder):
    audio = sine(55, 1.0, 22050)
    audio[:] = np.nan
    write_wav(folder / "bass.wav", audio, 22050, "float32")
    assert f"{folder / 'bass.wav'}: " in _error(folder) and "NaN/inf" in _error(folder)


def test_anchor_not_in_session(folder):
    write_wav(folder / "bass.wav", sine(55, 1.0, 22050), 22050)
    assert "anchor 'guitar' is not a stem of this session; stems: bass" in _error(folder, anchor="guitar")


def test_silent_anchor(folder):
    write_wav(folder / "bass.wav", sine(55, 1.0, 22050), 22050)
    write_wav(folder / "fx.wav", np.zeros((2, 22050)), 22050)
    assert f"{folder / 'fx.wav'}: anchor 'fx' is silent" in _error(folder, anchor="fx")


def test_two_bass_stems_ask_the_user_to_choose_before_anything_is_decoded(folder, monkeypatch):
    for n in ["bass 1", "bass 2", "keys"]:
        write_wav(folder / f"{n}.wav", sine(100, 1.0, 22050), 22050)
    _no_decoding(monkeypatch)
    message = _error(folder)
    assert str(folder) in message and "2 bass stems (bass 1, bass 2)" in message and "--anchor" in message


def test_without_a_stem_named_bass_the_anchor_is_the_lowest_sustained_stem_said_in_one_line(folder):
    write_wav(folder / "Audio 01.wav", sine(880, 4.0, 22050), 22050)
    write_wav(folder / "Audio 02.wav", sine(55, 4.0, 22050), 22050)  # the bass, by ear
    burst = sine(40, 4.0, 22050)
    burst[:, 22050:] = 0.0  # lower still, but it plays 1 s of 4: not sustained
    write_wav(folder / "Audio 03.wav", burst, 22050)
    write_wav(folder / "Audio 04.wav", np.zeros((2, 4 * 22050)), 22050)  # silent: never the anchor
    s = load_session(folder)
    assert s.anchor == "Audio 02"
    assert s.anchor_rule.startswith("no stem is named bass; 'Audio 02' is the lowest sustained stem")
    assert load_session(folder, anchor="Audio 01").anchor_rule == "'Audio 01', chosen with --anchor"


def test_a_session_with_no_audible_stem_is_refused(folder):
    write_wav(folder / "Audio 01.wav", np.zeros((2, 22050)), 22050)
    assert f"{folder}: every stem is silent" in _error(folder)


def _no_decoding(monkeypatch):
    """Any decode (or header probe) fails the test: what the names decide must be checked before."""
    import anchormix.tools.session as session_module

    def refuse(*_args, **_kwargs):
        raise AssertionError("decoded before the names were checked")

    monkeypatch.setattr(session_module, "decode_stems", refuse)
    monkeypatch.setattr(session_module, "probe_audio", refuse)


@pytest.mark.parametrize("meta, anchor, problem", [
    ({}, "guitar", "anchor 'guitar' is not a stem of this session; stems: bass, keys"),
    ({"anchor": "ghost"}, None, "anchor 'ghost' is not a stem of this session"),
])
def test_a_bad_anchor_name_fails_before_anything_is_decoded(folder, monkeypatch, meta, anchor, problem):
    for n in ["bass", "keys"]:
        write_wav(folder / f"{n}.wav", sine(100, 1.0, 22050), 22050)
    if meta:
        (folder / "session.json").write_text(json.dumps(meta))
    _no_decoding(monkeypatch)
    assert problem in _error(folder, anchor=anchor)


def test_two_files_with_one_stem_name(folder):
    write_wav(folder / "bass.wav", sine(55, 1.0, 22050), 22050)
    write_audio_atomic(folder / "bass.flac", sine(55, 1.0, 22050), 22050)
    assert "stem name 'bass' is also used by" in _error(folder)


@pytest.mark.parametrize("content, problem", [
    ("{not json", "not valid JSON"),
    ("[1, 2]", "must hold a JSON object"),
    ('{"anchor": 3}', "'anchor' must be a string"),
    ('{"roles": ["bass"]}', "'roles' must be an object"),
    ('{"roles": {"bass": "tuba"}}', "role 'tuba' for stem 'bass' is not one of"),
    ('{"roles": {"ghost": "keys"}}', "names stem 'ghost', which is not in the folder"),
    ('{"ancor": "bass"}', "unknown keys ['ancor']"),
    ('{"anchor": "ghost"}', "anchor 'ghost' is not a stem"),
    ('{"reference_lu": {"bass": "loud"}}', "reference_lu['bass'] must be a number"),
])
def test_bad_session_json(folder, content, problem):
    write_wav(folder / "bass.wav", sine(55, 1.0, 22050), 22050)
    (folder / "session.json").write_text(content)
    message = _error(folder)
    assert str(folder / "session.json") in message and problem in message
