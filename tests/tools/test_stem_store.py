"""Stems decoded to disk and read back when asked for (issue 25): the same audio as a whole-file decode, read-only,
kept outside the session, gone with the session; a measurement of the stored stems equals one of the arrays."""

import gc
import os
import tempfile
from pathlib import Path

import numpy as np
import pytest

from anchormix.tools import load_session
from anchormix.tools.audio import read_audio, to_stereo
from anchormix.tools.loudness import integrated_loudness
from anchormix.tools.true_peak import true_peak_dbtp
from anchormix.tools.masking import band_levels
from anchormix.tools.stem_store import BLOCK_FRAMES, StemView, decode_stems, let_go, released, scratch

from ..conftest import sine, write_wav

SR = 44100


@pytest.fixture
def folder(tmp_path):
    d = tmp_path / "song"
    d.mkdir()
    return d


def _noise(seconds: float, channels: int, seed: int, sample_rate: int = SR) -> np.ndarray:
    return (0.2 * np.random.default_rng(seed).standard_normal((channels, int(seconds * sample_rate)))).astype(np.float32)


def test_stored_stems_equal_the_whole_file_decode_across_block_edges_rates_and_layouts(folder):
    """Longer than several blocks (the edges must not show), mono, 5.1, another rate (resampled) and a short stem
    (zeros after its end)."""
    long_s = 3.5 * BLOCK_FRAMES / SR
    write_wav(folder / "bass.wav", _noise(long_s, 2, 0), SR, "int24")
    write_wav(folder / "keys.wav", _noise(long_s, 1, 1), SR, "float32")
    write_wav(folder / "pad.wav", _noise(long_s - 1.0, 6, 2), SR, "float32")
    write_wav(folder / "vox.wav", _noise(2.0, 2, 3, 48000), 48000, "float32")
    session = load_session(folder)
    for name in session.names:
        whole = to_stereo(read_audio(folder / f"{name}.wav", SR)[0])
        stored = session.stems[name]
        assert stored.shape == (2, session.num_samples) and stored.dtype == np.float32
        np.testing.assert_array_equal(stored[:, : whole.shape[1]], whole)
        assert not stored[:, whole.shape[1]:].any()
    assert session.source_channels == {"bass": 2, "keys": 1, "pad": 6, "vox": 2}


def test_stored_stems_are_read_only_kept_outside_the_session_and_removed_with_it(folder):
    write_wav(folder / "bass.wav", sine(55, 1.0, SR), SR)
    write_wav(folder / "keys.wav", sine(440, 1.0, SR), SR)
    session = load_session(folder)
    store = session.stems
    kept = Path(store.folder)
    assert kept.is_dir() and kept.parent == Path(tempfile.gettempdir()) and folder not in kept.parents
    with pytest.raises(ValueError, match="read-only"):
        session.stems["keys"][0, 0] = 1.0
    assert sorted(p.name for p in folder.iterdir()) == ["bass.wav", "keys.wav"]  # nothing written beside the sources
    del session, store
    gc.collect()
    assert not kept.exists()


def test_a_measurement_of_the_stored_stems_equals_one_of_the_arrays(folder):
    """The measurements walk the stored stems one at a time; the numbers are those of the whole arrays in memory."""
    for k, name in enumerate(["bass", "keys", "hats"]):
        write_wav(folder / f"{name}.wav", _noise(6.0, 2, k) * np.float32(0.1 * (k + 1)), SR)
    session = load_session(folder)
    arrays = [np.array(a) for a in session.arrays()]  # in memory, copies
    assert not isinstance(arrays[0], np.memmap) and isinstance(session.arrays()[0].base, np.memmap)
    np.testing.assert_array_equal(integrated_loudness(session.arrays(), SR), integrated_loudness(arrays, SR))
    np.testing.assert_array_equal(true_peak_dbtp(session.arrays(), SR), true_peak_dbtp(arrays, SR))
    np.testing.assert_array_equal(band_levels(session.arrays(), SR), band_levels(arrays, SR))


def _mapped_mb() -> float:
    """This process's file pages in memory (RssFile), MiB."""
    return int(next(line for line in open("/proc/self/status") if line.startswith("RssFile")).split()[1]) / 1024


def test_a_stretch_let_go_of_leaves_this_process_s_memory_and_reads_back_the_same(folder):
    """let_go drops a stored stem's pages from the process (the page cache keeps them): a stem read whole and let go
    of costs nothing more, a stretch let go of costs its pages less, and the samples read again are the same; an
    array of one's own is left alone."""
    write_wav(folder / "bass.wav", _noise(60.0, 2, 0), SR, "float32")  # 21 MiB decoded
    stem = load_session(folder).stems["bass"]
    before = _mapped_mb()
    total = float(stem.sum(dtype=np.float64))  # every page read
    touched = _mapped_mb()
    assert touched - before > 15
    let_go(stem, 0, stem.shape[1] // 2)
    assert touched - _mapped_mb() > 7  # about half of it
    let_go(stem)
    assert _mapped_mb() - before < 1
    assert float(stem.sum(dtype=np.float64)) == total
    own = np.ones((2, 1000), np.float32)
    let_go(own)
    assert own.sum() == 2000
    np.zeros((2, 4096), np.float32).tofile(folder / "scratch.f32")
    private = np.memmap(folder / "scratch.f32", dtype=np.float32, mode="c", shape=(2, 4096))
    private[:] = 1.0  # a copy-on-write mapping's pages hold its changes: dropped, they would read 0 again
    let_go(private)
    let_go(private[0])
    assert float(private.sum()) == 2 * 4096


def test_a_scratch_buffer_lies_beside_the_stored_stems_leaves_no_file_and_keeps_what_was_written(folder):
    """The mix's buffer: zeros, mapped from the store's folder (for a store or a view of one) on a file removed at
    once; its stretches let go of read back as written. Stems held in memory get one in memory."""
    write_wav(folder / "bass.wav", _noise(2.0, 2, 0), SR)
    session = load_session(folder)
    files = sorted(session.stems.folder.iterdir())
    buffer = scratch(StemView(session.stems, ["bass"]), 70_000)
    assert isinstance(buffer, np.memmap) and buffer.shape == (2, 70_000) and not buffer.any()
    assert sorted(session.stems.folder.iterdir()) == files
    buffer[:, ::7] = 0.5
    let_go(buffer)
    assert float(buffer.sum(dtype=np.float64)) == 0.5 * 2 * 10_000
    in_memory = scratch({"bass": np.ones((2, 10), np.float32)}, 10)
    assert not isinstance(in_memory, np.memmap) and in_memory.shape == (2, 10) and not in_memory.any()


def test_a_scratch_buffer_on_a_full_disk_is_a_clear_error_not_a_crash(folder, monkeypatch):
    """Its blocks are reserved when it is made: a full temporary disk is an error naming TMPDIR then, where a sparse
    file would have failed later, as a SIGBUS, when a page of the mapping was written; nothing is left behind."""
    import errno

    write_wav(folder / "bass.wav", _noise(1.0, 2, 0), SR)
    session = load_session(folder)
    files = sorted(session.stems.folder.iterdir())

    def full(handle, offset, length):
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(os, "posix_fallocate", full)
    with pytest.raises(ValueError, match="No space left on device.*point TMPDIR at a disk with room"):
        scratch(session.stems, 44100)
    assert sorted(session.stems.folder.iterdir()) == files


def test_a_view_reads_a_subset_at_a_gain_per_stem_when_asked():
    stems = {"a": np.ones((2, 10), np.float32), "b": np.full((2, 10), 0.5, np.float32)}
    view = StemView(stems, ["b"], {"b": -6.0206, "a": 3.0})
    assert list(view) == ["b"] and len(view) == 1 and "a" not in view
    np.testing.assert_allclose(view["b"], 0.25, rtol=1e-4)
    with pytest.raises(KeyError):
        StemView(stems, ["c"])


def test_a_stem_that_decodes_longer_than_its_header_is_named_and_nothing_is_left_behind(tmp_path, monkeypatch):
    file = write_wav(tmp_path / "bass.wav", sine(55, 2.0, SR), SR)
    scratch = tmp_path / "tmp"
    scratch.mkdir()
    monkeypatch.setattr(tempfile, "tempdir", str(scratch))
    with pytest.raises(ValueError, match="bass.wav: decodes to more audio than its header declares"):
        decode_stems({"bass": (file,)}, {"bass": SR // 4}, SR)  # a header that says 0.25 s, 1 s of room past it
    assert not list(scratch.iterdir())


def test_a_killed_process_s_folder_is_swept_by_the_next_decode_and_a_live_one_is_kept(tmp_path, monkeypatch):
    import subprocess
    import sys

    scratch = tmp_path / "tmp"
    scratch.mkdir()
    monkeypatch.setattr(tempfile, "tempdir", str(scratch))
    ended = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True)
    orphan = scratch / f"anchormix-stems-{int(ended.stdout)}-abc"
    live = scratch / f"anchormix-stems-{os.getpid()}-def"
    for folder in (orphan, live):
        folder.mkdir()
        (folder / "0000.f32").write_bytes(b"\0" * 64)
    file = write_wav(tmp_path / "bass.wav", sine(55, 1.0, SR), SR)
    store, _ = decode_stems({"bass": (file,)}, {"bass": SR}, SR)
    assert not orphan.exists() and live.exists() and Path(store.folder).exists()


def _kept_mb(folder: Path) -> float:
    """This process's memory of the files it made in ``folder`` and removed at once (scratch: the kept analyses,
    the mix), MiB, from /proc/self/smaps."""
    mb, counting = 0.0, False
    for line in open("/proc/self/smaps"):
        head = line.split()
        if not head[0].endswith(":"):  # a mapping's first line: its address range, ..., its path
            counting = str(folder) in line and "(deleted)" in line
        elif counting and head[0] == "Rss:":
            mb += int(head[1]) / 1024
    return mb


def test_a_session_s_kept_analyses_lie_beside_its_stems_and_leave_memory_once_walked(folder):
    """The log-mel and band levels of a stored session (kept for the session: the tagger, the ALM, every masking
    check) are written beside its stems and let go of as written; read a stem or a stretch at a time
    (stem_store.released, BandLevels.stretches) they leave memory again, and they read as the same analyses of the
    stems held in memory. So what they hold does not grow with the song (issue 25)."""
    from anchormix.model.features import DEEP_FLOOR_DB, log_mel, session_mels
    from anchormix.tools import Measurements

    rate = 16000
    for k, name in enumerate(("bass", "keys", "pad", "lead", "vox", "gtr")):
        write_wav(folder / f"{name}.wav", _noise(60.0, 1, k, rate), rate, "int16")
    session = load_session(folder)
    store = session.stems.folder
    mels, bands = session_mels(session), Measurements(session).bands
    assert all(isinstance(kept, np.memmap) for kept in [*mels, bands.kept])  # mapped from files beside the stems
    size_mb = (sum(m.nbytes for m in mels) + bands.kept.nbytes) / 2**20
    assert size_mb > 4 and _kept_mb(store) < 0.05 * size_mb, (size_mb, _kept_mb(store))
    arrays = [session.stems[n].copy() for n in session.names]
    for mine, theirs in zip(released(mels), log_mel(arrays, rate, DEEP_FLOOR_DB)):
        np.testing.assert_allclose(mine, theirs, atol=1e-3)
    moved = bands.moved(np.arange(6, dtype=np.float32))
    whole = np.concatenate(list(moved.stretches(frames=300)), axis=-1)
    np.testing.assert_allclose(whole, band_levels(arrays, rate) + np.arange(6)[:, None, None], atol=1e-3)
    np.testing.assert_allclose(moved.loudest(), whole.max(axis=(1, 2)), atol=1e-3)
    assert _kept_mb(store) < 0.05 * size_mb, (size_mb, _kept_mb(store))
