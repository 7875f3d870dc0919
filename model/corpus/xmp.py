"""Tracker modules (.mod .xm .s3m .it) rendered with libxmp, one stem per instrument (ctypes over Debian's libxmp4).

A module's composer set every instrument's level and heard exactly these
samples: rendered one instrument at a time (the sample data of every other
instrument zeroed), the stems sum back to the full render. Each render
reloads the module from its bytes, seeds libc's ``rand`` (some IT files
randomise volume and pan), sets amplification 0 (the most headroom, so the
full mix does not clip where the stems do not), and plays the song once
through, without its loop. libxmp 4.5 mixes to 16-bit; renders come back as
int16 ``(2, samples)``.

Instruments that share a sample cannot be told apart by zeroing samples: they
render as one stem, named after all of them (``group`` in :class:`ModuleStem`).
"""

from __future__ import annotations

import ctypes
import ctypes.util
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

import numpy as np

__all__ = ["XMP_HELP", "ModuleInfo", "ModuleStem", "module_info", "render_module", "libxmp_available"]

XMP_HELP = "install it with: apt-get install libxmp4 (Debian)"
_NAME_SIZE, _MAX_KEYS, _MAX_ENV_POINTS, _MAX_CHANNELS, _MAX_MOD_LENGTH = 64, 121, 32, 64, 256
_PLAYER_AMP = 0
_MAX_SECONDS = 30 * 60  # a song that has not ended by then is looping without telling us
_SEED = 1  # libc rand seed before every render: IT random volume/pan variation, the same every time


class _Envelope(ctypes.Structure):
    _fields_ = [("flg", ctypes.c_int), ("npt", ctypes.c_int), ("scl", ctypes.c_int), ("sus", ctypes.c_int),
                ("sue", ctypes.c_int), ("lps", ctypes.c_int), ("lpe", ctypes.c_int),
                ("data", ctypes.c_short * (_MAX_ENV_POINTS * 2))]


class _SubInstrument(ctypes.Structure):
    _fields_ = [(name, ctypes.c_int) for name in ("vol", "gvl", "pan", "xpo", "fin", "vwf", "vde", "vra", "vsw",
                                                  "rvv", "sid", "nna", "dct", "dca", "ifc", "ifr")]


class _KeyMap(ctypes.Structure):
    _fields_ = [("ins", ctypes.c_ubyte), ("xpo", ctypes.c_byte)]


class _Instrument(ctypes.Structure):
    _fields_ = [("name", ctypes.c_char * 32), ("vol", ctypes.c_int), ("nsm", ctypes.c_int), ("rls", ctypes.c_int),
                ("aei", _Envelope), ("pei", _Envelope), ("fei", _Envelope), ("map", _KeyMap * _MAX_KEYS),
                ("sub", ctypes.POINTER(_SubInstrument)), ("extra", ctypes.c_void_p)]


class _Sample(ctypes.Structure):
    _fields_ = [("name", ctypes.c_char * 32), ("len", ctypes.c_int), ("lps", ctypes.c_int), ("lpe", ctypes.c_int),
                ("flg", ctypes.c_int), ("data", ctypes.c_void_p)]


class _Channel(ctypes.Structure):
    _fields_ = [("pan", ctypes.c_int), ("vol", ctypes.c_int), ("flg", ctypes.c_int)]


class _Module(ctypes.Structure):
    _fields_ = [("name", ctypes.c_char * _NAME_SIZE), ("type", ctypes.c_char * _NAME_SIZE)] + [
        (name, ctypes.c_int) for name in ("pat", "trk", "chn", "ins", "smp", "spd", "bpm", "len", "rst", "gvl")] + [
        ("xxp", ctypes.c_void_p), ("xxt", ctypes.c_void_p), ("xxi", ctypes.POINTER(_Instrument)),
        ("xxs", ctypes.POINTER(_Sample)), ("xxc", _Channel * _MAX_CHANNELS), ("xxo", ctypes.c_ubyte * _MAX_MOD_LENGTH)]


class _ModuleInfo(ctypes.Structure):
    _fields_ = [("md5", ctypes.c_ubyte * 16), ("vol_base", ctypes.c_int), ("mod", ctypes.POINTER(_Module)),
                ("comment", ctypes.c_char_p), ("num_sequences", ctypes.c_int), ("seq_data", ctypes.c_void_p)]


class _Event(ctypes.Structure):
    _fields_ = [(name, ctypes.c_ubyte) for name in ("note", "ins", "vol", "fxt", "fxp", "f2t", "f2p", "_flag")]


class _ChannelInfo(ctypes.Structure):
    _fields_ = [("period", ctypes.c_uint), ("position", ctypes.c_uint), ("pitchbend", ctypes.c_short)] + [
        (name, ctypes.c_ubyte) for name in ("note", "instrument", "sample", "volume", "pan", "reserved")] + [
        ("event", _Event)]


class _FrameInfo(ctypes.Structure):
    _fields_ = [(name, ctypes.c_int) for name in ("pos", "pattern", "row", "num_rows", "frame", "speed", "bpm",
                                                  "time", "total_time", "frame_time")] + [
        ("buffer", ctypes.c_void_p)] + [(name, ctypes.c_int) for name in (
            "buffer_size", "total_size", "volume", "loop_count", "virt_channels", "virt_used", "sequence")] + [
        ("channel_info", _ChannelInfo * _MAX_CHANNELS)]


@lru_cache(maxsize=1)
def _lib() -> ctypes.CDLL | None:
    path = ctypes.util.find_library("xmp") or "libxmp.so.4"
    try:
        lib = ctypes.CDLL(path)
    except OSError:
        return None
    lib.xmp_create_context.restype = ctypes.c_void_p
    lib.xmp_free_context.argtypes = [ctypes.c_void_p]
    lib.xmp_load_module_from_memory.argtypes = [ctypes.c_void_p, ctypes.c_void_p, ctypes.c_long]
    lib.xmp_get_module_info.argtypes = [ctypes.c_void_p, ctypes.POINTER(_ModuleInfo)]
    lib.xmp_start_player.argtypes = [ctypes.c_void_p, ctypes.c_int, ctypes.c_int]
    lib.xmp_set_player.argtypes = [ctypes.c_void_p, ctypes.c_int, ctypes.c_int]
    lib.xmp_play_frame.argtypes = [ctypes.c_void_p]
    lib.xmp_get_frame_info.argtypes = [ctypes.c_void_p, ctypes.POINTER(_FrameInfo)]
    lib.xmp_end_player.argtypes = [ctypes.c_void_p]
    lib.xmp_release_module.argtypes = [ctypes.c_void_p]
    return lib


def libxmp_available() -> bool:
    return _lib() is not None


def _text(raw: bytes) -> str:
    return raw.split(b"\0", 1)[0].decode("latin-1").strip()


@dataclass(frozen=True)
class ModuleStem:
    """One stem: the instruments it renders (several only when they share samples) and their samples."""

    name: str  # the instrument's name, or "instrument N" when it has none
    group: tuple[int, ...]  # 0-based instrument indices
    samples: frozenset[int]  # 0-based sample indices
    sample_names: tuple[str, ...]


@dataclass(frozen=True)
class ModuleInfo:
    title: str
    format: str
    channels: int
    stems: tuple[ModuleStem, ...]
    comment: str


class _Loaded:
    """A module loaded into a fresh libxmp context (``with`` releases it)."""

    def __init__(self, data: bytes, where: Path) -> None:
        lib = _lib()
        if lib is None:
            raise ValueError(f"{where}: libxmp is not installed; {XMP_HELP}")
        self.lib, self.ctx = lib, lib.xmp_create_context()
        self._buffer = ctypes.create_string_buffer(data, len(data))
        code = lib.xmp_load_module_from_memory(self.ctx, self._buffer, len(data))
        if code != 0:
            lib.xmp_free_context(self.ctx)
            raise ValueError(f"{where}: libxmp cannot load it (error {-code}: not a module it knows, or damaged)")
        info = _ModuleInfo()
        lib.xmp_get_module_info(self.ctx, ctypes.byref(info))
        self.info, self.mod = info, info.mod.contents

    def __enter__(self) -> "_Loaded":
        return self

    def __exit__(self, *_) -> None:
        self.lib.xmp_release_module(self.ctx)
        self.lib.xmp_free_context(self.ctx)


def _instrument_samples(mod: _Module) -> list[set[int]]:
    """The samples each instrument plays (sample indices that exist and hold data)."""
    used = []
    for i in range(mod.ins):
        instrument = mod.xxi[i]
        sids = {instrument.sub[j].sid for j in range(instrument.nsm)} if instrument.sub else set()
        used.append({s for s in sids if 0 <= s < mod.smp and mod.xxs[s].len > 0 and mod.xxs[s].data})
    return used


def _stems(mod: _Module) -> list[ModuleStem]:
    """Instruments with samples, grouped where they share one (union-find over shared samples)."""
    used = _instrument_samples(mod)
    groups: list[tuple[list[int], set[int]]] = []
    for i, samples in enumerate(used):
        if not samples:
            continue
        touching = [g for g in groups if g[1] & samples]
        merged = ([i], set(samples))
        for g in touching:
            groups.remove(g)
            merged = (sorted(merged[0] + g[0]), merged[1] | g[1])
        groups.append(merged)
    stems = []
    for members, samples in sorted(groups):
        names = [_text(mod.xxi[i].name) or f"instrument {i + 1}" for i in members]
        stems.append(ModuleStem(" + ".join(names), tuple(members), frozenset(samples),
                                tuple(_text(mod.xxs[s].name) for s in sorted(samples))))
    return stems


def module_info(data: bytes, where: Path) -> ModuleInfo:
    """Title, format, channel count, the stems an instrument-by-instrument render will give, and the comment."""
    with _Loaded(data, where) as loaded:
        mod = loaded.mod
        comment = loaded.info.comment.decode("latin-1", "replace") if loaded.info.comment else ""
        return ModuleInfo(_text(mod.name), _text(mod.type), mod.chn, tuple(_stems(mod)), comment)


def _silence(sample: _Sample) -> None:
    """Zero a sample's data and the guard frames libxmp keeps around it for interpolation: 4 bytes before, 4 frames
    after, and a bidirectional loop's unrolled copy (libxmp's load_sample allocates exactly these)."""
    width = 2 if sample.flg & 1 else 1  # XMP_SAMPLE_16BIT
    unrolled = 0
    if sample.flg & 4 and sample.flg & 2:  # XMP_SAMPLE_LOOP_BIDIR on a looped sample
        unrolled = max(0, (sample.lpe - sample.lps) - (sample.len - sample.lpe))
    ctypes.memset(sample.data - 4, 0, 4 + (sample.len + 4 + unrolled) * width)


def render_module(data: bytes, where: Path, keep: frozenset[int] | None = None,
                  sample_rate: int = 44100) -> np.ndarray:
    """The whole song once through, as libxmp mixes it: int16 ``(2, samples)`` (divide by 32768 for float); with
    ``keep``, every sample not in it is silenced. (int16 keeps a long song's 40 stems in memory at a quarter of
    float64's size.)"""
    libc = ctypes.CDLL(ctypes.util.find_library("c"))
    with _Loaded(data, where) as loaded:
        lib, ctx, mod = loaded.lib, loaded.ctx, loaded.mod
        if keep is not None:
            for s in range(mod.smp):
                if s not in keep and mod.xxs[s].data and mod.xxs[s].len > 0 and not mod.xxs[s].flg & 0x8000:
                    _silence(mod.xxs[s])  # (a synth patch, 0x8000, holds parameters, not audio: left alone)
        libc.srand(_SEED)
        if lib.xmp_start_player(ctx, sample_rate, 0) != 0:
            raise ValueError(f"{where}: libxmp cannot play it at {sample_rate} Hz")
        lib.xmp_set_player(ctx, _PLAYER_AMP, 0)
        frame, chunks, total = _FrameInfo(), [], 0
        while lib.xmp_play_frame(ctx) == 0:
            lib.xmp_get_frame_info(ctx, ctypes.byref(frame))
            if frame.loop_count > 0:  # the song came back to its start: once through is the song
                break
            chunks.append(ctypes.string_at(frame.buffer, frame.buffer_size))
            total += frame.buffer_size
            if total > _MAX_SECONDS * sample_rate * 4:
                raise ValueError(f"{where}: still playing after {_MAX_SECONDS // 60} minutes; not rendered")
        lib.xmp_end_player(ctx)
    return np.frombuffer(b"".join(chunks), dtype="<i2").reshape(-1, 2).T.copy()  # interleaved stereo -> (2, N)
