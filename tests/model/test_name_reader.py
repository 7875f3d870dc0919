"""The name reader: generated names, real held-out names, one real training step, the shipped model's readings,
and how a name and an ear are combined."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from anchormix.cli import main
from anchormix.model.names.held_out import ENGINEERS, NamedStem, generic, midi_named_stems, midi_track_names
from anchormix.model.names.name_reader import (DEFAULT_NAMES_CHECKPOINT, NameConfig, NameReader, readings,
                                               role_targets, spelled_out, train_name_reader, training_names,
                                               with_position_parted, without_gear, without_numbers)
from anchormix.model.text_classifier import TextClassifier, label_loss
from anchormix.model.names.role_reader import NAME_SURE, combine
from anchormix.model.names.vocabulary import generate_names
from anchormix.tools.conventions import ROLES

ROOT = Path(__file__).resolve().parents[2]


def test_generated_names_cover_every_role_are_distinct_and_reproducible():
    names = generate_names(30, seed=0)
    assert names == generate_names(30, seed=0) and names != generate_names(30, seed=1)
    assert {r for _, r in names} == set(ROLES) and all(sum(r == role for _, r in names) == 30 for role in ROLES)
    assert len({(n, r) for n, r in names}) == len(names)


def test_a_share_of_kick_and_snare_names_can_have_a_glued_position_and_none_by_default():
    glued = generate_names(60, seed=0, glued=0.5)
    short = re.compile(r"(?:\d+[ _.-]+)?(k|kk|kik|kck|bd|s|sn|snr|sd)(in|out|top|bot|btm)\b", re.IGNORECASE)
    found = {r: sum(bool(short.match(n)) for n, role in glued if role == r) for r in ("kick", "snare", "bass")}
    assert found["kick"] >= 15 and found["snare"] >= 15 and found["bass"] == 0
    assert all(not short.match(n) or short.match(n).group(2).lower() in ("in", "out")
               for n, role in glued if role == "kick")
    assert generate_names(60, seed=0) == generate_names(60, seed=0, glued=0.0)
    config = NameConfig(per_role=60, glued=0.5)
    assert training_names(config, {}) == glued


def test_no_held_out_name_is_trained_on():
    config = NameConfig.from_yaml()
    generated = generate_names(config.per_role, config.seed, config.glued)
    held_out = {"engineers": ENGINEERS, "midi": [(generated[0][0].upper(), "drums"), (generated[-1][0], "other")]}
    kept_out = {n.lower() for examples in held_out.values() for n, _ in examples}
    trained = training_names(config, held_out)
    assert trained == [(n, r) for n, r in generated if n.strip().lower() not in kept_out]  # only those left out
    assert len(generated) - len(trained) >= 2 and not {n.lower() for n, _ in trained} & kept_out
    real = [("Zither Room", "strings"), ("Synth Stack", "keys|pad|lead"), (ENGINEERS[0][0], ENGINEERS[0][1])]
    with_real = training_names(config, held_out, real)
    assert with_real[-2:] == [("Zither Room", "strings"), ("Synth Stack", "keys|pad|lead")]  # every role (shipped)
    first = training_names(NameConfig(per_role=3), held_out, real)
    assert first[-2:] == [("Zither Room", "strings"), ("Synth Stack", "keys")]  # else a class's first role
    assert ENGINEERS[0][0] not in {n for n, _ in with_real}


def test_generated_names_can_weigh_more_and_a_real_name_keep_every_role_of_its_class():
    config = NameConfig(per_role=3, every_role=True, generated_repeats=2)
    names = training_names(config, {}, [("Synth Stack", "keys|pad|lead"), ("Zither Room", "strings")])
    assert names[: 3 * len(ROLES)] == names[3 * len(ROLES) : 6 * len(ROLES)] == generate_names(3, config.seed)
    assert names[-2:] == [("Synth Stack", "keys|pad|lead"), ("Zither Room", "strings")]
    y = role_targets([r for _, r in names])
    assert y.shape == (len(names), len(ROLES)) and int(y[-2].sum()) == 3 and int(y[-1].sum()) == 1
    assert role_targets(["kick", "bass"]).tolist() == [ROLES.index("kick"), ROLES.index("bass")]
    with pytest.raises(ValueError, match="kazoo"):
        role_targets(["keys|kazoo"])


def test_the_loss_of_a_name_with_several_roles_counts_any_of_them_right():
    import torch

    logits = torch.tensor([[4.0, 0.0, -2.0], [0.0, 3.0, 3.0]])
    one = torch.tensor([0, 1])
    assert torch.isclose(label_loss(logits, one), torch.nn.functional.cross_entropy(logits, one))
    assert torch.isclose(label_loss(logits, torch.tensor([[1, 0, 0], [0, 1, 0]])), label_loss(logits, one))
    either = label_loss(logits, torch.tensor([[1, 0, 0], [0, 1, 1]]))  # the second row's two best are both right
    expected = -(torch.log_softmax(logits[0], 0)[0] + torch.logsumexp(torch.log_softmax(logits[1], 0)[1:], 0)) / 2
    assert torch.isclose(either, expected) and either < label_loss(logits, one)


@pytest.mark.parametrize("name, parts", [("BkV3", "bk v 3"), ("LDVoc147", "ld voc 147"), ("OHR_07", "ohr 07"),
                                         ("Keyz.09.L", "keyz 09 l"), ("01_KickIn", "01 kick in")])
def test_a_name_is_spelled_out_into_its_parts(name, parts):
    assert spelled_out(name) == parts


@pytest.mark.parametrize("name, bare", [("OHR_07", "OHR"), ("Keyz.09.L", "Keyz.L"), ("01_Kin", "Kin"), ("BkV3", "BkV"),
                                        ("  Sn 2 ", "Sn"), ("Kick", None), ("808", None), ("12-3", None)])
def test_a_name_without_its_numbers(name, bare):
    assert without_numbers(name) == bare


@pytest.mark.parametrize("name, parted", [("Kin", "K in"), ("Kout", "K out"), ("01_Sntop", "01_Sn top"),
                                          ("kbtm_2", "k btm_2"), ("Violin", None), ("Kick In", None), ("SnTop", None),
                                          ("Kinder", None), ("Out", None), ("Tomin", "Tom in"),
                                          ("KIN", "K IN"), ("SNBOT_3", "SN BOT_3"), ("KIn", None), ("VIOLIN", None)])
def test_a_mic_position_glued_onto_a_short_abbreviation_is_parted(name, parted):
    assert with_position_parted(name) == parted


@pytest.mark.parametrize("name, bare", [("Drums-Kick In-M82", "Drums-Kick In"), ("LD VOX ALTO A-U47-SSL6000E", "LD VOX ALTO A"),
                                        ("Drums-Hat-ELA M 260", "Drums-Hat"), ("HARM VOX 5 - C12 - API 1608", "HARM VOX 5"),
                                        ("Kick", None), ("Grace", None), ("U47", None), ("Neveland", None),
                                        ("MIDI Ch. 1", None)])
def test_a_name_without_its_recording_gear(name, bare):
    assert without_gear(name) == bare


@pytest.mark.parametrize("name, ways", [("Kick", ["Kick"]), ("OHR_07", ["OHR_07", "OHR"]), ("Kin", ["Kin", "K in"]),
                                        ("01_Kin", ["01_Kin", "Kin", "01_K in", "K in"]),
                                        ("Kin-U47", ["Kin-U47", "Kin", "Kin-U", "K in-U47", "K in", "K in-U"])])
def test_the_readings_of_a_name_are_distinct_and_start_as_typed(name, ways):
    assert readings(name) == ways


def test_placeholders_are_told_from_names(tmp_path):
    assert all(generic(n) for n in ("Track 7", "Staff-1", "MIDI 10", "Spår 2", "untitled", "4"))
    assert not any(generic(n) for n in ("Bass", "Voice 1 (Melody)", "Acc-2"))


def test_midi_track_names_are_labelled_by_what_the_track_plays(tmp_path):
    import mido

    song = mido.MidiFile()
    for name, channel, program in [("Fretless", 1, 35), ("Groove", 9, None), ("Two roles", 2, 0)]:
        track = mido.MidiTrack([mido.MetaMessage("track_name", name=name)])
        if program is not None:
            track.append(mido.Message("program_change", channel=channel, program=program))
        track += [mido.Message("note_on", channel=channel, note=40, velocity=90, time=10),
                  mido.Message("note_off", channel=channel, note=40, time=100)]
        song.tracks.append(track)
    again = mido.MidiFile()
    again.tracks.append(mido.MidiTrack([mido.MetaMessage("track_name", name="Two roles"),
                                        mido.Message("program_change", channel=3, program=40),
                                        mido.Message("note_on", channel=3, note=60, velocity=90, time=10)]))
    song.save(tmp_path / "a.mid")
    again.save(tmp_path / "b.mid")
    assert midi_track_names([tmp_path]) == [("Fretless", "bass"), ("Groove", "drums")]  # a name in two roles: out


def test_a_corpus_stem_gets_the_track_name_its_composer_typed_for_its_channel(tmp_path):
    import mido

    song = mido.MidiFile()
    for name, channel, program in [("Baixo", 0, 33), ("Bateria", 9, None), ("Gtr", 1, 25), ("Other gtr", 1, 27)]:
        track = mido.MidiTrack([mido.MetaMessage("track_name", name=name)])
        if program is not None:
            track.append(mido.Message("program_change", channel=channel, program=program))
        track.append(mido.Message("note_on", channel=channel, note=40, velocity=90, time=10))
        song.tracks.append(track)
    song.save(tmp_path / "song.mid")
    folder = tmp_path / "corpus" / "song"
    folder.mkdir(parents=True)
    roles = {"bass_ch1_p33": "bass", "kick": "kick", "snare": "snare", "guitar_ch2_p25": "guitar", "pad_ch3_p88": "pad"}
    (folder / "session.json").write_text(json.dumps({"source": f"{tmp_path / 'song.mid'} (rendered per instrument)",
                                                     "roles": roles}))
    (tmp_path / "corpus" / "procedural").mkdir()  # no MIDI file: no names
    (tmp_path / "corpus" / "procedural" / "session.json").write_text(json.dumps({"source": "generated", "roles": {}}))
    found = midi_named_stems(tmp_path / "corpus")  # no manifest: every session; channel 2 has two names: none
    assert [(s.session, s.stem, s.name, s.role) for s in found] == [(folder, "bass_ch1_p33", "Baixo", "bass"),
                                                                  (folder, "kick", "Bateria", "drums"),
                                                                  (folder, "snare", "Bateria", "drums")]


def test_the_ears_column_counts_each_stem_by_its_composers_name_and_its_sound(tmp_path, monkeypatch):
    from anchormix.model.names import role_reader

    stems = [NamedStem(tmp_path, "bass_ch1_p33", "Bass", "bass"), NamedStem(tmp_path, "kick", "Groove", "drums"),
             NamedStem(tmp_path, "pad_ch3_p88", "Part-03", "pad")]
    asked = []

    class Names:
        def read(self, names):
            return [{"Bass": ("bass", 0.9), "Groove": ("other", 0.4), "Part-03": ("keys", 0.3)}[n] for n in names]

    class Reader:
        names = Names()

        def read_session(self, session, stems, called):
            asked.append((session, stems, called))
            return [role_reader.RoleReading(s, role, 0.9, "ear") for s, role in zip(stems, ["bass", "kick", "keys"])]

    monkeypatch.setattr(role_reader, "load_session", lambda folder: ("session", folder))
    scores = role_reader.scored_with_ear(Reader(), stems)
    assert asked == [(("session", tmp_path), [s.stem for s in stems], ["Bass", "Groove", "Part-03"])]  # one load
    assert {who: (s["n"], s["accuracy"]) for who, s in scores.items()} == {
        "patterns": (3, 0.333), "name reader": (3, 0.333), "patterns, then name reader": (3, 0.333),
        "name reader + ear": (3, 0.667)}  # a kick: a drum role


@pytest.mark.parametrize("by_name, by_ear, expected", [
    (("kick", 0.9), ("kick", 0.7), ("kick", 0.9, "both")),
    (("vocals", 0.8), ("keys", 0.95), ("vocals", 0.8, "name")),  # a name that says something wins
    (("other", 0.9), ("bass", 0.8), ("bass", 0.8, "ear")),  # "Audio 07": the ear's to say
    (("keys", 0.3), ("pad", 0.8), ("pad", 0.8, "ear")),  # an unsure name gives way to a sure ear
    (("keys", 0.3), ("pad", 0.4), ("keys", 0.3, "name")),  # neither sure: the name's reading
    (("keys", 0.9), None, ("keys", 0.9, "name")),
])
def test_a_name_and_an_ear_are_combined_as_documented(by_name, by_ear, expected):
    reading = combine("x", by_name, by_ear, ear_threshold=0.6)
    assert (reading.role, reading.confidence, reading.source) == expected
    assert NAME_SURE == 0.5


def test_one_real_training_run_on_generated_names_saves_a_reader_that_loads(tmp_path):
    config = NameConfig(per_role=2, valid_per_role=1, head_epochs=5, lora_epochs=1, batch=8)
    out = tmp_path / "names.safetensors"
    meta = train_name_reader(config, {"midi": [("Fretless", "bass"), ("Groove", "drums")]}, out, log=lambda _: None)
    assert 0 < meta["train_names"] <= 2 * len(ROLES)
    assert set(meta["held_out"]) == {"name reader", "patterns", "patterns, then name reader"}
    assert meta["held_out"]["patterns"]["midi"]["n"] == 2 and meta["held_out"]["patterns"]["engineers"]["n"] == len(ENGINEERS)
    loaded = NameReader.load(out)
    readings = loaded.read(["Kick In", "Bass DI"])
    assert [r for r, _ in readings] and all(r in ROLES and 0 < p <= 1 for r, p in readings)


@pytest.fixture(scope="module")
def shipped():
    assert DEFAULT_NAMES_CHECKPOINT.exists() and DEFAULT_NAMES_CHECKPOINT.stat().st_size < 4 << 20
    return NameReader.load()


def test_the_shipped_reader_reads_names_as_the_readme_says(capsys):
    """README, "Track names read by the language model": the issue's four examples are read right, Kin (as typed and
    as "K in") and OHR_07 (as typed and as "OHR") by their readings averaged."""
    assert main(["roles", "--json", "Kin", "OHR_07", "BkV3", "wurlz hi", "Bgv 1", "SnT2"]) == 0
    found = json.loads(capsys.readouterr().out)
    assert [r["name"] for r in found] == ["Kin", "OHR_07", "BkV3", "wurlz hi", "Bgv 1", "SnT2"]
    assert [r["role"] for r in found] == ["kick", "drums", "vocals", "keys", "vocals", "snare"]
    assert all(r["source"] == "name" and 0 < r["confidence"] <= 1 for r in found)


def test_the_roles_table_says_what_a_session_takes_where_the_patterns_read_a_name(capsys):
    """`roles NAME` shows the language model's reading; a session asks the patterns first ("Git 2" is a guitar to
    them, brass to the reader), and the table says so."""
    assert main(["roles", "Git 2", "Kin"]) == 0
    rows = {line.split("│")[1].strip(): [c.strip() for c in line.split("│")[2:-1]]
            for line in capsys.readouterr().out.splitlines() if line.count("│") == 6}
    assert rows["Git 2"][0] == "brass" and rows["Git 2"][3] == "guitar"
    assert rows["Kin"][0] == rows["Kin"][3] == "kick"


def test_a_name_is_read_as_its_readings_averaged(shipped):
    names = ["OHR_07", "Hammond", "Keyz.09.L", "01_Kin"]
    each = shipped.probabilities(names)
    alone = TextClassifier.probabilities(shipped, ["OHR_07", "Hammond", "Keyz.09.L", "OHR", "Keyz.L",
                                                   "01_Kin", "Kin", "01_K in", "K in"])
    assert each.shape == (4, len(ROLES)) and abs(float(each.sum()) - 4) < 1e-5
    assert each[1].allclose(alone[1], atol=1e-6)  # no numbers, no glued position: one reading
    assert each[0].allclose((alone[0] + alone[3]) / 2, atol=1e-6)
    assert each[2].allclose((alone[2] + alone[4]) / 2, atol=1e-6)
    assert each[3].allclose(alone[5:9].mean(dim=0), atol=1e-6)
    assert not each[0].allclose(alone[0], atol=1e-3)


def test_each_distinct_name_is_read_once_and_each_row_is_its_own_forward(shipped):
    """A session's "Audio 09" ... all read "Audio" bare: each distinct text runs through the backbone once, batched in
    order of length, and every row is what that text alone gives, in the order asked."""
    texts = ["Audio 09", "Lead Vox Double Left (take 3)", "Audio 09", "K", "Audio 10", "K"]
    rows = []
    forward = shipped.llm.forward
    shipped.llm.forward = lambda **kw: rows.append(len(kw["input_ids"])) or forward(**kw)
    try:
        together = shipped.features(texts)
    finally:
        del shipped.llm.forward
    assert rows == [4]  # four distinct texts, one forward
    for row, text in zip(together, texts):
        assert row.allclose(shipped.features([text])[0], atol=1e-4), text


def test_a_sessions_stems_are_read_by_name_and_by_ear(audio_nn_session, capsys):
    folder, basses = audio_nn_session
    assert main(["roles", "--json", str(folder)]) == 0
    readings = {r["name"]: r for r in json.loads(capsys.readouterr().out)}
    assert len(readings) == 32 and all(r["source"] in ("name", "ear", "both") for r in readings.values())
    assert all(r["role"] in ROLES for r in readings.values())
    assert sum(readings[b]["role"] == "bass" for b in basses) >= 3  # "Audio NN" says nothing: the ear hears the basses


README_ROWS = {"engineers": "engineers (held out)", "engineers, MS21 held out": "engineers, MS21 (held out)",
               "engineers, MS21 dev (trained on)": "engineers, MS21 dev (trained on)", "midi": "midi (held out)",
               "issue's examples (seen)": "issue 25's examples (seen, not held out)",
               "midi test stems": "midi test stems (held out, with audio)"}


def test_the_held_out_table_is_the_readmes(capsys):
    """README, "Track names read by the language model": `anchormix roles --held-out` scores the shipped reader and
    the patterns on the held-out names (engineers'; MIDI track names where the Debian packages are installed; the MIDI
    test stems, with the ear, where the corpus is built) and the issue's examples (seen), as the table there says."""
    corpus = ROOT / "corpus"
    assert main(["roles", "--held-out", "--json", *(["--corpus", str(corpus)] if corpus.is_dir() else [])]) == 0
    scores = json.loads(capsys.readouterr().out)
    stems = scores.pop("midi test stems", None)
    text = ROOT.joinpath("README.md").read_text(encoding="utf-8")
    assert {"engineers", "engineers, MS21 held out", "engineers, MS21 dev (trained on)", "issue's examples (seen)"} <= \
        set(scores["patterns"]) <= set(README_ROWS)
    for label, shown in README_ROWS.items():
        row = re.search(rf"^\| {re.escape(shown)} \| ([\d,]+) \| ([\d.]+ %) \| ([\d.]+ %) \| ([\d.]+ %) \| "
                        rf"(-|[\d.]+ %) \|$", text, re.MULTILINE)
        assert row, f"README: no held-out row for {label}"
        found = stems if label == "midi test stems" else \
            {who: scores[who][label] for who in scores if label in scores[who]}
        if found:
            assert int(row.group(1).replace(",", "")) == found["patterns"]["n"]
            for group, who in enumerate(("patterns", "name reader", "patterns, then name reader"), start=2):
                assert float(row.group(group).rstrip(" %")) == round(100 * found[who]["accuracy"], 1), (label, who)
            assert row.group(5) == (f"{100 * found['name reader + ear']['accuracy']:.1f} %" if "name reader + ear" in
                                    found else "-")
    issue = scores["name reader"]["issue's examples (seen)"]
    assert [name for name, _, _ in issue["misses"]] == ["Git 2"]
    for wrong, said in [(["--held-out", "Kin"], "--held-out scores the kept names"),
                        (["--corpus", "corpus", "Kin"], "--corpus goes with --held-out"), ([], "give one or more")]:
        assert main(["roles", *wrong]) == 2
        assert said in capsys.readouterr().err
