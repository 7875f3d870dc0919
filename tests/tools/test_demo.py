"""The demo generator: known balance, and audio with the shape of music."""

import json

import numpy as np
import pytest
from scipy import signal

from anchormix.tools import integrated_loudness, load_session
from anchormix.tools.demo import PRESETS, generate_stems, write_demo_session


@pytest.mark.parametrize("genre", sorted(PRESETS))
def test_stems_sit_at_the_reference_balance(genre):
    stems = generate_stems(genre, seconds=4.0, seed=1, sample_rate=22050)
    assert set(stems) == {"kick", "snare", "hats", "bass", "keys", "pad", "lead", "vocals"}
    lufs = dict(zip(stems, integrated_loudness(np.stack(list(stems.values())), 22050)))
    for name, ref in PRESETS[genre].reference_lu.items():
        assert lufs[name] - lufs["bass"] == pytest.approx(ref, abs=0.05), name


def test_written_session_records_reference_and_carries_the_offsets(demo_session_dir):
    s = load_session(demo_session_dir)
    meta = json.loads((demo_session_dir / "session.json").read_text())
    assert s.anchor == "bass" and s.genre == "pop" and meta["licence"] == "CC0-1.0"
    lufs = dict(zip(s.names, integrated_loudness(s.array(), s.sample_rate)))
    offsets = {"vocals": -6.0, "kick": 3.0, "hats": 5.0}
    for name, ref in s.reference_lu.items():
        assert lufs[name] - lufs["bass"] == pytest.approx(ref + offsets.get(name, 0.0), abs=0.05), name


def test_same_seed_same_song_other_seed_other_song():
    a = generate_stems("pop", seconds=2.0, seed=3, sample_rate=22050)
    b = generate_stems("pop", seconds=2.0, seed=3, sample_rate=22050)
    c = generate_stems("pop", seconds=2.0, seed=4, sample_rate=22050)
    assert all(np.array_equal(a[n], b[n]) for n in a)
    assert not np.array_equal(a["vocals"], c["vocals"])


def _onset_envelope(x: np.ndarray, sr: int, hop: int = 256) -> np.ndarray:
    frames = x[0, : len(x[0]) // hop * hop].reshape(-1, hop)
    energy = np.log10((frames**2).sum(axis=1) + 1e-9)
    return np.maximum(np.diff(energy), 0)


@pytest.mark.parametrize("genre", ["pop", "edm"])
def test_drums_keep_the_preset_tempo(genre):
    sr, hop = 22050, 256
    stems = generate_stems(genre, seconds=8.0, seed=0, sample_rate=sr)
    drums = stems["kick"] + stems["snare"]
    env = _onset_envelope(drums, sr, hop)
    ac = np.correlate(env - env.mean(), env - env.mean(), "full")[len(env) - 1 :]
    beat_frames = 60.0 / PRESETS[genre].tempo_bpm * sr / hop
    lags = np.arange(len(ac))
    window = (lags > beat_frames * 0.6) & (lags < beat_frames * 2.2)
    best = lags[window][np.argmax(ac[window])]
    # Strongest periodicity at one or two beats.
    assert min(abs(best - beat_frames), abs(best - 2 * beat_frames)) < 2.5


def test_pitched_stems_are_tonal_and_drums_are_not():
    stems = generate_stems("pop", seconds=4.0, seed=0, sample_rate=22050)

    def flatness(x):
        _, _, spec = signal.stft(x[0], 22050, nperseg=2048)
        power = np.abs(spec) ** 2 + 1e-12
        loud = power.sum(axis=0) > np.percentile(power.sum(axis=0), 50)
        return float(np.mean(np.exp(np.log(power[:, loud]).mean(0)) / power[:, loud].mean(0)))

    assert max(flatness(stems[n]) for n in ("bass", "keys", "pad", "lead", "vocals")) < 0.05
    assert min(flatness(stems["hats"]), flatness(stems["snare"])) > 0.07


def test_vocal_line_carries_formants():
    stems = generate_stems("ballad", seconds=4.0, seed=0, sample_rate=22050)
    f, power = signal.welch(stems["vocals"][0], 22050, nperseg=4096)
    low = power[(f > 80) & (f < 200)].mean()
    formant = power[(f > 300) & (f < 1200)].mean()
    assert formant > low  # energy sits in the F1/F2 region, not only at the fundamental


def test_generator_only_writes_into_a_new_folder(tmp_path):
    (tmp_path / "mine").mkdir()
    (tmp_path / "mine" / "take1.wav").write_bytes(b"precious")
    with pytest.raises(ValueError, match="folder is not empty"):
        write_demo_session(tmp_path / "mine", seconds=1.0)
    assert (tmp_path / "mine" / "take1.wav").read_bytes() == b"precious"
