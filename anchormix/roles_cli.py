"""``anchormix roles``: what role each track name (or each stem of a session, by name and by ear) stands for."""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from rich.table import Table

from .roles import models_held
from .tools import load_session
from .tools.daw import PROJECT_SUFFIXES
from .stages import how_long, stage, working
from .views import console, shown

__all__ = ["add_parsers"]

EPILOG = """examples:
  anchormix roles "Kin" "OHR_07" "BkV3" "wurlz hi"     # by name (the name reader, SmolLM2 + LoRA)
  anchormix roles --json "Kin" "Audio 07"              # [{"name", "role", "confidence", "source"}, ...]
  anchormix roles my_song/                             # a session's stems: by name and by ear (the role tagger)
  anchormix roles --held-out                           # the shipped reader and the patterns on real names
  anchormix roles --held-out --corpus corpus           # and the MIDI test split's stems: name reader + ear
"""


def add_parsers(sub) -> None:
    roles = sub.add_parser("roles", help="each track name's role, read by the language model (a session: and by ear)",
                           epilog=EPILOG, formatter_class=argparse.RawDescriptionHelpFormatter)
    roles.set_defaults(func=_roles)
    roles.add_argument("names", nargs="*", metavar="NAME",
                       help="track names; or one session (a folder of stems, .ardour or .RPP) to read its stems by "
                            "name and by ear")
    roles.add_argument("--json", action="store_true", help="print a JSON list of {name, role, confidence, source} "
                                                           "(with --held-out: the scores, as JSON)")
    roles.add_argument("--held-out", action="store_true",
                       help="score the shipped name reader and the patterns on the real names kept for it (engineers' "
                            "file names, Debian MIDI track names where installed) and on the issue's examples")
    roles.add_argument("--corpus", type=Path, metavar="DIR",
                       help="with --held-out: also the stems of this corpus's MIDI test split, each read by the track "
                            "name its composer typed, alone and with the ear (the role tagger on the stem)")


def _is_session(names: list[str]) -> bool:
    path = Path(names[0])
    return len(names) == 1 and (path.is_dir() or (path.is_file() and path.suffix.lower() in PROJECT_SUFFIXES))


def _held_out(as_json: bool, corpus: Path | None) -> int:
    from .model.names.held_out import (ENGINEERS, ISSUE_EXAMPLES, debian_midi_names,  # lazy: loads mido
                                       midi_named_stems)
    from .model.names.ms21 import MS21_DEV, ms21_sets  # lazy: beside the held-out sets (mido)
    from .model.names.name_reader import scored  # lazy: loads torch and the backbone
    from .model.names.role_reader import RoleReader, scored_with_ear  # lazy: as above

    stems = midi_named_stems(corpus) if corpus else []  # the corpus checked before a model loads
    if corpus and not stems:
        raise ValueError(f"--corpus {corpus}: no stem of its MIDI test split has a composer's track name")
    midi = debian_midi_names()
    reader = RoleReader.load(ear=bool(corpus))
    dev = f"{MS21_DEV} (trained on)" if reader.names.config.ms21_dev else MS21_DEV  # a reader that learnt from them
    ms21 = {dev if label == MS21_DEV else label: names for label, names in ms21_sets().items()}
    sets = {"engineers": ENGINEERS, **ms21, **({"midi": midi} if midi else {}), "issue's examples (seen)": ISSUE_EXAMPLES}
    scores = scored(reader.names, sets)
    with_ear = scored_with_ear(reader, stems) if stems else {}
    if as_json:
        print(json.dumps({**scores, **({"midi test stems": with_ear} if with_ear else {})}))
        return 0
    table = Table(title="roles: the shipped name reader and the patterns on real names")
    readers = ("patterns", "name reader", "patterns, then name reader")
    for column in ("names", "n", *readers, "name reader + ear"):
        table.add_column(column, justify="left" if column == "names" else "right")
    for label in sets:
        table.add_row(label, str(len(sets[label])), *(f"{scores[who][label]['accuracy']:.1%}" for who in readers), "-")
    if with_ear:
        table.add_row("midi test stems", str(len(stems)), *(f"{with_ear[who]['accuracy']:.1%}" for who in with_ear))
    console.print(table)
    if not midi:
        console.print("note: no Debian MIDI package installed, so no MIDI track names "
                      "(`anchormix data midi --debian --install` brings them)", style="yellow")
    return 0


def _roles(args: argparse.Namespace) -> int:
    if args.held_out:
        if args.names:
            raise ValueError("roles: --held-out scores the kept names; give it no NAME")
        return _held_out(args.json, args.corpus)
    if args.corpus:
        raise ValueError("roles: --corpus goes with --held-out")
    if not args.names:
        raise ValueError("roles: give one or more track names, or one session, or --held-out")
    from .model.names.name_reader import patterns_then  # lazy: beside the reader (torch)
    from .model.names.role_reader import RoleReader  # lazy: loads torch and the backbone; after the arguments' checks

    by_ear = _is_session(args.names)
    if by_ear:
        with working(f"{Path(args.names[0]).name}: decoding the stems"):
            # names and headers checked before anything is decoded, the reader's memory charged with them
            session = load_session(args.names[0], models=models_held(every_name=True))
            stage(f"{len(session.names)} stems of {how_long(session.duration_s)}: reading them by name and by ear")
            readings = RoleReader.load(ear=True).read_session(session)
        in_session = {r.name: r.role if session.role_sources[r.name] == "unknown" else session.roles[r.name]
                      for r in readings}
    else:
        readings = RoleReader.load().read_names(args.names)
        in_session = {r.name: patterns_then(r.role, r.name) for r in readings}
    if args.json:
        print(json.dumps([r.to_json() for r in readings]))
        return 0
    table = Table(title="roles: by name (the name reader)" + (", by ear (the role tagger)" if by_ear else ""),
                  caption="a session takes session.json's or the patterns' role where they give one (`measure`)")
    for column in ("name", "role", "confidence", "source", "in a session"):
        table.add_column(column, justify="right" if column == "confidence" else "left")
    for r in readings:
        table.add_row(shown(r.name), r.role, f"{r.confidence:.2f}", r.source, in_session[r.name])
    console.print(table)
    return 0
