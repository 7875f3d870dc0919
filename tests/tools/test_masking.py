"""Masking on synthesized stems whose overlap is known by construction."""

import numpy as np
import pytest
from scipy import signal

from anchormix.tools.masking import BAND_CENTRES_HZ, band_levels, masked_share, masking_matrix, rest_of_mix

from ..conftest import sine

SR = 48000


def band_noise(lo_hz: float, hi_hz: float, seconds: float, level: float, seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    sos = signal.butter(4, [lo_hz, hi_hz], btype="band", fs=SR, output="sos")
    x = signal.sosfilt(sos, rng.standard_normal(int(seconds * SR)))
    return np.repeat((level * x / np.std(x))[None], 2, axis=0).astype(np.float32)


def levels_of(*stems: np.ndarray) -> np.ndarray:
    return band_levels(np.stack(stems), SR)


def test_band_levels_put_a_tone_in_its_band():
    levels = levels_of(sine(1000, 2.0, SR))
    assert levels.shape[:2] == (1, len(BAND_CENTRES_HZ))
    assert BAND_CENTRES_HZ[levels[0].mean(axis=1).argmax()] == 1000


def test_louder_noise_in_the_same_band_masks_and_names_the_band():
    vocal = sine(1000, 2.0, SR, amplitude=0.05)
    guitar = band_noise(700, 1400, 2.0, level=0.5)
    result = masked_share(*levels_of(vocal, guitar), margin_db=3.0)
    assert result.share > 0.9
    assert result.worst_bands()[0][0] == 1000
    lo, hi = result.worst_range_hz()
    assert lo <= 1000 <= hi


def test_a_masker_in_another_register_does_not_mask():
    vocal = sine(2000, 2.0, SR, amplitude=0.05)
    bass = band_noise(40, 150, 2.0, level=0.5)
    assert masked_share(*levels_of(vocal, bass)).share < 0.05


def test_raising_the_target_unmasks_it():
    vocal = sine(1000, 2.0, SR, amplitude=0.1)
    guitar = band_noise(700, 1400, 2.0, level=0.3)
    target, masker = levels_of(vocal, guitar)
    before = masked_share(target, masker).share
    after = masked_share(target + 25.0, masker).share  # gains shift band levels in dB
    assert before > 0.5 and after < 0.1


def test_margin_makes_masking_stricter():
    target, masker = levels_of(sine(1000, 2.0, SR, 0.2), band_noise(700, 1400, 2.0, level=0.2))
    shares = [masked_share(target, masker, margin).share for margin in (0.0, 6.0, 20.0)]
    assert shares[0] >= shares[1] >= shares[2] and shares[0] > shares[2]


def test_silent_target_is_never_masked():
    target, masker = levels_of(np.zeros((2, 2 * SR), np.float32), band_noise(700, 1400, 2.0, 0.5))
    result = masked_share(target, masker)
    assert result.share == 0.0 and result.active_cells == 0 and result.worst_bands() == []


def test_pairwise_matrix_is_symmetric_and_finds_the_fighting_pair():
    levels = levels_of(
        sine(1000, 2.0, SR, 0.1),           # vocal-ish
        band_noise(800, 1300, 2.0, 0.4),    # guitar over it
        band_noise(40, 120, 2.0, 0.4),      # bass, far away
    )
    directed, mutual = masking_matrix(levels)
    assert np.allclose(mutual, mutual.T) and np.allclose(np.diag(mutual), 0)
    assert directed[0, 1] > 0.8 and directed[0, 2] < 0.05
    assert mutual[0, 1] > mutual[0, 2] and mutual[0, 1] > mutual[1, 2]


def test_rest_of_mix_is_the_power_sum_of_the_others():
    levels = levels_of(sine(1000, 1.0, SR, 0.1), band_noise(700, 1400, 1.0, 0.2), band_noise(700, 1400, 1.0, 0.2, 1))
    rest = rest_of_mix(levels, 0)
    band = int(np.flatnonzero(BAND_CENTRES_HZ == 1000)[0])
    assert np.median(rest[band] - np.maximum(levels[1, band], levels[2, band])) == pytest.approx(3.0, abs=1.0)


@pytest.mark.parametrize("samples", [SR * 7 + 1234, 3000])  # frames in several chunks, a ragged end; one short frame
def test_band_levels_read_a_chunk_of_frames_at_a_time_as_the_whole_song_reads(monkeypatch, samples):
    """Each chunk of frames takes the mid of its own samples (memory: a chunk's, not the song's): the levels are
    those of one chunk over the whole song (to the FFT's and the products' float rounding), and two stems at a
    time equal one at a time."""
    import anchormix.tools.masking as masking

    rng = np.random.default_rng(4)
    stems = [(rng.standard_normal((2, samples)) * 0.1).astype(np.float32) for _ in range(3)]
    monkeypatch.setattr(masking, "FRAME_CHUNK", 10**9)
    monkeypatch.setattr(masking, "_WORKERS", 1)
    whole = band_levels(stems, SR)
    monkeypatch.setattr(masking, "FRAME_CHUNK", 16)
    monkeypatch.setattr(masking, "_WORKERS", 2)
    np.testing.assert_allclose(band_levels(stems, SR), whole, atol=1e-4)


def test_stretches_of_a_song_judged_against_its_loudest_cell_add_up_to_the_whole_song():
    """A masking check reads a song's band levels a stretch at a time (tools/measurements.BandLevels): the share
    per band, the masked and active cells and the pairwise matrix of the stretches, each judged against the whole
    song's loudest cell, add up to the whole song's exactly; a stretch judged on its own would not (the vocal is
    quiet in the second half, so its own loudest cell there makes cells active the whole song does not count)."""
    quiet_later = np.concatenate([sine(1000, 2.0, SR, 0.3), sine(1000, 2.0, SR, 0.003)], axis=1)
    levels = levels_of(quiet_later, band_noise(700, 1400, 4.0, 0.05), band_noise(40, 3000, 4.0, 0.02, 2))
    cut = levels.shape[-1] // 2
    stretches = [levels[..., :cut], levels[..., cut:]]
    whole = masked_share(levels[0], rest_of_mix(levels, 0))
    parts = [masked_share(s[0], rest_of_mix(s, 0), loudest=float(levels[0].max())) for s in stretches]
    assert parts[0] + parts[1] == whole and whole.active_cells > 0
    alone = [masked_share(s[0], rest_of_mix(s, 0)) for s in stretches]
    assert (alone[0] + alone[1]).active_cells > whole.active_cells
    np.testing.assert_allclose(masking_matrix(stretches, loudest=levels.max(axis=(1, 2)))[0], masking_matrix(levels)[0])
