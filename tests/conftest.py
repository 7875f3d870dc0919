"""Shared fixtures: synthesized audio written as real files, and a short demo session."""

from __future__ import annotations

import hashlib
import os
import struct
import subprocess
from pathlib import Path

import numpy as np
import pytest

# PyTorch and BLAS on 2 shared cores: passive waiting, or a step can run 10x slower.
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")


def write_wav(path: Path, audio: np.ndarray, sample_rate: int, fmt: str = "float32") -> Path:
    """Write ``audio`` (channels, samples) as a WAV by hand, so tests control every byte.

    ``fmt``: 'float32', 'float64' (IEEE float) or 'int16', 'int24', 'int32', 'uint8' (PCM).
    """
    audio = np.atleast_2d(np.asarray(audio, dtype=np.float64))
    channels, frames = audio.shape
    interleaved = audio.T.reshape(-1)
    if fmt in ("float32", "float64"):
        tag, width = 3, 4 if fmt == "float32" else 8
        data = interleaved.astype("<f4" if width == 4 else "<f8").tobytes()
    elif fmt == "int24":
        tag, width = 1, 3
        ints = np.clip(np.round(interleaved * 2**23), -(2**23), 2**23 - 1).astype("<i4")
        data = b"".join(int(v).to_bytes(3, "little", signed=True) for v in ints)
    else:
        tag = 1
        width, dtype, scale, offset = {"int16": (2, "<i2", 2**15, 0), "int32": (4, "<i4", 2**31, 0),
                                       "uint8": (1, "u1", 2**7, 128)}[fmt]
        data = (np.clip(np.round(interleaved * scale), -scale, scale - 1) + offset).astype(dtype).tobytes()
    header = struct.pack("<4sI4s4sIHHIIHH4sI", b"RIFF", 36 + len(data), b"WAVE", b"fmt ", 16, tag, channels,
                         sample_rate, sample_rate * channels * width, channels * width, width * 8, b"data", len(data))
    path.write_bytes(header + data)
    return path


def sine(freq_hz: float, seconds: float, sample_rate: int, amplitude: float = 0.5, channels: int = 2) -> np.ndarray:
    t = np.arange(int(seconds * sample_rate)) / sample_rate
    return np.repeat((amplitude * np.sin(2 * np.pi * freq_hz * t))[None], channels, axis=0).astype(np.float32)


def ardour_render(folder: Path, name: str, wav: Path) -> Path:
    """Ardour's own headless render of the session ``folder/name.ardour`` (``ardour7-export``, 32-bit float).

    ardour7-export 7.3 often aborts (SIGABRT) while shutting down after it has written the file: about one run in
    three on the development machine, the file identical to a clean run's. So a run that printed "Done." and left
    the file counts; a run that died before that is tried again, three times in all. The caller measures the file.
    """
    for attempt in (1, 2, 3):
        done = subprocess.run(["ardour7-export", "-b", "float", "-o", str(wav), str(folder), name],
                              capture_output=True, text=True, timeout=300)
        finished = "* Done." in done.stdout and wav.exists()
        if done.returncode == 0 and wav.exists() or done.returncode < 0 and finished:
            return wav
        if done.returncode > 0 or attempt == 3:
            raise AssertionError(f"ardour7-export exited {done.returncode}: {done.stdout[-800:]} {done.stderr[-800:]}")
    return wav


def tree_hash(folder: Path) -> dict[str, str]:
    """sha256 of every file under ``folder`` (to prove sources are untouched)."""
    return {str(p.relative_to(folder)): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(folder.rglob("*")) if p.is_file()}


@pytest.fixture(scope="session")
def demo_session_dir(tmp_path_factory) -> Path:
    """A 4-second pop demo session at 22.05 kHz with known reference balance and spoiled levels."""
    from anchormix.tools.demo import write_demo_session

    folder = tmp_path_factory.mktemp("demo") / "song"
    offsets = {"vocals": -6.0, "kick": 3.0, "hats": 5.0}
    return write_demo_session(folder, "pop", seconds=4.0, seed=7, sample_rate=22050, offsets_db=offsets)


@pytest.fixture(scope="session")
def audio_nn_session(tmp_path_factory) -> tuple[Path, set[str]]:
    """32 stems named "Audio 01" ... "Audio 32" (four pop demos' stems, shuffled): no name says what anything is.
    Returns the folder and the names of its four basses."""
    import random
    import shutil

    from anchormix.tools.demo import write_demo_session

    root = tmp_path_factory.mktemp("audio-nn")
    demos = [write_demo_session(root / f"demo{seed}", "pop", seconds=4.0, seed=seed, sample_rate=22050) for seed in range(4)]
    stems = [demo / f"{name}.wav" for demo in demos for name in ("bass", "kick", "snare", "hats", "keys", "pad", "lead",
                                                                "vocals")]
    random.Random(0).shuffle(stems)
    folder = root / "tracks"
    folder.mkdir()
    for number, stem in enumerate(stems, start=1):
        shutil.copy(stem, folder / f"Audio {number:02d}.wav")
    return folder, {f"Audio {k:02d}" for k, stem in enumerate(stems, start=1) if stem.stem == "bass"}
