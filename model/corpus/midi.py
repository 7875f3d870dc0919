"""Split a General MIDI arrangement into per-instrument stems and render each with FluidSynth.

An arranger's channel volumes, expression and velocities *are* a mix: rendered
one instrument at a time through the same soundfont, reverb and chorus off,
the stems sum to the full render (the null test) and sit at the arranger's
balance. Stems are keyed by channel and program; the GM drum channel (10) is
split into kit pieces by note number, so quiet pieces (a shaker, a crash) stay
separate from the kick and snare, as they arrive in a real session.
"""

from __future__ import annotations

import shutil
import subprocess
import tempfile
from dataclasses import dataclass
from pathlib import Path

import mido
import numpy as np

from anchormix.tools.audio import read_audio

__all__ = ["StemSpec", "read_events", "split_stems", "write_stem_midi", "render_midi", "find_soundfont",
           "program_role", "FLUIDSYNTH_HELP"]

DRUM_CHANNEL = 9  # GM channel 10, 0-based
# GM percussion key map (note numbers) -> kit piece and its role.
_KIT = {
    "kick": ({35, 36}, "kick"),
    "snare": ({37, 38, 39, 40}, "snare"),
    "hats": ({42, 44, 46}, "hats"),
    "toms": ({41, 43, 45, 47, 48, 50}, "drums"),
    "cymbals": ({49, 51, 52, 53, 55, 57, 59}, "hats"),
}
# GM program families (0-based programs, 8 per family) -> (stem name, role).
_FAMILIES = [
    ("piano", "keys"), ("chromatic", "keys"), ("organ", "keys"), ("guitar", "guitar"),
    ("bass", "bass"), ("strings", "strings"), ("ensemble", "strings"), ("brass", "brass"),
    ("reed", "brass"), ("pipe", "lead"), ("synth_lead", "lead"), ("synth_pad", "pad"),
    ("synth_fx", "fx"), ("ethnic", "other"), ("percussive", "drums"), ("sound_fx", "fx"),
]
FLUIDSYNTH_HELP = "install it with: apt-get install fluidsynth fluid-soundfont-gm (Debian)"


def program_role(program: int) -> tuple[str, str]:
    """(family name, role) of a GM program; choir and voice programs are vocals."""
    if program in (52, 53, 54):  # Choir Aahs, Voice Oohs, Synth Voice
        return "voice", "vocals"
    if program == 55:  # Orchestra Hit
        return "orchestra_hit", "fx"
    return _FAMILIES[program // 8]


@dataclass
class StemSpec:
    """One stem of a split arrangement: which notes of which channel, and what they are."""

    name: str
    role: str
    channel: int
    program: int | None  # None on the drum channel
    notes: frozenset[int] | None  # drum notes for a kit piece; None = every note
    onsets_s: list[float]  # note-on times, seconds


# Flattened arrangement: (time in seconds, channel message, program of its channel at that time).
Events = list[tuple[float, mido.Message, int]]
_TICKS_PER_S = 960  # fixed tempo (120 bpm, 480 ticks/beat) for the files we write
_DRUM_NOTES_KNOWN = frozenset().union(*(notes for notes, _ in _KIT.values()))


def read_events(path: str | Path) -> Events:
    """Every channel message of ``path`` with its time in seconds (the tempo map applied)."""
    path = Path(path)
    try:
        midi = mido.MidiFile(str(path), clip=True)
        now, program, events = 0.0, {}, []
        sounding: dict[tuple[int, int], int] = {}  # (channel, note) -> program at its note-on
        for msg in midi:  # merged tracks, delta times in seconds
            now += msg.time
            if msg.is_meta or msg.type == "sysex":
                continue
            if msg.type == "program_change":
                program[msg.channel] = msg.program
            current = program.get(getattr(msg, "channel", 0), 0)
            if msg.type == "note_on" and msg.velocity > 0:
                sounding[(msg.channel, msg.note)] = current
            elif msg.type in ("note_on", "note_off"):
                # A note ends on the stem it started on, even if the program changed meanwhile.
                current = sounding.pop((msg.channel, msg.note), current)
            events.append((now, msg, current))
    except Exception as err:  # mido raises many types (KeySignatureError, EOFError, ...) for bad files
        raise ValueError(f"{path}: cannot read as MIDI ({err})") from None
    return events


def _drum_piece(note: int) -> str:
    return next((k for k, (notes, _) in _KIT.items() if note in notes), "percussion")


def split_stems(events: Events) -> list[StemSpec]:
    """Stems of an arrangement: each (channel, program) pair, and each drum-kit piece."""
    onsets: dict[tuple[int, int | None, str], list[float]] = {}
    for t, msg, program in events:
        if msg.type == "note_on" and msg.velocity > 0:
            key = (msg.channel, None, _drum_piece(msg.note)) if msg.channel == DRUM_CHANNEL else (msg.channel, program, "")
            onsets.setdefault(key, []).append(t)
    stems = []
    for (channel, program, piece), times in sorted(onsets.items(), key=lambda kv: (kv[0][0], kv[0][1] or 0, kv[0][2])):
        if channel == DRUM_CHANNEL:
            notes = _KIT[piece][0] if piece in _KIT else frozenset(range(128)) - _DRUM_NOTES_KNOWN
            role = _KIT[piece][1] if piece in _KIT else "drums"
            stems.append(StemSpec(piece, role, channel, None, frozenset(notes), times))
        else:
            family, role = program_role(program)
            stems.append(StemSpec(f"{family}_ch{channel + 1}_p{program}", role, channel, program, None, times))
    return stems


def _keeps(stem: StemSpec | None, msg: mido.Message, program: int) -> bool:
    if stem is None or msg.type not in ("note_on", "note_off"):
        return True  # the full mix; and controllers, program and pitch bend always stay
    if msg.channel != stem.channel:
        return False
    return msg.note in stem.notes if stem.notes is not None else program == stem.program


def write_stem_midi(events: Events, stem: StemSpec | None, path: Path, end_s: float) -> None:
    """A type-0 file at a fixed tempo with every controller event but only ``stem``'s notes, up to ``end_s``."""
    track, last_tick = mido.MidiTrack(), 0
    for t, msg, program in events:
        if t > end_s:
            break
        if _keeps(stem, msg, program):
            tick = int(round(t * _TICKS_PER_S))
            track.append(msg.copy(time=tick - last_tick))
            last_tick = tick
    for channel in range(16):  # release everything at the cut: sustain pedal up, then all sound off
        for control in (64, 120, 123):  # (a held note with no release would render forever)
            track.append(mido.Message("control_change", channel=channel, control=control, value=0, time=0))
    out = mido.MidiFile(type=0, ticks_per_beat=480)
    out.tracks.append(track)
    out.save(str(path))


def find_soundfont(explicit: str | Path | None = None) -> Path:
    """The soundfont to render with: ``explicit``, else Debian's FluidR3_GM."""
    candidates = [Path(explicit)] if explicit else [
        Path("/usr/share/sounds/sf2/FluidR3_GM.sf2"), Path("/usr/share/sounds/sf2/default-GM.sf2")]
    for candidate in candidates:
        if candidate.is_file():
            return candidate
    where = candidates[0] if explicit else "/usr/share/sounds/sf2/FluidR3_GM.sf2"
    raise ValueError(f"{where}: soundfont not found; {FLUIDSYNTH_HELP}")


def _fluidsynth(soundfont: Path, midi_path: Path, wav_path: Path, sample_rate: int) -> None:
    exe = shutil.which("fluidsynth")
    if exe is None:
        raise ValueError(f"fluidsynth: program not found; {FLUIDSYNTH_HELP}")
    # -R 0 -C 0: reverb and chorus off, so stems sum to the full render. -g: one fixed gain.
    cmd = [exe, "-ni", "-q", "-R", "0", "-C", "0", "-g", "0.4", "-r", str(sample_rate), "-O", "float", "-T", "wav",
           "-F", str(wav_path), str(soundfont), str(midi_path)]
    run = subprocess.run(cmd, capture_output=True, text=True, timeout=600)
    if run.returncode != 0 or not wav_path.exists():
        raise ValueError(f"{midi_path}: fluidsynth failed ({run.stderr.strip()[:200]})")


def render_midi(events: Events, stems: list[StemSpec], soundfont: Path, sample_rate: int, end_s: float,
                source: Path) -> tuple[dict[str, np.ndarray], np.ndarray]:
    """Render every stem and the full arrangement up to ``end_s`` (+1.5 s of release): float32 (2, N) arrays."""
    with tempfile.TemporaryDirectory(prefix="anchormix-midi-") as tmp:
        tmp = Path(tmp)
        rendered = {}
        for name, stem in [(s.name, s) for s in stems] + [("__full__", None)]:
            mid, wav = tmp / f"{name}.mid", tmp / f"{name}.wav"
            write_stem_midi(events, stem, mid, end_s)
            _fluidsynth(soundfont, mid, wav, sample_rate)
            rendered[name], _ = read_audio(wav)
    length = int((end_s + 1.5) * sample_rate)
    rendered = {n: np.pad(a, ((0, 0), (0, max(0, length - a.shape[1]))))[:, :length] for n, a in rendered.items()}
    full = rendered.pop("__full__")
    if not rendered:
        raise ValueError(f"{source}: no notes to render")
    return rendered, full
