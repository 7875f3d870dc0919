"""Decoded stems kept on disk: each stem decoded once, a block at a time, and mapped read-only when asked for.

A session of 48 five-minute stems is 5.5 GB as float32 stereo; holding it all
is what made whole songs cost 3-4x their decoded size in memory. Instead
:func:`decode_stems` decodes each stem's files ``BLOCK_FRAMES`` at a time
(resampled to the session's rate, laid out as stereo, the DAW fader applied)
into one float32 file per stem in a private temporary folder (``$TMPDIR``,
never beside the sources), and :class:`StemStore` maps that file read-only each
time a stem is asked for. A measurement that walks a stem a stretch at a time
(loudness, true peak, band levels, log-mel, the mix) calls :func:`let_go` on
each stretch it is done with, so its pages leave the process's memory (they
stay in the page cache) and it holds a stretch, not the song. What the
session keeps of its stems' analyses (log-mel, band levels) and the mix lie in
that folder too (:func:`scratch`), walked the same way (:func:`released`). The
folder goes when the store does (or when the process exits; a killed process's
folder is swept by the next session that decodes).

:class:`StemView` is a lazy subset of a store, or the store at a gain per stem,
and :class:`StemSequence` the stems in order: what ``Session.arrays()`` gives
the measurements, so that nothing ever holds every stem at once.
"""

from __future__ import annotations

import mmap
import os
import shutil
import tempfile
import weakref
from concurrent.futures import ThreadPoolExecutor
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from .audio import MIN_DURATION_S, read_blocks, to_stereo

__all__ = ["BLOCK_FRAMES", "PAGE_FLOATS", "StemStats", "StemStore", "StemView", "StemSequence", "decode_stems", "let_go",
           "released", "scratch"]

BLOCK_FRAMES = 1 << 17  # frames decoded at a time (0.5 MB a channel)
PAGE_FLOATS = mmap.PAGESIZE // 4  # float32 values in a page: what let_go drops is whole pages
_CLIP = 0.9999  # a sample this close to full scale counts as clipped
_WORKERS = max(1, min(2, os.cpu_count() or 1))
_PREFIX = "anchormix-stems-"  # then the owning process's id: anchormix-stems-<pid>-<random>


@dataclass
class StemStats:
    """What a stem's decoding saw, block by block: its source channels and length, and per channel (after the
    stereo layout) the mean, highest and lowest sample and how many samples sat at full scale."""

    channels: int = 0
    frames: int = 0
    total: np.ndarray = field(default_factory=lambda: np.zeros(2))
    high: np.ndarray = field(default_factory=lambda: np.full(2, -np.inf))
    low: np.ndarray = field(default_factory=lambda: np.full(2, np.inf))
    clipped: int = 0

    def add(self, block: np.ndarray) -> None:
        self.frames += block.shape[1]
        self.total += block.sum(axis=1, dtype=np.float64)
        self.high = np.maximum(self.high, block.max(axis=1))
        self.low = np.minimum(self.low, block.min(axis=1))
        if self.high.max() >= _CLIP or self.low.min() <= -_CLIP:
            self.clipped += int(np.count_nonzero(block >= _CLIP) + np.count_nonzero(block <= -_CLIP))

    @property
    def mean(self) -> np.ndarray:
        return self.total / max(self.frames, 1)


class StemStore(Mapping):
    """Stem name -> float32 ``(2, length)``, read-only, mapped from its file in ``folder`` on every access."""

    def __init__(self, folder: Path, files: dict[str, Path], length: int, stride: int) -> None:
        self.folder, self.files, self.length, self.stride = folder, files, length, stride
        weakref.finalize(self, shutil.rmtree, str(folder), True)  # when the store goes, or at exit

    def __getitem__(self, name: str) -> np.ndarray:
        mapped = np.memmap(self.files[name], dtype=np.float32, mode="r", shape=(2 * self.stride,))
        return np.ndarray((2, self.length), dtype=np.float32, buffer=mapped, strides=(4 * self.stride, 4))

    def __iter__(self):
        return iter(self.files)

    def __len__(self) -> int:
        return len(self.files)


def let_go(audio: np.ndarray, start: int = 0, stop: int | None = None) -> None:
    """Drop frames ``start`` to ``stop`` of a stem (or one of its lanes) mapped from a :class:`StemStore` from this
    process's memory: they stay in the page cache, and come back from it if read again. A measurement that walks a
    stem a stretch at a time lets go of each stretch when done with it, so it holds a stretch, not the song. Any
    other array (a gained copy, a test's own, a private writable mapping) is left alone. A shared writable mapping
    (:func:`scratch`) is let go of the same way: what was written stays in its file and comes back from there."""
    base = audio  # the memmap made from the mapping itself: a view of it (a memmap too) starts elsewhere
    while base is not None and not (isinstance(base, np.memmap) and isinstance(base.base, mmap.mmap)):
        base = getattr(base, "base", None)
    if (base is None or base.mode not in ("r", "r+") or getattr(base, "_mmap", None) is None
            or not hasattr(mmap, "MADV_DONTNEED")):  # shared mappings only: a private ("c") one's changes would go
        return
    rows = audio if audio.ndim == 2 else audio[None]
    stop = rows.shape[1] if stop is None else min(stop, rows.shape[1])
    if stop <= start:
        return
    if start == 0 and stop == rows.shape[1] and rows.flags.c_contiguous:  # every row whole: one run of bytes, so
        rows = rows.reshape(1, -1)  # the pages across the rows' ends go too (a kept analysis: rows of few pages)
        stop = rows.shape[1]
    page = mmap.PAGESIZE
    for row in rows:
        if row.strides[0] != row.itemsize:  # a strided view's frames are not one run of bytes
            continue
        first = row[start:stop].ctypes.data - base.ctypes.data + base.offset % mmap.ALLOCATIONGRANULARITY
        low, high = -(-first // page) * page, (first + (stop - start) * row.itemsize) // page * page
        if high > low:  # only whole pages inside the frames: a neighbour's samples are never dropped
            base._mmap.madvise(mmap.MADV_DONTNEED, low, high - low)


def scratch(stems: Mapping, shape: int | tuple[int, ...]) -> np.ndarray:
    """A writable float32 array of zeros for work that grows with the song: ``(2, shape)`` (a stem long: the mix) or
    ``shape`` (a session's kept analyses). Mapped from a file in the folder of the :class:`StemStore` that ``stems``
    (a store, a view of one, or a sequence of its stems) reads from, a file removed at once (the disk space goes with
    the array), so that its stretches leave memory as :func:`let_go` drops them; in memory when the stems are (a
    test's, a generated song's)."""
    shape = (2, shape) if isinstance(shape, int) else tuple(shape)
    store = stems
    while not isinstance(store, StemStore) and isinstance(getattr(store, "stems", None), Mapping):
        store = store.stems
    if not isinstance(store, StemStore) or 0 in shape:
        return np.zeros(shape, dtype=np.float32)
    handle, path = tempfile.mkstemp(suffix=".f32", dir=store.folder)
    try:
        # Its blocks reserved now: a full disk is an error here, not a SIGBUS when a page of the mapping is written
        # (where the system has no posix_fallocate, macOS, a sparse file of zeros).
        size = 4 * int(np.prod(shape))
        if hasattr(os, "posix_fallocate"):
            os.posix_fallocate(handle, 0, size)
        else:
            os.ftruncate(handle, size)
        return np.memmap(path, dtype=np.float32, mode="r+", shape=shape)
    except OSError as err:  # the temporary folder's disk is full, or not writable
        raise ValueError(f"cannot keep a mix or an analysis in {store.folder} ({err.strerror}); point TMPDIR at a "
                         f"disk with room for the session's decoded stems") from None
    finally:
        os.close(handle)
        os.unlink(path)  # the mapping keeps the file's pages; nothing is left behind on disk


def released(arrays: Iterable[np.ndarray]) -> Iterator[np.ndarray]:
    """Each of ``arrays`` in turn, let go of whole (:func:`let_go`) once the caller asks for the next: a walk over a
    session's kept analyses, one stem's in memory at a time."""
    for array in arrays:
        yield array
        let_go(array.reshape(-1, array.shape[-1]) if array.ndim > 2 else array)


class StemView(Mapping):
    """``stems`` (any name -> array mapping) limited to ``names`` and each stem at ``gains_db``; lazy: a stem is read
    (and gained, as a new array) only when asked for."""

    def __init__(self, stems: Mapping, names: list[str] | None = None, gains_db: Mapping[str, float] | None = None):
        self.stems, self.names = stems, list(stems) if names is None else list(names)
        self.scale = {n: np.float32(10 ** (g / 20)) for n, g in (gains_db or {}).items() if g}
        if missing := [n for n in self.names if n not in stems]:
            raise KeyError(f"unknown stems {missing}")

    def __getitem__(self, name: str) -> np.ndarray:
        if name not in self.names:
            raise KeyError(name)
        audio = self.stems[name]
        return audio * self.scale[name] if name in self.scale else audio

    def __iter__(self):
        return iter(self.names)

    def __len__(self) -> int:
        return len(self.names)


class StemSequence(Sequence):
    """The stems of ``stems`` in ``names`` order, each read when indexed: a list a measurement can walk that never
    holds more than the stem in hand."""

    def __init__(self, stems: Mapping, names: list[str]) -> None:
        self.stems, self.names = stems, names

    def __getitem__(self, index: int) -> np.ndarray:
        return self.stems[self.names[index]]

    def __len__(self) -> int:
        return len(self.names)


def decode_stems(groups: dict[str, tuple[Path, ...]], frames: dict[str, int], sample_rate: int,
                 gains_db: Mapping[str, float] | None = None) -> tuple[StemStore, dict[str, StemStats]]:
    """Decode every stem (its files: one, or one per channel) into a :class:`StemStore`, at ``sample_rate``, as
    stereo, at ``gains_db`` (a DAW session's faders); ``frames``: each stem's length from its headers, at
    ``sample_rate``. Stems shorter than the longest read as zeros after their end."""
    stride = max(frames.values()) + sample_rate  # room for a decoder that gives a little more than its header said
    _sweep_orphans()
    folder = Path(tempfile.mkdtemp(prefix=f"{_PREFIX}{os.getpid()}-"))
    files = {name: folder / f"{k:04d}.f32" for k, name in enumerate(groups)}

    def one(name: str) -> StemStats:
        group = groups[name]
        try:
            return _decode_one(group, files[name], stride, sample_rate, (gains_db or {}).get(name, 0.0))
        except MemoryError:
            raise ValueError(f"{group[0]}: not enough memory to decode it") from None
        except OSError as err:  # the temporary folder's disk is full, or not writable
            raise ValueError(f"{group[0]}: cannot keep its decoded audio in {folder} ({err.strerror}); point "
                             f"TMPDIR at a disk with room for the session's decoded stems") from None

    try:
        with ThreadPoolExecutor(_WORKERS) as pool:  # decoding and writing release the GIL: two stems at a time
            stats = dict(zip(groups, pool.map(one, groups)))
        store = StemStore(folder, files, max(s.frames for s in stats.values()), stride)
    except BaseException:
        shutil.rmtree(folder, ignore_errors=True)
        raise
    return store, stats


def _sweep_orphans() -> None:
    """Remove the folders of processes that ended without removing theirs (killed: a ``SIGKILL`` runs no finaliser),
    so a killed balance does not leave its session's decoded size on the disk for good."""
    for folder in Path(tempfile.gettempdir()).glob(f"{_PREFIX}*-*"):
        pid = folder.name[len(_PREFIX):].split("-", 1)[0]
        if pid.isdigit() and not _alive(int(pid)):
            shutil.rmtree(folder, ignore_errors=True)


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # another user's process: alive, and not ours to sweep
        return True
    return True


def _decode_one(group: tuple[Path, ...], file: Path, stride: int, sample_rate: int, gain_db: float) -> StemStats:
    """One stem's files, read block by block in step, written as two rows of ``stride`` float32 samples."""
    stats, scale = StemStats(), np.float32(10 ** (gain_db / 20))
    readers = [read_blocks(f, sample_rate, BLOCK_FRAMES) for f in group]
    counts = [1] * len(group)  # each file's channels, from its first block: a file that ends early reads as zeros
    fd = os.open(file, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    try:
        os.ftruncate(fd, 2 * stride * 4)  # zeros (sparse) where nothing is written: a short stem's padding
        while True:
            blocks = [next(r, None) for r in readers]
            if all(block is None for block in blocks):
                break
            width = max(b.shape[1] for b in blocks if b is not None)
            parts = []
            for i, block in enumerate(blocks):
                counts[i] = counts[i] if block is None else block.shape[0]
                parts.append(np.zeros((counts[i], width), np.float32) if block is None else
                             block if block.shape[1] == width else np.pad(block, ((0, 0), (0, width - block.shape[1]))))
            audio = parts[0] if len(parts) == 1 else np.concatenate(parts)
            stats.channels = max(stats.channels, audio.shape[0])
            stereo = to_stereo(audio, group[0])
            if scale != 1:
                stereo = stereo * scale
            if stats.frames + width > stride:
                raise ValueError(f"{group[0]}: decodes to more audio than its header declares; re-export it")
            for row in range(2):
                os.pwrite(fd, memoryview(np.ascontiguousarray(stereo[row])), 4 * (row * stride + stats.frames))
            stats.add(stereo)
    finally:
        os.close(fd)
    if stats.frames == 0:
        raise ValueError(f"{group[0]}: no audio samples (zero-length file)")
    if stats.frames < MIN_DURATION_S * sample_rate:
        raise ValueError(f"{group[0]}: {stats.frames / sample_rate:.3f} s is too short; at least {MIN_DURATION_S} s "
                         "is needed to measure loudness (one BS.1770 block)")
    return stats
