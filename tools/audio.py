"""Audio I/O at the boundary: read, validate, lay out as stereo, write atomically.

One audio layout everywhere (docs/architecture.md): float32 ``(channels, samples)``, the
layout Pedalboard uses. Everything that enters the project passes through
:func:`read_audio`, which raises a ``ValueError`` naming the file for anything
it cannot use; everything that leaves it passes through :func:`write_audio_atomic`,
which never exposes a half-written file and refuses to overwrite a source stem.
"""

from __future__ import annotations

import os
import struct
import tempfile
from contextlib import contextmanager
from pathlib import Path
from typing import Callable, Iterator, NamedTuple

import numpy as np
from pedalboard.io import AudioFile

from .outputs import check_output_path

__all__ = [
    "AUDIO_EXTENSIONS",
    "MIN_DURATION_S",
    "MIN_SAMPLE_RATE",
    "MAX_SAMPLE_RATE",
    "AudioInfo",
    "probe_audio",
    "read_audio",
    "read_blocks",
    "to_stereo",
    "atomic_path",
    "check_output_path",
    "write_audio_atomic",
    "write_text_atomic",
]

def _umask_mode() -> int:
    """The mode a plain ``open()`` would give a new file (mkstemp's 0600 is too private for outputs)."""
    mask = os.umask(0)
    os.umask(mask)
    return 0o666 & ~mask


_FILE_MODE = _umask_mode()  # read once: os.umask() is process-wide and not thread-safe


# Formats pedalboard.io.AudioFile reads on every platform.
AUDIO_EXTENSIONS = (".wav", ".flac", ".aif", ".aiff", ".mp3", ".ogg")
# One BS.1770 gating block is 400 ms; a shorter stem has no integrated loudness.
MIN_DURATION_S = 0.4
_WRITE_FRAMES = 1 << 17  # frames handed to the encoder at a time
# Telephone band to high-resolution studio rates; anything outside is not music to balance (a 100 Hz "stem" holds
# nothing above 50 Hz and would be called silent).
MIN_SAMPLE_RATE, MAX_SAMPLE_RATE = 8_000, 384_000


class AudioInfo(NamedTuple):
    sample_rate: int
    frames: int
    channels: int


def _check_wav_length(path: Path) -> None:
    """A WAV whose data chunk declares more bytes than the file holds is truncated: say so, do not pad it."""
    size = path.stat().st_size
    with open(path, "rb") as f:
        head = f.read(12)
        if len(head) < 12 or head[:4] not in (b"RIFF", b"RF64") or head[8:12] != b"WAVE":
            return  # not a RIFF WAV (or too short for one): the decoder decides
        if head[:4] == b"RF64":
            return  # 64-bit sizes live in the ds64 chunk; the decoder checks them
        offset = 12
        while offset + 8 <= size:
            f.seek(offset)
            chunk_id, chunk_size = struct.unpack("<4sI", f.read(8))
            if chunk_id == b"data":
                available = size - offset - 8
                if chunk_size not in (0, 0xFFFFFFFF) and chunk_size > available:
                    raise ValueError(f"{path}: truncated WAV: the header declares {chunk_size} bytes of audio but "
                                     f"only {available} follow")
                return
            offset += 8 + chunk_size + (chunk_size & 1)


def _check_file(path: Path) -> None:
    """What the header and the file system decide, before any decoding: ``ValueError`` naming the file."""
    if path.is_symlink() and not path.exists():
        raise ValueError(f"{path}: symbolic link to {os.readlink(path)}, which does not exist")
    if not path.is_file():
        raise ValueError(f"{path}: not a file")
    if not os.access(path, os.R_OK):
        raise ValueError(f"{path}: permission denied (anchormix cannot read it)")
    if path.stat().st_size == 0:
        raise ValueError(f"{path}: file is empty (0 bytes)")
    if path.suffix.lower() == ".wav":
        _check_wav_length(path)


def _check_rate(path: Path, sample_rate: int) -> None:
    if not MIN_SAMPLE_RATE <= sample_rate <= MAX_SAMPLE_RATE:
        raise ValueError(f"{path}: a sample rate of {sample_rate} Hz is not audio anchormix can balance "
                         f"({MIN_SAMPLE_RATE} to {MAX_SAMPLE_RATE} Hz)")


def probe_audio(path: str | Path) -> AudioInfo:
    """Sample rate, length and channels of ``path`` from its header; ``ValueError`` naming the file if it is not audio."""
    path = Path(path)
    _check_file(path)
    try:
        with AudioFile(str(path)) as f:
            info = AudioInfo(int(round(f.samplerate)), int(f.frames), int(f.num_channels))
    except Exception as err:
        raise ValueError(f"{path}: cannot decode as audio ({err})") from None
    _check_rate(path, info.sample_rate)
    return info


@contextmanager
def _decoding(path: Path) -> Iterator[None]:
    """Whatever decoding ``path`` raises becomes a ``ValueError`` that names the file."""
    try:
        yield
    except MemoryError:
        raise ValueError(f"{path}: not enough memory to decode it") from None
    except ValueError as err:
        if str(err).startswith(str(path)):
            raise
        raise ValueError(f"{path}: cannot decode as audio ({err})") from None
    except Exception as err:  # pedalboard raises RuntimeError/ValueError with terse text
        raise ValueError(f"{path}: cannot decode as audio ({err})") from None


def _check_finite(path: Path, audio: np.ndarray) -> None:
    if np.isfinite(audio.sum(dtype=np.float64)):  # one pass: a NaN or an inf makes the sum NaN or inf
        return
    finite = np.isfinite(audio)
    if not finite.all():
        bad = int(audio.size - finite.sum())
        raise ValueError(f"{path}: {bad} NaN/inf samples; the file is corrupt or not real audio")


def read_audio(path: str | Path, sample_rate: int | None = None) -> tuple[np.ndarray, int]:
    """Decode ``path`` to float32 ``(channels, samples)``, resampled to ``sample_rate`` if given.

    Raises ``ValueError`` naming the file when it cannot be decoded, is empty,
    shorter than 400 ms, or holds NaN/inf samples.
    """
    path = Path(path)
    _check_file(path)
    with _decoding(path), AudioFile(str(path)) as f:
        native_rate = int(round(f.samplerate))
        _check_rate(path, native_rate)
        reader = f.resampled_to(float(sample_rate)) if sample_rate and sample_rate != native_rate else f
        audio = reader.read(int(reader.frames))
    rate = int(sample_rate or native_rate)
    audio = np.ascontiguousarray(audio, dtype=np.float32)
    if audio.ndim != 2 or audio.shape[1] == 0:
        raise ValueError(f"{path}: no audio samples (zero-length file)")
    if audio.shape[1] < MIN_DURATION_S * rate:
        raise ValueError(
            f"{path}: {audio.shape[1] / rate:.3f} s is too short; at least {MIN_DURATION_S} s "
            "is needed to measure loudness (one BS.1770 block)"
        )
    _check_finite(path, audio)
    return audio, rate


def read_blocks(path: str | Path, sample_rate: int, frames: int) -> Iterator[np.ndarray]:
    """Decode ``path`` ``frames`` at a time, resampled to ``sample_rate``: float32 ``(channels, <= frames)`` blocks
    until the file ends, each checked as :func:`read_audio` checks the whole (a ``ValueError`` naming the file).
    Memory: one block, whatever the file's length."""
    path = Path(path)
    _check_file(path)
    with _decoding(path), AudioFile(str(path)) as f:
        native_rate = int(round(f.samplerate))
        _check_rate(path, native_rate)
        reader = f.resampled_to(float(sample_rate)) if sample_rate != native_rate else f
        while True:
            audio = np.ascontiguousarray(reader.read(frames), dtype=np.float32)
            if audio.ndim != 2 or audio.shape[1] == 0:
                return
            _check_finite(path, audio)
            yield audio


def to_stereo(audio: np.ndarray, path: str | Path = "<audio>") -> np.ndarray:
    """Lay any channel count out as the stereo pair it contributes to the mix.

    Mono is centred at unity on both sides (it is measured as it will be heard
    in the stereo mix). 5.1 folds down per ITU-R BS.775 (C and surrounds at
    -3 dB, LFE dropped); other counts are averaged to both sides.
    """
    channels = audio.shape[0]
    if channels == 2:
        return audio
    if channels == 1:
        return np.repeat(audio, 2, axis=0)
    if channels == 6:  # L R C LFE Ls Rs (SMPTE / WAVE order)
        k = np.float32(1 / np.sqrt(2))
        left = audio[0] + k * audio[2] + k * audio[4]
        right = audio[1] + k * audio[2] + k * audio[5]
        return np.stack([left, right]).astype(np.float32)
    if channels > 2:
        mid = audio.mean(axis=0, dtype=np.float32)
        return np.stack([mid, mid])
    raise ValueError(f"{path}: no channels")


@contextmanager
def atomic_path(path: str | Path, protected: list[Path] | tuple[Path, ...] = ()) -> Iterator[Path]:
    """Yield a temp path beside ``path``; on success it is fsynced and renamed onto ``path``.

    A reader never sees a partial file: either the old file (or none) or the
    complete new one. ``protected`` lists folders/files that must not be written.
    The temp name ends in the target's suffix, so format-sniffing writers still work.
    """
    path = check_output_path(path, protected)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(prefix=f".{path.stem}.", suffix=f".part{path.suffix}", dir=path.parent)
        os.close(fd)
    except OSError as err:  # read-only disk, a file where a folder should be: name the output
        raise OSError(err.errno, f"cannot write here ({err.strerror})", str(path)) from None
    try:
        yield Path(tmp)
        with open(tmp, "rb") as fh:
            os.fsync(fh.fileno())
        os.chmod(tmp, _FILE_MODE)
        os.replace(tmp, path)
    except OSError as err:  # a full disk mid-write: the temp file goes, the old output (if any) stays
        Path(tmp).unlink(missing_ok=True)
        raise OSError(err.errno, f"writing failed ({err.strerror}); nothing was replaced", str(path)) from None
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def write_audio_atomic(
    path: str | Path,
    audio: np.ndarray,
    sample_rate: int,
    protected: list[Path] | tuple[Path, ...] = (),
    written: Callable[[int, int], None] | None = None,
) -> Path:
    """Write ``audio`` (channels, samples) to ``path`` atomically (see :func:`atomic_path`), ``_WRITE_FRAMES`` frames
    at a time (the encoder's interleaved copy is a block's, not the song's); ``written(start, stop)`` is told of
    each block once written (so that a mapped song's stretches can leave memory)."""
    if audio.ndim != 2:
        raise ValueError(f"{path}: audio must be (channels, samples), got shape {audio.shape}")
    with atomic_path(path, protected) as tmp:
        with AudioFile(str(tmp), "w", samplerate=float(sample_rate), num_channels=audio.shape[0]) as f:
            for start in range(0, max(audio.shape[1], 1), _WRITE_FRAMES):
                f.write(np.ascontiguousarray(audio[:, start : start + _WRITE_FRAMES], dtype=np.float32))
                if written is not None:
                    written(start, min(start + _WRITE_FRAMES, audio.shape[1]))
    return check_output_path(path, protected)


def write_text_atomic(path: str | Path, text: str, protected: list[Path] | tuple[Path, ...] = ()) -> Path:
    """Write UTF-8 ``text`` to ``path`` atomically (see :func:`atomic_path`)."""
    with atomic_path(path, protected) as tmp:
        tmp.write_text(text, encoding="utf-8")
    return check_output_path(path, protected)
