"""MIDI arrangements split per instrument and rendered: the stems must sum to the full render."""

import json
import shutil
from pathlib import Path

import numpy as np
import pytest

from anchormix.model.corpus import build_midi_session, infer_genre, split_of
from anchormix.model.corpus.midi import find_soundfont, read_events, render_midi, split_stems
from anchormix.tools import integrated_loudness, load_session

FIXTURE = Path(__file__).parents[1] / "data" / "fixture.mid"
needs_fluidsynth = pytest.mark.skipif(
    shutil.which("fluidsynth") is None or not Path("/usr/share/sounds/sf2/FluidR3_GM.sf2").exists(),
    reason="needs Debian's fluidsynth and fluid-soundfont-gm (.ci/run installs them)")


def test_split_by_channel_program_and_drum_piece():
    stems = {s.name: s for s in split_stems(read_events(FIXTURE))}
    assert {n: s.role for n, s in stems.items()} == {
        "piano_ch1_p0": "keys", "bass_ch2_p33": "bass", "ensemble_ch3_p48": "strings", "brass_ch3_p56": "brass",
        "cymbals": "hats", "hats": "hats", "kick": "kick", "percussion": "drums", "snare": "snare"}
    assert len(stems["kick"].onsets_s) == 12 and len(stems["hats"].onsets_s) == 48
    assert len(stems["ensemble_ch3_p48"].onsets_s) == 5 and len(stems["brass_ch3_p56"].onsets_s) == 2
    # The string note held across the program change ends on the strings stem, not the trumpet's.
    ends = [(t, program) for t, msg, program in read_events(FIXTURE)
            if msg.type == "note_off" and msg.channel == 2 and msg.note == 74]
    assert ends[0] == (pytest.approx(7.0), 48)  # held from 5.5 s (strings) past the switch at 6 s


def test_unreadable_midi_is_named(tmp_path):
    bad = tmp_path / "song.mid"
    bad.write_text("not midi")
    with pytest.raises(ValueError, match=f"{bad}: cannot read as MIDI"):
        read_events(bad)


@needs_fluidsynth
def test_stems_null_against_the_full_render():
    events = read_events(FIXTURE)
    specs = split_stems(events)
    stems, full = render_midi(events, specs, find_soundfont(), 22050, 12.0, FIXTURE)
    assert set(stems) == {s.name for s in specs}
    residual = full - np.sum(list(stems.values()), axis=0)
    null_db = 10 * np.log10((residual**2).sum() / (full**2).sum())
    assert null_db < -30.0, null_db
    total = integrated_loudness(np.sum(list(stems.values()), axis=0), 22050)
    assert total == pytest.approx(integrated_loudness(full, 22050), abs=0.05)


@needs_fluidsynth
def test_build_writes_a_loadable_session_at_the_arrangers_balance(tmp_path):
    entry = build_midi_session(FIXTURE, tmp_path, seconds=8.0, package="fixture")
    folder = tmp_path / entry["id"]
    session = load_session(folder)
    meta = json.loads((folder / "session.json").read_text())
    assert entry["id"] == "fixture-fixture" and entry["split"] == split_of("fixture-fixture")
    assert session.anchor == "bass_ch2_p33" and session.roles["kick"] == "kick"
    assert entry["null_db"] < -30.0 and "null test" in meta["notes"]
    assert meta["licence"] and "FluidSynth" in meta["source"]
    lufs = dict(zip(session.names, integrated_loudness(session.array(), session.sample_rate)))
    for name, ref in session.reference_lu.items():  # 24-bit FLAC keeps the balance
        assert lufs[name] - lufs[session.anchor] == pytest.approx(ref, abs=0.02), name
    assert session.duration_s == pytest.approx(8.0, abs=0.01)


def test_missing_soundfont_says_how_to_get_one(tmp_path):
    with pytest.raises(ValueError, match="apt-get install fluidsynth fluid-soundfont-gm"):
        find_soundfont(tmp_path / "none.sf2")


def test_splits_are_by_song_and_stable():
    # Fixed for good: a song never changes split between runs, machines or versions (these were assigned once).
    assert [split_of(n) for n in ("openttd-openmsx-rag", "song-1", "song-4", "song-6")] == ["valid", "train", "test", "test"]
    shares = [split_of(f"song-{i}") for i in range(2000)]
    assert 0.75 < shares.count("train") / 2000 < 0.85 and 0.07 < shares.count("test") / 2000 < 0.13


def test_genre_from_names():
    assert infer_genre("boogi_marabi_redfarn") == "jazz"
    assert infer_genre("Maple Leaf Rag") == "ragtime"
    assert infer_genre("music004") == "unknown"
