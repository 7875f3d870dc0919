"""The role a track's name says, by patterns: the instruments' words first, then the words that only hint.

A name is lower-cased and parted at camelCase and separators ("LeadVox_02" -> "lead vox 02"). The words that name an
instrument (:data:`INSTRUMENT_WORDS`: "kick", "cello", "bassoon", "dobro", "leslie") decide when the name holds one;
checked in order, the first role whose words match wins, so a woodwind or a string comes before the bass ("Bassoon",
"Bass Clarinet", "CelloBassLo" are not basses), a kit piece before the group it is in ("Drums-Kick In" is a kick)
and the overheads before the pieces they hear ("Overhead Snare side"). A name that holds two kit pieces
("SnareAndCymbal", "TomsCymbals") is the kit: drums; a group the name starts with keeps what its parts name outside
it ("Vocals-BG Sax-M81" is a vocal, "Keys-Wurli" keys, "Drums-Kick" still a kick). Only a name without an
instrument's word is read by the words that hint (:data:`HINT_WORDS`: "lead", "solo", "room", "loop", "sub",
"synth", "fx"), so a "PianoRoom" is the piano and a "GtrSolo" the guitar; a "Lead" sung in a song's sections or
doubled ("Lead Chorus", "LD Dble") is the lead vocal. Anything else is ``other``: the name reader's (model/names)
and the ear's to read.

The words were chosen on names engineers gave their tracks (the MS21 annotation's dev part, model/names/ms21.py),
never on its held-out part, and a few on issue 25's own examples ("tmb", "Keyz", "BkV", "OHR").
"""

from __future__ import annotations

import re

__all__ = ["infer_role", "INSTRUMENT_WORDS", "HINT_WORDS"]

_L, _R = r"(?<![a-z])", r"(?![a-z])"


def _words(*words: str) -> str:
    """Whole words (each may be followed by digits or another word: "toms03", "gtr solo")."""
    return "|".join(rf"{_L}(?:{w}){_R}" for w in words)


_HAND_PERCUSSION = _words(
    r"perc\w*", "congas?", "bongos?", "cajon", "djembes?", "timbales?", "timpani", "taikos?", "daiko", "gongs?",
    "cabasa", "maracas?", "guiro", "claves?", "cow ?bells?", "cbell", "agogo", "triangles?", "tablas?", "stomps?",
    "vibra ?slap", "rain ?stick", "bombo", "pandeiro", "shekere", "woodblocks?", "udu", "darbuka")
INSTRUMENT_WORDS: tuple[tuple[str, str], ...] = (
    ("drums", _words("overheads?", "over heads?")),
    ("kick", rf"kick|{_L}kik{_R}|{_L}bd{_R}|bass ?drum"),
    ("snare", rf"snare|{_L}snr?{_R}|{_L}sd{_R}|{_L}rim|{_L}claps?{_R}"),
    ("hats", rf"{_L}(?:hi ?|h ?)?hats?{_R}|hihat|{_L}hh{_R}|cymb|{_L}tmb{_R}|{_L}ride{_R}|crash|{_L}china{_R}|"
             rf"splash|shaker|tamb"),
    ("drums", _HAND_PERCUSSION),
    ("brass", rf"brass|horns?{_R}|trumpet|{_L}trump{_R}|trombone|{_L}sax|{_L}tpt{_R}|{_L}tbn{_R}|tuba|flute|"
              rf"{_L}winds?{_R}|woodwind|clarinet|oboe|bassoon|piccolo|recorder|whistle|bagpipe|flugel|cornet|"
              rf"euphon|cimbass"),
    ("strings", rf"(?<!piano )(?<!steel )(?<!12 )string|violin|viola|cello|{_L}strs?{_R}|orch|fiddle|"
                rf"{_L}harps?{_R}|contrabass"),
    ("vocals", rf"vocal|{_L}vox|{_L}voc{_R}|{_L}vx{_R}|{_L}(?:bk ?|bg)vs?{_R}|{_L}bvs?{_R}|choir|voice|"
               rf"{_L}sing|{_L}adlib|whisper"),
    ("bass", "bass"),
    ("drums", _words("toms?", "floor(?: tom)?", "snap")),
    ("guitar", rf"guitar|gtr|{_L}guit|{_L}gits?{_R}|banjo|mandolin|dobro|b[ao]u?zouki|ukulele|{_L}uke{_R}|dulcimer|"
               rf"pedal steel|lap steel|sitar"),
    ("keys", rf"keys|{_L}keyz|piano|{_L}pno{_R}|rhodes|organ|{_L}org{_R}|wurl|{_L}eps?{_R}|clav|{_L}key{_R}|"
             rf"keyboard|hammond|leslie|farfisa|harpsichord|celest|glock|{_L}vibes{_R}|vibraphone|marimba|xylo|"
             rf"{_L}bells?{_R}|"
             rf"chimes|music ?box|accordi[ao]n|harmonica|melodica|mellotron|moog|{_L}nord|stylophone"),
    ("pad", rf"{_L}pads?{_R}|{_L}atmos|{_L}drone"),
    ("fx", rf"riser|sweep|whoosh|{_L}foley|{_L}noise|scratch"),
)
_LEAD = rf"{_L}(?:lead|ld){_R}"
_SUNG = _words("dbl", "dble?", "dbe", "double", "db", "dt", "harms?", "chorus", "verse", "bridge")
HINT_WORDS: tuple[tuple[str, str], ...] = (
    ("vocals", _words("harms?", "harmony", "soprano", "alto", "tenor", "baritone")),
    ("bass", rf"{_L}sub{_R}|808"),
    ("lead", rf"{_LEAD}|solo|melody|{_L}arp"),
    ("keys", rf"{_L}synth"),
    ("vocals", rf"{_L}bgs?{_R}"),
    ("drums", rf"drum|{_L}kit{_R}|{_L}oh[slr]?{_R}|{_L}room{_R}|{_L}loops?"),
    ("guitar", rf"{_L}acoustic|{_L}elec"),
    ("fx", rf"{_L}s?fx{_R}|impact"),
)
_KIT_PIECES = {"kick", "snare", "hats"}


def infer_role(name: str) -> str:
    """Guess a stem's role from its name ("01_Kick In" -> kick); ``other`` when nothing matches."""
    text = re.sub(r"([a-z])([A-Z])", r"\1 \2", name)  # camelCase and separators to spaces
    text = re.sub(r"[_\-.\s()\[\]]+", " ", text).lower()
    said = [role for role, pattern in INSTRUMENT_WORDS if re.search(pattern, text)]
    if said:
        pieces = _KIT_PIECES.intersection(said) | ({"toms"} if re.search(_words("toms?"), text) else set())
        group = _group(name)
        if group and _family(group) != _family(said[0]):
            return group
        return "drums" if len(pieces) > 1 else said[0]
    if re.search(_LEAD, text) and re.search(_SUNG, text) and not re.search(rf"{_L}synth", text):
        return "vocals"
    return next((role for role, pattern in HINT_WORDS if re.search(pattern, text)), "other")


def _family(role: str) -> str:
    return "drums" if role in _KIT_PIECES else role


def _group(name: str) -> str | None:
    """The role of the group a name starts with ("Vocals-BG Sax-M81": vocals), when its first part is one."""
    first = re.split(r"\s*[-_.]\s*", name.strip(), maxsplit=1)[0].lower()
    return next((role for role, pattern in INSTRUMENT_WORDS if re.fullmatch(rf"(?:{pattern})\w*", first)), None)
