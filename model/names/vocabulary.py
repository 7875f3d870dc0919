"""Track names as engineers type them, generated: the name reader's training data.

A name is built from parts, each drawn from the role's own vocabulary
(:data:`PARTS`): an optional qualifier ("lead", "backing", "acoustic"), the
instrument in one of its spellings (full word, engineers' abbreviations, a
consonant skeleton, a truncation, a slangy plural "z"), an optional mic or
position ("in", "top", "L", "hi", "DI"), and decorations: a track number in
front, a take or comp number behind, a channel side. The parts are joined in
one of the ways people join them (space, underscore, dash, dot, nothing, camel
case) and cased as people case them. ``other`` is what a name cannot tell:
"Audio 07", "Standard-Preset", "Bus 2". A share of the kick and snare names
(``glued``, none by default) is a short abbreviation with its mic position glued
on, as engineers label close mics: "Kin", "KOut", "SDtop", "Snbot".

Nothing here is read from a held-out set (model/names/held_out.py): the
vocabularies are the field's terms and the decorations are the DAWs' own habits.
"""

from __future__ import annotations

import random
import re

from anchormix.tools.conventions import ROLES

__all__ = ["PARTS", "OTHER_NAMES", "GLUED", "GLUED_POSITIONS", "spellings", "glued_name", "generate_names"]

# role -> (instrument words, qualifiers, positions). A word's spellings come from :func:`spellings`; the words
# already in abbreviated form are how engineers write them.
PARTS: dict[str, tuple[list[str], list[str], list[str]]] = {
    "kick": (["kick", "kik", "kck", "bd", "bass drum", "bassdrum", "k", "kk", "kick drum", "808 kick", "beater"],
             ["", "", "sub", "trig", "sample", "808"],
             ["in", "out", "inside", "outside", "sub", "port", "reso", "front", "beater", "d112", "b91", "beta52",
              "d6", "nsk", "i", "o", "int", "ext", "mic", "trig", "smpl"]),
    "snare": (["snare", "snr", "sn", "sd", "s", "snare drum", "snar", "rim", "clap", "claps", "rimshot", "sidestick"],
              ["", "", "trig", "sample", "piccolo"],
              ["top", "bottom", "bot", "btm", "up", "down", "dn", "t", "b", "sm57", "57", "under", "over", "trig",
               "smpl", "1", "2"]),
    "hats": (["hihat", "hi hat", "hh", "hat", "hats", "ride", "crash", "cymbal", "cym", "cymbals", "china", "splash",
              "shaker", "shkr", "tamb", "tambourine", "tmb", "tamborine", "chh", "ohh", "open hat", "closed hat", "bell"],
             ["", "", "open", "closed", "16th"],
             ["", "top", "bell", "edge", "l", "r", "mic", "km184", "451"]),
    "drums": (["drums", "drum", "drm", "drms", "dr", "kit", "overhead", "overheads", "oh", "ohs", "ovh", "ovhd",
               "room", "rooms", "rm", "amb", "ambience", "tom", "toms", "rack tom", "floor tom", "floor", "flr", "ft",
               "rt", "rack", "perc", "percussion", "conga", "congas", "bongo", "bongos", "loop", "break", "beat",
               "trash", "crush", "drum bus", "kit mic", "cajon", "timbale", "cowbell", "djembe", "mono room"],
              ["", "", "mono", "stereo", "far", "near", "close", "parallel", "smash"],
              ["l", "r", "left", "right", "1", "2", "3", "hi", "lo", "mono", "st", "far", "near", "c414", "coles",
               "ribbon", "ms", "xy", "m", "s"]),
    "bass": (["bass", "bs", "bss", "bas", "b", "bass gtr", "bass guitar", "bgtr", "sub", "sub bass", "subbass", "808",
              "synth bass", "synthbass", "bassline", "upright", "double bass", "contrabass", "moog bass", "bass synth",
              "fretless", "baixo", "bajo", "basso"],
             ["", "", "", "electric", "upright", "synth", "fuzz"],
             ["di", "amp", "mic", "d i", "direct", "cab", "sansamp", "svt", "b15", "line", "bus", "hi", "lo", "l", "r"]),
    "vocals": (["vocal", "vocals", "vox", "vx", "voc", "vo", "v", "voice", "vce", "singer", "sing", "choir", "chorus",
                "harmony", "harm", "harms", "double", "dbl", "dub", "dubs", "adlib", "ad lib", "adlibs", "bgv", "bgvs",
                "bv", "bvs", "bvox", "lv", "lvox", "gang", "oohs", "aahs", "rap", "verse vox", "hook vox", "spoken",
                "talk", "whisper", "falsetto", "stack", "shout"],
               ["", "", "lead", "ld", "main", "backing", "back", "bk", "bck", "bkg", "bg", "background", "bgd", "low",
                "high", "hi", "lo", "female", "male", "fem", "gang", "chorus", "verse", "bridge", "harmony"],
               ["", "l", "r", "comp", "cmp", "tk", "take", "pass", "dbl", "oct", "3rd", "5th", "1", "2", "3", "u87",
                "sm7", "mic", "tuned", "tune", "print", "edit"]),
    "guitar": (["guitar", "guitars", "gtr", "gtrs", "git", "guit", "gt", "gitarre", "eg", "ag", "acoustic", "acc",
                "acous", "ac", "elec", "electric", "strat", "tele", "les paul", "lp", "sg", "dobro", "banjo", "mandolin",
                "mando", "ukulele", "uke", "nylon", "12 string", "12str", "slide", "pedal steel", "steel", "riff",
                "power chords", "chug", "lick", "strum", "jangle"],
               ["", "", "", "rhythm", "rhy", "rhythm", "lead", "ld", "clean", "cln", "dist", "crunch", "heavy", "hvy",
                "acoustic", "ac", "electric", "elec", "solo", "fuzz", "wah", "trem"],
               ["", "l", "r", "amp", "di", "mic", "cab", "57", "121", "r121", "sm57", "room", "close", "far", "1", "2",
                "a", "b", "cmp", "comp", "dbl"]),
    "keys": (["keys", "keyz", "key", "keyboard", "kbd", "kb", "piano", "pno", "pn", "pia", "grand", "grand piano",
              "upright piano", "rhodes", "rhds", "wurli", "wurly", "wurl", "wurlitzer", "ep", "e piano", "epiano",
              "organ", "org", "orgn", "hammond", "b3", "b 3", "leslie", "clav", "clavinet", "mellotron", "tron",
              "celesta", "harpsichord", "vibes", "vibraphone", "marimba", "glock", "glockenspiel", "xylophone", "nord",
              "toy piano", "accordion", "harmonium", "synth", "synths", "synthesizer", "juno", "prophet", "moog",
              "stab", "stabs", "chords", "chord", "comp keys"],
             ["", "", "", "grand", "upright", "electric", "e", "toy", "synth", "soft", "bright"],
             ["", "l", "r", "hi", "lo", "high", "low", "top", "bottom", "di", "amp", "leslie", "rot", "horn", "drum",
              "mic", "near", "far", "1", "2", "left", "right"]),
    "pad": (["pad", "pads", "atmos", "atmosphere", "atmo", "drone", "texture", "textures", "swell", "swells", "bed",
             "wash", "ambient", "ambience pad", "warm pad", "string pad", "choir pad", "soundscape", "scape", "evolve",
             "sustain", "shimmer"],
            ["", "", "warm", "dark", "airy", "soft", "big", "synth", "analog"],
            ["", "l", "r", "1", "2", "hi", "lo", "st", "wide"]),
    "lead": (["lead", "ld", "solo", "melody", "mel", "melo", "arp", "arps", "arpeggio", "hook", "topline", "pluck",
              "plucks", "lead synth", "synth lead", "saw lead", "whistle", "theme", "riff synth", "sequence", "seq",
              "line", "counter melody", "countermelody", "sq lead"],
             ["", "", "synth", "saw", "square", "main", "counter", "octave"],
             ["", "l", "r", "1", "2", "hi", "lo", "oct", "dbl"]),
    "strings": (["strings", "string", "str", "strs", "stgs", "violin", "violins", "vln", "vn", "vl", "viola", "vla",
                 "cello", "celli", "vc", "vlc", "orch", "orchestra", "ensemble", "ens", "quartet", "section", "fiddle",
                 "harp", "pizz", "pizzicato", "spiccato", "legato strings", "string section", "violas", "cellos"],
                ["", "", "solo", "hi", "lo", "1st", "2nd", "first", "second", "chamber"],
                ["", "l", "r", "1", "2", "close", "tree", "outriggers", "room", "section", "spot", "hi", "lo"]),
    "brass": (["brass", "horns", "horn", "hrn", "hrns", "trumpet", "trumpets", "tpt", "trp", "tp", "trombone", "tbn",
               "trb", "tb", "bone", "bones", "sax", "saxophone", "tenor sax", "alto sax", "bari sax", "tenor", "alto",
               "bari", "flute", "fl", "flt", "clarinet", "cl", "clar", "oboe", "ob", "bassoon", "woodwind", "woodwinds",
               "winds", "ww", "tuba", "flugel", "flugelhorn", "french horn", "piccolo", "recorder", "harmonica", "hca"],
              ["", "", "section", "solo", "muted", "1st", "2nd"],
              ["", "l", "r", "1", "2", "3", "mic", "bell", "close", "room", "section"]),
    "fx": (["fx", "sfx", "efx", "effects", "riser", "risers", "sweep", "sweeps", "impact", "impacts", "hit", "hits",
            "whoosh", "whooshes", "noise", "white noise", "foley", "reverse", "rev", "reversed", "downlifter", "uplifter",
            "transition", "trans", "boom", "sub drop", "drop", "glitch", "stutter", "tape stop", "vinyl", "crackle",
            "zap", "laser", "snap fx", "sting", "stinger"],
           ["", "", "reverse", "big", "long", "short", "white", "crash"],
           ["", "l", "r", "1", "2", "up", "down", "in", "out"]),
}
# Names that cannot tell a role: the DAW's defaults, buses, prints, references, people's private labels.
OTHER_NAMES = ["audio", "track", "trk", "inst", "instrument", "midi", "midi track", "aux", "bus", "buss", "fx return",
               "return", "send", "print", "bounce", "mix", "master", "stereo out", "ref", "reference", "click", "clk",
               "metronome", "guide", "scratch", "cue", "untitled", "default", "standard preset", "new track",
               "copy", "empty", "x", "tmp", "temp", "idea", "sketch", "test", "audio track", "group", "stem",
               "sidechain", "sc", "key input", "timecode", "smpte", "reverb", "verb", "delay", "dly", "plate", "hall",
               "unknown", "misc", "other", "extra", "spare", "sampler", "simpler", "kontakt", "vst", "plugin",
               "preset", "init", "init patch", "patch", "layer", "region", "comp", "edit", "take", "alt"]

# Mic positions engineers glue onto a short abbreviation ("Kin", "Kout", "Sntop"): kick in/out, snare top/bottom;
# role -> (its abbreviations, its positions that are glued on).
GLUED_POSITIONS = ("in", "out", "top", "bot", "btm")
GLUED: dict[str, tuple[list[str], list[str]]] = {
    "kick": (["k", "kk", "kik", "kck", "bd"], ["in", "out"]),
    "snare": (["s", "sn", "snr", "sd"], ["top", "bot", "btm"]),
}

_VOWELS = re.compile(r"(?<=.)[aeiou]")


def spellings(word: str, rng: random.Random) -> str:
    """One way of writing ``word``: as is (most often), its consonant skeleton, a truncation, or a slangy "z"."""
    roll = rng.random()
    if roll < 0.6 or len(word) <= 3 or " " in word:
        return word
    if roll < 0.75:
        return _VOWELS.sub("", word)  # "vocal" -> "vcl", "guitar" -> "gtr"
    if roll < 0.9:
        return word[: rng.randint(3, max(3, len(word) - 1))]  # "wurlitzer" -> "wurl"
    return word.rstrip("sy") + "z"  # "keys" -> "keyz", "wurly" -> "wurlz"


def _join(parts: list[str], rng: random.Random) -> str:
    """The parts joined and cased as people do: "Kick In", "kick_in", "KickIn", "KICK-IN", "kick.in", "Kin"."""
    style = rng.choice(["space", "space", "space", "underscore", "dash", "dot", "none", "camel", "camel"])
    if style == "camel":
        return "".join(p[:1].upper() + p[1:] for p in parts)
    sep = {"space": " ", "underscore": "_", "dash": "-", "dot": ".", "none": ""}[style]
    text = sep.join(parts)
    case = rng.random()
    return text.upper() if case < 0.2 else text.title() if case < 0.6 else text if case < 0.85 else \
        text[:1].upper() + text[1:]


def _decorated(text: str, rng: random.Random) -> str:
    """Numbers and sides as DAWs and engineers add them, each with its own separator: "01_", "2", "tk3", ".L", "_07"."""
    sep = lambda: rng.choice(["", " ", " ", "_", "-", "."])  # noqa: E731
    if rng.random() < 0.25:
        text = rng.choice([f"{rng.randint(1, 64):02d}", str(rng.randint(1, 64))]) + rng.choice([" ", "_", "-", ". "]) + text
    roll = rng.random()
    if roll < 0.35:
        text += sep() + str(rng.choice([rng.randint(1, 9), rng.randint(1, 9), rng.randint(10, 200)]))
    elif roll < 0.45:
        text += sep() + rng.choice(["tk", "take", "t", "v", "pass", "comp", "alt", "Tk", "TK"]) + str(rng.randint(1, 12))
    elif roll < 0.52:
        text += sep() + f"{rng.randint(1, 99):02d}"
    if rng.random() < 0.12:
        text += sep() + rng.choice(["l", "r", "L", "R", "left", "right", "st", "mono"])
    return text


def glued_name(role: str, rng: random.Random) -> str:
    """A kick's or snare's short abbreviation with a mic position glued on, cased as people case them: "Kin", "KOut",
    "KIN", "sdtop", "SnBot" (:data:`GLUED`)."""
    abbreviations, positions = GLUED[role]
    word, position = rng.choice(abbreviations), rng.choice(positions)
    case = rng.random()
    if case < 0.5:
        return word.title() + position
    return word.title() + position.title() if case < 0.7 else (word + position).upper() if case < 0.9 else word + position


def _core(role: str, glued: float, rng: random.Random) -> list[str]:
    """A name's parts before joining: a qualifier, the instrument, a position (or, ``glued`` of the time for a kick or
    snare, one :func:`glued_name`)."""
    if role == "other":
        return [rng.choice(OTHER_NAMES)]
    if glued and role in GLUED and rng.random() < glued:
        return [glued_name(role, rng)]
    words, qualifiers, positions = PARTS[role]
    core = [spellings(w, rng) for w in rng.choice(words).split()]
    qualifier = rng.choice(qualifiers) if rng.random() < 0.35 else ""
    position = rng.choice(positions) if rng.random() < 0.4 else ""
    return ([qualifier] if qualifier else []) + core + ([position] if position else [])


def generate_names(per_role: int, seed: int = 0, glued: float = 0.0) -> list[tuple[str, str]]:
    """``per_role`` (name, role) pairs for every role of :data:`~anchormix.tools.conventions.ROLES`, distinct;
    ``glued``: the share of kick and snare names that are a :func:`glued_name` (0 draws exactly what it always drew)."""
    rng = random.Random(seed)
    out: list[tuple[str, str]] = []
    for role in ROLES:
        seen: set[str] = set()
        tries = 0
        while len(seen) < per_role and tries < per_role * 50:
            tries += 1
            name = _decorated(_join(_core(role, glued, rng), rng), rng)
            if name.strip() and name not in seen:
                seen.add(name)
                out.append((name, role))
    return out
