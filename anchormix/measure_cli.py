"""``anchormix measure``: a session's loudness and masking against its anchor, its roles and where they came from."""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from rich.text import Text

from anchormix.tools import REGISTRY, ToolContext, load_session
from anchormix.tools.audio import write_text_atomic
from anchormix.tools.outputs import check_replaceable

from .roles import models_held, read_unknown_roles
from .stages import reading_roles, stage, working
from .views import console, levels_table, masking_table, shown

__all__ = ["EPILOG_MEASURE", "MEASURE_MARK", "measure", "measure_parser"]

MEASURE_MARK = "anchormix measure"  # measure --json's "written_by": a file it may replace
EPILOG_MEASURE = """examples:
  anchormix measure path/to/session
  anchormix measure path/to/session --anchor kick --json levels.json
"""


def measure_parser(parser: argparse.ArgumentParser) -> None:
    """The ``measure`` command's arguments."""
    parser.add_argument("session", type=Path, help="session folder (audio files + optional session.json), .ardour or .RPP")
    parser.add_argument("--anchor", help="stem to balance against (default: session.json, else the bass stem)")
    parser.add_argument("--json", type=Path, dest="json_out", help="also write the measurements to this JSON file")


def measure(args: argparse.Namespace) -> int:
    """Print (and with ``--json`` write) the session's levels, roles and masking; 0."""
    if args.json_out:  # before decoding: never onto a source, never into the session's folder
        check_replaceable(args.json_out, [args.session if args.session.is_dir() else args.session.parent],
                          "measurement file", MEASURE_MARK)
    with working(f"{args.session.name}: decoding the stems"):
        session = load_session(args.session, args.anchor, models_held())
        stage(reading_roles(len(session.names), session.duration_s))
        read_unknown_roles(session)
        ctx = ToolContext.of(session)
        stage("loudness and true peak of every stem")
        levels = REGISTRY.call("measure_loudness", {}, ctx)
        stage("masking: the band levels of every stem")
        masking = [REGISTRY.call("measure_masking", {"target": n}, ctx) for n in session.names if session.active[n]]
    console.print(Text.assemble(
        (str(shown(session.path)), "bold"), f"  {len(session.stems)} stems, {session.duration_s:.1f} s at "
        f"{session.sample_rate} Hz, genre {shown(session.genre)}, anchor ", (str(shown(session.anchor)), "bold")))
    if session.anchor_by_ear:
        console.print(Text.assemble(("anchor by ear:", "yellow"), " ", shown(session.anchor_rule)), highlight=False)
    if session.ignored_files:
        console.print(Text(f"ignored (not audio): {shown(', '.join(session.ignored_files))}", style="dim"))
    for warning in session.warnings:
        console.print(Text.assemble(("note:", "yellow"), " ", shown(warning)), highlight=False)
    console.print(levels_table(levels, session.reference_lu, role_sources=session.role_sources))
    console.print(masking_table(masking))
    if args.json_out:
        body = {"written_by": MEASURE_MARK, "session": str(session.path.resolve()), "anchor_rule": session.anchor_rule,
                "role_sources": session.role_sources, "levels": levels, "masking": masking}
        protected = session.read_only()
        write_text_atomic(check_replaceable(args.json_out, protected, "measurement file", MEASURE_MARK),
                          json.dumps(body, indent=2) + "\n", protected)
        console.print(f"wrote {args.json_out}")
    return 0
