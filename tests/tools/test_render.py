"""Gains, the global trim, and outputs that never touch the session."""

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from anchormix.tools import integrated_loudness, load_session, mix_down, true_peak_dbtp, write_outputs
from anchormix.tools.demo import write_demo_session
from anchormix.tools.render import CEILING_DBTP
from anchormix.tools.stem_store import BLOCK_FRAMES

from ..conftest import tree_hash


@pytest.fixture(scope="module")
def session(demo_session_dir):
    return load_session(demo_session_dir)


def test_gains_move_each_stem_by_exactly_the_gain(session, tmp_path):
    gains = {"vocals": 4.5, "kick": -3.0, "bass": 1.25}
    mix, paths = write_outputs(session, gains, tmp_path / "out", write_stems=True)
    rendered = load_session(tmp_path / "out" / "stems")
    for name in session.names:
        before = integrated_loudness(session.stems[name], session.sample_rate)
        after = integrated_loudness(rendered.stems[name], session.sample_rate)
        assert after - before == pytest.approx(gains.get(name, 0.0) + mix.trim_db, abs=0.01), name
    assert paths["mix"].name == "mix.wav" and paths["mix"].exists()


@settings(max_examples=12, deadline=None)
@given(st.lists(st.floats(-12, 18), min_size=8, max_size=8))
def test_any_gains_keep_the_mix_under_the_ceiling_and_the_balance_exact(session, gains):
    gains_db = dict(zip(session.names, gains))
    mix = mix_down(session, gains_db)
    assert mix.trim_db <= 0.0
    assert true_peak_dbtp(mix.audio, session.sample_rate) <= CEILING_DBTP + 0.01
    # The trim is global: the mix equals the gained stems' sum times one factor.
    unscaled = sum(session.stems[n] * np.float32(10 ** (g / 20)) for n, g in gains_db.items())
    factor = 10 ** (mix.trim_db / 20)
    assert np.allclose(mix.audio, unscaled * factor, atol=1e-5)


def test_quiet_mix_is_not_trimmed(session):
    mix = mix_down(session, {n: -20.0 for n in session.names})
    assert mix.trim_db == 0.0 and mix.true_peak_dbtp < CEILING_DBTP


def test_the_mix_is_summed_a_block_at_a_time_and_is_the_gained_stems_sum_exactly(tmp_path):
    """No gained copy of a whole stem: each stem is gained and added a block at a time, the same sum, bit for bit; the
    mix lies beside the stored stems (mapped, not held), on a file that leaves nothing in their folder; a trimmed mix
    is the sum times the trim, block by block."""
    long = load_session(write_demo_session(tmp_path / "long", "pop", seconds=12.0, seed=1, sample_rate=44100))
    files = sorted(long.stems.folder.iterdir())
    gains = {n: -20.0 - k for k, n in enumerate(long.names)}
    mix = mix_down(long, gains)
    assert mix.trim_db == 0.0 and mix.audio.shape[1] > 3 * BLOCK_FRAMES and isinstance(mix.audio, np.memmap)
    assert np.array_equal(mix.audio, sum(long.stems[n] * np.float32(10 ** (g / 20)) for n, g in gains.items()))
    loud = mix_down(long, {n: 6.0 for n in long.names})
    assert loud.trim_db < 0.0 and sorted(long.stems.folder.iterdir()) == files
    summed = sum(long.stems[n] * np.float32(10 ** (6 / 20)) for n in long.names)
    assert np.array_equal(loud.audio, summed * np.float32(10 ** (loud.trim_db / 20)))


def test_outputs_are_refused_inside_the_session_and_sources_stay_untouched(session, demo_session_dir, tmp_path):
    before = tree_hash(demo_session_dir)
    with pytest.raises(ValueError, match="refusing to write inside"):
        write_outputs(session, {}, demo_session_dir / "renders")
    with pytest.raises(ValueError, match="refusing to write inside"):
        write_outputs(session, {}, demo_session_dir)
    write_outputs(session, {"vocals": 3.0}, tmp_path / "elsewhere", write_stems=True)
    assert tree_hash(demo_session_dir) == before


def test_writes_are_atomic_and_leave_no_temp_files(session, tmp_path):
    out = tmp_path / "out"
    write_outputs(session, {}, out)
    first = (out / "mix.wav").stat().st_ino
    write_outputs(session, {"vocals": 2.0}, out)
    assert sorted(p.name for p in out.iterdir()) == ["mix.wav"]
    assert (out / "mix.wav").stat().st_ino != first  # replaced by rename, not rewritten in place


def test_unknown_stem_in_gains_is_named(session):
    with pytest.raises(ValueError, match=r"unknown stems \['tuba'\]"):
        mix_down(session, {"tuba": 3.0})
