"""The role a track's name says: instruments' words before the words that only hint, groups and kits."""

import pytest

from anchormix.tools.role_names import infer_role


@pytest.mark.parametrize("name, role", [
    # an instrument's word beats the word that only hints where or how it was played
    ("07_Piano_LiveRoom", "keys"), ("GUITAR ROOM - U47", "guitar"), ("24_GtrSolo1", "guitar"),
    ("05_CelloSolo", "strings"), ("29_FluteLoop", "brass"), ("31_Toms03_808", "drums"), ("17_ElecPianoPad", "keys"),
    # woodwinds and strings are not basses; a bass drum is a kick
    ("Bassoon", "brass"), ("13_BassClarinet", "brass"), ("Bass Trombone", "brass"), ("CelloBassLo", "strings"),
    ("Bass Drum", "kick"), ("Upright Bass", "bass"), ("Sub Phatty", "bass"),
    # a kit piece within its group; two pieces are the kit; the overheads hear the kit
    ("Drums-Kick In-M82", "kick"), ("Drums-Snare Top", "snare"), ("SnareAndCymbal", "drums"), ("TomsCymbals", "drums"),
    ("Overhead Snare side", "drums"), ("12_HHat", "hats"),
    # a group the name starts with keeps what its parts name outside it
    ("Vocals-BG Sax-M81", "vocals"), ("Keys-Wurli-Active DI", "keys"),
    # a lead sung in a song's sections, or doubled, is the lead vocal; a synth's is a lead
    ("Lead Chorus", "vocals"), ("LD Dble 2", "vocals"), ("Chorus lead bright synth", "lead"),
    ("Lead Synth Dbl.L", "lead"), ("Lead Extra", "lead"),
    # strings of another instrument; words inside other words are not read
    ("70_PianoStrings", "keys"), ("Guitar Steel String 1", "guitar"), ("Rising synth pan L", "keys"),
    # hand percussion, tuned percussion and the instruments patterns used to miss
    ("Timpani", "drums"), ("09_Cabasa", "drums"), ("Cowbell", "drums"), ("Vocal Percussion 1", "drums"),
    ("16_Glock", "keys"), ("HammondRaw", "keys"), ("LESLIE TOP", "keys"), ("DOBRO.LA320", "guitar"),
    ("Fiddle-M60", "strings"), ("08_Piccolo", "brass"), ("47_Soprano", "vocals"), ("Bgv 1", "vocals"),
    ("Default preset", "other"), ("Audio 12", "other"), ("Kin", "other"),
])
def test_a_name_is_read_by_its_instrument_first(name, role):
    assert infer_role(name) == role
