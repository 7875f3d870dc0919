"""Engineers' track names from the MS21 annotations of the Cambridge-MT library: a held-out set of real names.

The "Mixing Secrets" free multitrack library (cambridge-mt.com) holds some 540 sessions as their engineers
delivered them. MS21 (Huicheng Zhang, UPF 2022, github.com/felixCheungcheung/mixing_secrets_v2) annotated every
track file of them with one of 72 instrument classes: sorted first by keywords in the file names, then corrected by
ear by its annotator ("Moved Loop3 and Loop_6 to Percussion based on its Timbre"), which the annotation's comments
record. Its file ``mixing_secret_dataset_annotation_with_comment.csv`` is read once by :func:`names_from_annotation`
into ``ms21_names.tsv`` here (name, class, part): the names are the files' names less ``.wav``, as the engineers typed them
("Drums-Kick In-M82", "BASS - RED DI - API 1608", "Vox Chorus Howl Harm 3", "08_ElecGtr2DTDI"). Only the names
and classes are here (MS21 is for research use, as it says); the audio stays Cambridge-MT's.

What is left out, decided before any reader was scored on them: the two multi-microphone comparison recordings
(3D-MARCo: 130 microphone-array names of one piano and one quartet, not tracks of a mix), the ``Unused`` and
``Ambient_Microphone`` classes (no instrument), names given two classes that stand for different roles, and names that
differ from a kept one only in their digits ("58_BackingVox09" beside "29_BackingVox09": one name, counted once).

The names are parted by MS21's own split of the sessions: the names of its ``train`` sessions (420) are **dev**,
looked at to develop a reader and never trained on; the rest (its ``val`` and ``test`` sessions, and the 39 sessions
MS21 left out of its split: 119) are **held out**, less any name dev also holds. The first score of the shipped
reader was on all of them, before the parting (``anchormix roles --held-out`` shows both parts).

Each class stands for the roles of :data:`anchormix.tools.conventions.ROLES` it may be read as (:data:`CLASS_ROLES`),
following the MIDI corpus's General MIDI families (model/corpus/midi.py) where the two meet: a synthesizer may be
keys, pad or lead (the class does not say which part it plays), a woodwind brass or lead (reed and pipe), hand
percussion any drum role; a kit piece only its own. A reading is right when it is one of its class's roles.
"""

from __future__ import annotations

import csv
import re
import sys
from pathlib import Path

from .held_out import DRUM_ROLES

__all__ = ["CLASS_ROLES", "MS21_NAMES", "MS21_DEV", "names_from_annotation", "ms21_names", "ms21_sets", "write_names"]

MS21_NAMES = Path(__file__).with_name("ms21_names.tsv")

_ANY_DRUM = "|".join(DRUM_ROLES)
_WOODWIND = "brass|lead"
CLASS_ROLES: dict[str, str] = {
    **dict.fromkeys(("Electric_Organ", "Piano", "Electric_Piano", "Marimba", "Bell", "Chimes", "Other_Chromatic",
                     "Accordian", "Harmonica"), "keys"),
    "Synthesizer": "keys|pad|lead", "SFX": "fx",
    "Drum_Kick": "kick", "Drum_Snare": "snare", "Drum_HiHat": "hats", "Drum_Cymbals": "hats",
    **dict.fromkeys(("Drum_Overheads", "Drum_Tom", "Drum_Room"), "drums"),
    **dict.fromkeys(("Triangle", "Shaker", "Taiko", "Timpani", "Llamador", "Guaracha", "Guache", "Paliteo", "Conga",
                     "Sticks", "Anvil", "Woodblock", "Handdrum", "Tambourine", "Loop", "Clicks", "Claps", "Djembe",
                     "Bass_Drum", "Maracas", "Bongo", "Gong", "Timbale", "Pandeiro", "Percussion"), _ANY_DRUM),
    **dict.fromkeys(("Synth_Bass", "Electric_Bass", "Double_Bass"), "bass"),
    **dict.fromkeys(("Acoustic_Guitar", "Electric_Guitar"), "guitar"),
    **dict.fromkeys(("Brass_Section", "Trumpet", "French_Horn", "Trombone", "Tuba"), "brass"),
    **dict.fromkeys(("Saxophone", "Flute", "Clarinet", "Bagpipe", "Whistle", "Bassoon", "Oboe", "WoodWind_Section"),
                    _WOODWIND),
    **dict.fromkeys(("String_Section", "Fiddle", "Violin", "Viola", "Cello", "Harp"), "strings"),
    **dict.fromkeys(("Lead_Vocal", "Choir", "Backing_Vocal"), "vocals"),
}
_ANNOTATION = "mixing_secret_dataset_annotation_with_comment.csv"
_SPLIT_FILE = "_track2inst_bleeding_info.yaml"
_NOT_A_MIX = "Multimiking Comparison Recording"  # 3D-MARCo's microphone arrays, not a song's tracks
# A cell is a Python list of file names, a few of them with a quote or bracket missing: take the names as they lie.
_FILE = re.compile(r"[\[\]']*\s*([^,\[\]']+?\.wav)", re.IGNORECASE)


def names_from_annotation(checkout: Path) -> list[tuple[str, str, str]]:
    """(name, class, part) of each track file the MS21 annotation in the ``checkout`` of its repository gives a class,
    part ``dev`` or ``held out`` by its split (``Bleed_annotation/train``: dev), with the leaving-out the module's
    docstring says; sorted by name."""
    dev_titles = {p.name.removesuffix(_SPLIT_FILE) for p in (checkout / "Bleed_annotation" / "train").iterdir()}
    by_key: dict[str, tuple[str, str]] = {}
    parts: dict[str, set[str]] = {}
    clashing: set[str] = set()
    with open(checkout / _ANNOTATION, encoding="utf-8", errors="replace", newline="") as handle:
        rows = [row for row in csv.DictReader(handle) if row["Sub_Genre"] != _NOT_A_MIX]
    for row in sorted(rows, key=lambda r: r["Music_Title"]):
        part = "dev" if row["Music_Title"] in dev_titles else "held out"
        for klass, roles in CLASS_ROLES.items():
            for file in _FILE.findall(row.get(klass) or ""):
                name = file.strip()[:-len(".wav")].strip()
                key = re.sub(r"\d+", "#", name.lower())
                kept = by_key.setdefault(key, (name, klass))
                parts.setdefault(key, set()).add(part)
                if CLASS_ROLES[kept[1]] != roles:
                    clashing.add(key)
    return sorted((*by_key[key], "dev" if "dev" in parts[key] else "held out") for key in by_key if key not in clashing)


def write_names(names: list[tuple[str, str, str]], out: Path = MS21_NAMES) -> None:
    """Write ``names`` (name, class, part) as the tab-separated file :func:`ms21_names` reads."""
    out.write_text("".join("\t".join(row) + "\n" for row in names), encoding="utf-8")


def ms21_names(part: str | None = None, path: Path = MS21_NAMES) -> list[tuple[str, str]]:
    """(name, the roles it may be read as, "|"-joined) of each kept MS21 name of ``part`` (``dev``, ``held out``;
    None: both)."""
    rows = [line.split("\t") for line in path.read_text(encoding="utf-8").splitlines() if line]
    if part not in (None, "dev", "held out"):
        raise ValueError(f"MS21 names: no part {part!r} (dev, held out)")
    return [(name, CLASS_ROLES[klass]) for name, klass, where in rows if part in (None, where)]


MS21_DEV = "engineers, MS21 dev"  # the dev part's label among the sets


def ms21_sets() -> dict[str, list[tuple[str, str]]]:
    """Both parts as the held-out sets `anchormix roles --held-out` and `train --names` score, held out first."""
    return {f"engineers, MS21 {part}": ms21_names(part) for part in ("held out", "dev")}


if __name__ == "__main__":  # python -m anchormix.model.names.ms21 CHECKOUT: rebuild ms21_names.tsv from MS21's repo
    write_names(names_from_annotation(Path(sys.argv[1])))
