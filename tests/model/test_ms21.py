"""The MS21 engineers' names (model/names/ms21.py): what is kept and left out of the annotation, its two parts, and the
file that ships."""

from __future__ import annotations

import csv
import re

import pytest

from anchormix.model.names.ms21 import CLASS_ROLES, MS21_NAMES, ms21_names, names_from_annotation, write_names
from anchormix.model.names.name_reader import right
from anchormix.tools.conventions import ROLES

_CLASSES = ["Drum_Kick", "Electric_Guitar", "Lead_Vocal", "Synthesizer", "Conga", "Unused", "Piano"]


def _checkout(tmp_path, sessions: dict[str, tuple[str, dict[str, str]]]):
    """A checkout of MS21's repository: its annotation CSV and its train split's folder; ``sessions`` is title ->
    (sub-genre, class -> the cell as MS21 writes it), the titles starting "dev " in its train split."""
    with open(tmp_path / "mixing_secret_dataset_annotation_with_comment.csv", "w", newline="", encoding="utf-8") as f:
        writer = csv.DictWriter(f, ["Music_Title", "Sub_Genre", *_CLASSES])
        writer.writeheader()
        for title, (genre, cells) in sessions.items():
            writer.writerow({"Music_Title": title, "Sub_Genre": genre, **{k: cells.get(k, "[]") for k in _CLASSES}})
    train = tmp_path / "Bleed_annotation" / "train"
    train.mkdir(parents=True)
    for title in sessions:
        if title.startswith("dev "):
            (train / f"{title}_track2inst_bleeding_info.yaml").write_text("Track2inst: {}\n", encoding="utf-8")
    return tmp_path


def test_the_annotation_is_read_with_its_leaving_out_and_its_parts(tmp_path):
    checkout = _checkout(tmp_path, {
        "dev A": ("Rock", {"Drum_Kick": "['01_KickIn.wav', '02_Kick Out .wav']", "Electric_Guitar": "['13_ElecGtr1.wav']",
                           "Unused": "['99_Click.wav']", "Piano": "['Keys-Wurli-Active DI.wav']"}),
        "held B": ("Pop", {"Drum_Kick": "['07_KickIn.wav']", "Lead_Vocal": "['Vocals-Lead-U47.wav', 'Lead.wav']",
                           "Synthesizer": "['Sub Phatty1.wav]", "Conga": "['CONGA A_M80-SH.wav'"}),
        "held C": ("Pop", {"Electric_Guitar": "['Lead.wav']", "Piano": "['Keys-Wurli-Active DI.wav']"}),
        "mics D": ("Multimiking Comparison Recording", {"Piano": "['Piano1_070_Spot_Piano_L.wav']"}),
    })
    names = names_from_annotation(checkout)
    assert names == sorted(names)
    found = {name: (klass, part) for name, klass, part in names}
    assert found == {
        "01_KickIn": ("Drum_Kick", "dev"),  # "07_KickIn" is the same name but for its digits: counted once, in dev
        "02_Kick Out": ("Drum_Kick", "dev"),  # the space before ".wav" is not the engineer's word
        "13_ElecGtr1": ("Electric_Guitar", "dev"),
        "Keys-Wurli-Active DI": ("Piano", "dev"),  # in a held-out session too, and in dev: dev
        "Vocals-Lead-U47": ("Lead_Vocal", "held out"),
        "Sub Phatty1": ("Synthesizer", "held out"),  # a cell with a quote missing is read as it lies
        "CONGA A_M80-SH": ("Conga", "held out"),
    }  # left out: the Unused click, "Lead" (a vocal in one session, a guitar in another), the microphone comparison
    write_names(names, tmp_path / "names.tsv")
    assert ms21_names("held out", tmp_path / "names.tsv") == [
        ("CONGA A_M80-SH", "drums|kick|snare|hats"), ("Sub Phatty1", "keys|pad|lead"), ("Vocals-Lead-U47", "vocals")]
    assert len(ms21_names(None, tmp_path / "names.tsv")) == 7
    with pytest.raises(ValueError, match="no part 'test'"):
        ms21_names("test", tmp_path / "names.tsv")


def test_every_class_stands_for_roles_of_the_vocabulary():
    assert all(set(roles.split("|")) <= set(ROLES) - {"other"} for roles in CLASS_ROLES.values())
    assert right("pad", CLASS_ROLES["Synthesizer"]) and right("hats", CLASS_ROLES["Shaker"])
    assert not right("hats", CLASS_ROLES["Drum_Kick"]) and not right("lead", CLASS_ROLES["Lead_Vocal"])


def test_the_shipped_names_are_parted_with_no_held_out_name_in_dev():
    """README, "Track names read by the language model": 2,177 names, 1,796 dev and 381 held out; a held-out name
    is no dev name but for its digits."""
    rows = [line.split("\t") for line in MS21_NAMES.read_text(encoding="utf-8").splitlines()]
    assert all(len(row) == 3 and row[1] in CLASS_ROLES and row[2] in ("dev", "held out") for row in rows)
    dev, held = ms21_names("dev"), ms21_names("held out")
    assert (len(dev), len(held)) == (1796, 381)
    key = lambda name: re.sub(r"\d+", "#", name.lower())  # noqa: E731
    assert not {key(n) for n, _ in dev} & {key(n) for n, _ in held}
