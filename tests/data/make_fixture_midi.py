"""Writes tests/data/fixture.mid: 12 s of a tiny arrangement exercising the MIDI splitter.

- ch1 piano (program 0) chords; ch2 fingered bass (33) on the roots;
- ch3 strings (48) that switch to trumpet (56) halfway, with a note held across the switch;
- ch10 drums: kick, snare, closed hats, a crash and a shaker.

Run: python tests/data/make_fixture_midi.py
"""

from pathlib import Path

import mido

TICKS = 480  # per beat; 120 bpm -> a beat is 0.5 s


def main() -> None:
    events = []  # (tick, message)

    def note(tick, channel, pitch, beats, velocity=90):
        events.append((tick, mido.Message("note_on", channel=channel, note=pitch, velocity=velocity)))
        events.append((tick + int(beats * TICKS), mido.Message("note_off", channel=channel, note=pitch)))

    events += [(0, mido.Message("program_change", channel=0, program=0)),
               (0, mido.Message("program_change", channel=1, program=33)),
               (0, mido.Message("program_change", channel=2, program=48)),
               (0, mido.Message("control_change", channel=1, control=7, value=110)),
               (0, mido.Message("control_change", channel=2, control=7, value=70))]
    chords = [(60, 64, 67), (57, 60, 64), (53, 57, 60), (55, 59, 62)]
    for bar in range(6):
        root = chords[bar % 4]
        start = bar * 4 * TICKS
        for beat in range(4):
            for pitch in root:
                note(start + beat * TICKS, 0, pitch, 0.9, 70)
            note(start + beat * TICKS, 1, root[0] - 24, 0.9, 100)
            note(start + beat * TICKS, 9, 36 if beat % 2 == 0 else 38, 0.5, 110)
            note(start + beat * TICKS, 9, 42, 0.25, 60)
            note(start + beat * TICKS + TICKS // 2, 9, 42, 0.25, 50)
            note(start + beat * TICKS + TICKS // 4, 9, 70, 0.1, 40)  # maracas: "percussion"
        note(start, 9, 49, 1.0, 80)
        note(start, 2, root[2] + 12, 3.5, 80)
    # Halfway, ch3 becomes a trumpet while a string note is still sounding.
    note(11 * TICKS, 2, 74, 3.0, 80)
    events.append((12 * TICKS, mido.Message("program_change", channel=2, program=56)))
    events.sort(key=lambda e: e[0])
    track, last = mido.MidiTrack(), 0
    track.append(mido.MetaMessage("set_tempo", tempo=500000, time=0))
    for tick, msg in events:
        track.append(msg.copy(time=tick - last))
        last = tick
    midi = mido.MidiFile(type=0, ticks_per_beat=TICKS)
    midi.tracks.append(track)
    midi.save(str(Path(__file__).with_name("fixture.mid")))


if __name__ == "__main__":
    main()
