"""The ``anchormix`` command line.

Every command turns a bad input into one line naming the file or argument and
a non-zero exit code; no traceback reaches the user.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from rich.console import Console
from rich.table import Table

__all__ = ["main"]

console = Console()
errors = Console(stderr=True)

EPILOG_DEMO = """examples:
  anchormix demo                       # pop demo with spoiled levels, in ./out/demo
  anchormix demo --genre edm --seed 3
"""
EPILOG_MEASURE = """examples:
  anchormix measure path/to/session
  anchormix measure path/to/session --anchor kick --json levels.json
"""


def _fmt(value: float | None, unit: str = "", signed: bool = False) -> str:
    if value is None:
        return "silent"
    return f"{value:+.1f}{unit}" if signed else f"{value:.1f}{unit}"


def levels_table(report: dict, reference: dict[str, float] | None = None, title: str = "Levels") -> Table:
    """A rich table of ``measure_loudness`` output, with the reference balance when known."""
    table = Table(title=title, title_justify="left")
    for column in ("stem", "role", "LUFS", "LU vs anchor", "true peak"):
        table.add_column(column, justify="left" if column in ("stem", "role") else "right")
    if reference:
        table.add_column("reference", justify="right")
        table.add_column("off by", justify="right")
    for name, row in report["stems"].items():
        marker = " (anchor)" if name == report["anchor"] else ""
        cells = [name + marker, row["role"], _fmt(row["lufs"]), _fmt(row["lu_vs_anchor"], signed=True),
                 _fmt(row["true_peak_dbtp"], " dBTP")]
        if reference:
            ref = reference.get(name)
            off = None if ref is None or row["lu_vs_anchor"] is None else row["lu_vs_anchor"] - ref
            cells += [_fmt(ref, signed=True) if ref is not None else "-", _fmt(off, " dB", signed=True) if off is not None else "-"]
        table.add_row(*cells)
    return table


def masking_table(rows: list[dict]) -> Table:
    table = Table(title="Masking by the rest of the mix (share of each stem's active band-frames)", title_justify="left")
    for column, justify in (("stem", "left"), ("masked", "right"), ("worst bands", "left"), ("range", "left")):
        table.add_column(column, justify=justify)
    for row in rows:
        bands = ", ".join(f"{b['band']} ({b['share']:.0%})" for b in row["worst_bands"]) or "-"
        table.add_row(row["target"], f"{row['masked_share']:.0%}", bands, row["worst_range"] or "-")
    return table


def _measure(session_path: Path, anchor: str | None, json_out: Path | None) -> int:
    from anchormix.tools import REGISTRY, ToolContext, load_session

    session = load_session(session_path, anchor)
    ctx = ToolContext(session)
    levels = REGISTRY.call("measure_loudness", {}, ctx)
    masking = [REGISTRY.call("measure_masking", {"target": n}, ctx) for n in session.names if session.active[n]]
    console.print(
        f"[bold]{session.path}[/]  {len(session.stems)} stems, {session.duration_s:.1f} s at "
        f"{session.sample_rate} Hz, genre {session.genre}, anchor [bold]{session.anchor}[/]"
    )
    if session.ignored_files:
        console.print(f"[dim]ignored (not audio): {', '.join(session.ignored_files)}[/]")
    console.print(levels_table(levels, session.reference_lu))
    console.print(masking_table(masking))
    if json_out:
        json_out.write_text(json.dumps({"levels": levels, "masking": masking}, indent=2) + "\n", encoding="utf-8")
        console.print(f"wrote {json_out}")
    return 0


def _demo(args: argparse.Namespace) -> int:
    from anchormix.tools.demo import write_demo_session

    folder = args.out / f"session-{args.genre}-seed{args.seed}"
    # Deliberately bad levels, the same every run for a given seed.
    offsets = {"vocals": -7.0, "kick": 4.0, "hats": 6.0, "keys": 5.0, "pad": -4.0, "lead": -6.0, "snare": 3.0}
    if not (folder / "session.json").exists():
        console.print(f"generating a {args.genre} demo session with spoiled levels in {folder} ...")
        write_demo_session(folder, args.genre, args.seconds, args.seed, offsets_db=offsets)
    return _measure(folder, None, None)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="anchormix",
        description="Anchor-relative mixing assistant: measures stems against an anchor (bass by default).",
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    demo = sub.add_parser("demo", help="generate a demo session and show its levels and masking",
                          epilog=EPILOG_DEMO, formatter_class=argparse.RawDescriptionHelpFormatter)
    demo.add_argument("--out", type=Path, default=Path("out/demo"), help="folder for the demo session (default: out/demo)")
    demo.add_argument("--genre", default="pop", help="genre preset: pop, edm, hiphop, ballad (default: pop)")
    demo.add_argument("--seed", type=int, default=0, help="random seed of the arrangement (default: 0)")
    demo.add_argument("--seconds", type=float, default=12.0, help="length of the song in seconds (default: 12)")

    measure = sub.add_parser("measure", help="loudness and masking of a session, relative to its anchor",
                             epilog=EPILOG_MEASURE, formatter_class=argparse.RawDescriptionHelpFormatter)
    measure.add_argument("session", type=Path, help="session folder (audio files + optional session.json)")
    measure.add_argument("--anchor", help="stem to balance against (default: session.json, else the bass stem)")
    measure.add_argument("--json", type=Path, dest="json_out", help="also write the measurements to this JSON file")
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        if args.command == "demo":
            return _demo(args)
        if args.command == "measure":
            return _measure(args.session, args.anchor, args.json_out)
    except ValueError as err:
        errors.print(f"[bold red]error:[/] {err}", highlight=False)
        return 2
    except KeyboardInterrupt:
        errors.print("interrupted")
        return 130
    return 1


if __name__ == "__main__":
    sys.exit(main())
