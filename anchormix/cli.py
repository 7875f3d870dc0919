"""The ``anchormix`` command line.

Every command turns a bad input into one line naming the file or argument and
a non-zero exit code; no traceback reaches the user.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path

from rich.console import Console
from rich.markdown import Markdown
from rich.table import Table

from anchormix import data_cli
from anchormix import DEFAULT_PLANNER

__all__ = ["main"]

console = Console()
errors = Console(stderr=True)

EPILOG_DEMO = """examples:
  anchormix demo                       # pop demo with spoiled levels, balanced, in ./out/demo
  anchormix demo --genre edm --seed 3
"""
EPILOG_BALANCE = """examples:
  anchormix balance songs/* --out mixes
  anchormix balance song1 song2 --anchor kick --out mixes --jobs 2
  anchormix balance song1 --out mixes --fresh    # ignore an earlier run

An interrupted run resumes from its last step when run again with the same --out.
Exit code 1 if any session failed (the others still finish).
"""
EPILOG_TRACE = """examples:
  anchormix trace mixes/song1/trace.jsonl
  anchormix trace mixes/song1/trace.jsonl --tool apply_gains
  anchormix trace mixes/song1/trace.jsonl --step 3 --json
"""
EPILOG_CHAT = """examples:
  anchormix chat out/demo/session-pop-seed0
  anchormix chat songs/song1 --anchor kick --out mixes
  anchormix chat out/demo/session-pop-seed0 --screenshot docs/chat.svg --say "balance" --say "apply"

Type requests ("balance", "vocals a bit louder", "why did you cut the keys?", "what's masking the vocal?",
"undo", "use the kick as anchor", "export the mix"); F2 apply, F3 undo, F4 redo, F5 anchor, F6 export,
F7 trace, Ctrl+Q quit. Reopening the same session with the same --out resumes the conversation.
"""
EPILOG_MEASURE = """examples:
  anchormix measure path/to/session
  anchormix measure path/to/session --anchor kick --json levels.json
"""


def _fmt(value: float | None, unit: str = "", signed: bool = False) -> str:
    if value is None:
        return "silent"
    value = round(value, 1) + 0.0  # no "-0.0"
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
    for warning in session.warnings:
        console.print(f"[yellow]note:[/] {warning}", highlight=False)
    console.print(levels_table(levels, session.reference_lu))
    console.print(masking_table(masking))
    if json_out:
        json_out.write_text(json.dumps({"levels": levels, "masking": masking}, indent=2) + "\n", encoding="utf-8")
        console.print(f"wrote {json_out}")
    return 0


def _demo(args: argparse.Namespace) -> int:
    from anchormix.agent import balance_session
    from anchormix.tools.demo import write_demo_session

    folder = args.out / f"session-{args.genre}-seed{args.seed}"
    # Deliberately bad levels, the same every run for a given seed.
    offsets = {"vocals": -7.0, "kick": 4.0, "hats": 6.0, "keys": 5.0, "pad": -4.0, "lead": -6.0, "snare": 3.0}
    if not (folder / "session.json").exists():
        console.print(f"generating a {args.genre} demo session with spoiled levels in {folder} ...")
        write_demo_session(folder, args.genre, args.seconds, args.seed, offsets_db=offsets)
    _measure(folder, None, None)
    console.print(f"\nbalancing with the [bold]{args.planner}[/] planner ...")
    result = balance_session(folder, args.out / "balanced", args.planner, fresh=True)
    console.print(Markdown(result.advice))
    console.print(before_after_table(result))
    console.print(f"outputs: {result.out_dir}  (mix.wav, gains.json, advice.md, trace.jsonl)")
    console.print(f"see why each gain was chosen: [bold]{_invocation()} trace {result.files['trace.jsonl']}[/]")
    console.print(f"mix it by conversation: [bold]{_invocation()} chat {folder}[/]  (F2 apply, F3 undo, Ctrl+Q quit)")
    return 0


def _invocation() -> str:
    """The command that ran us (``make demo`` runs .venv/bin/anchormix), so the hint works when pasted."""
    return sys.argv[0] if Path(sys.argv[0]).name == "anchormix" else "anchormix"


def _chat(args: argparse.Namespace) -> int:
    from anchormix.agent.planners import check_planner
    from anchormix.tui.app import ChatApp

    check_planner(args.planner)
    app = ChatApp(args.session, args.out, args.anchor, args.planner, intent_model=not args.rules_only,
                  resume=not args.fresh)
    if args.screenshot:
        from anchormix.tui.screenshot import screenshot

        try:
            cols, rows = (int(v) for v in args.size.lower().split("x"))
        except ValueError:
            raise ValueError(f"--size: expected COLSxROWS such as 120x40, got '{args.size}'") from None
        path = screenshot(app, args.screenshot, args.say, (cols, rows))
        console.print(f"wrote {path}")
        return 0
    app.run()
    return app.return_code or 0


def before_after_table(result) -> Table:
    """Levels against the anchor before and after a balance (and the reference when known)."""
    reference = result.reference_lu
    table = Table(title=f"{result.session_id}: levels against the anchor (LU)", title_justify="left")
    for column in ("stem", "before", "move", "after") + (("reference",) if reference else ()):
        table.add_column(column, justify="left" if column == "stem" else "right")
    for name, before in result.lu_vs_anchor_before.items():
        after = result.lu_vs_anchor_after.get(name)
        row = [name, _fmt(before, signed=True), _fmt(result.gains_vs_anchor_db.get(name, 0.0), " dB", signed=True),
               _fmt(after, signed=True)]
        if reference:
            row.append(_fmt(reference[name], signed=True) if name in reference else "-")
        table.add_row(*row)
    if result.error_db:
        table.caption = (f"mean error vs. reference: {result.error_db['before']:.1f} dB before, "
                         f"{result.error_db['after']:.1f} dB after")
    return table


def _balance_one(job: tuple) -> tuple[str, object]:
    """Worker: balance one session; never raises (a failure is a row in the summary)."""
    from anchormix.agent import balance_session

    path, out, planner, anchor, max_steps, fresh, delay = job
    try:
        return "ok", balance_session(path, out, planner, anchor, max_steps, fresh, step_delay_s=delay)
    except ValueError as err:
        return "error", str(err)
    except OSError as err:  # full or read-only disk: the path and the reason
        return "error", f"{err.filename or path}: {err.strerror or err}"
    except Exception as err:  # a bug must not take the other sessions down
        return "error", f"{path}: internal error ({type(err).__name__}: {err})"


def _balance(args: argparse.Namespace) -> int:
    import multiprocessing
    from concurrent.futures import ProcessPoolExecutor, as_completed

    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

    from anchormix.agent.planners import check_planner
    from anchormix.agent.runner import session_id

    check_planner(args.planner)  # a bad --planner is a usage error before any work
    ids: dict[str, Path] = {}
    for path in args.sessions:
        sid = session_id(path)
        if sid in ids:
            raise ValueError(f"{path}: has the same session id '{sid}' as {ids[sid]}; rename one folder")
        ids[sid] = path
    delay = float(os.environ.get("ANCHORMIX_STEP_DELAY_S", "0"))  # tests: widen the window to kill a run
    jobs = [(p, args.out, args.planner, args.anchor, args.max_steps, args.fresh, delay) for p in args.sessions]
    outcomes: dict[Path, tuple[str, object]] = {}
    columns = (TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn())
    with Progress(*columns, console=errors, transient=False) as progress:
        task = progress.add_task("balancing", total=len(jobs))
        if args.jobs <= 1:
            for job in jobs:
                progress.update(task, description=f"balancing {job[0].name}")
                outcomes[job[0]] = _balance_one(job)
                progress.advance(task)
        else:
            # spawn, not fork: a forked child of a process that has run torch (OpenMP threads) can deadlock.
            with ProcessPoolExecutor(max_workers=args.jobs, mp_context=multiprocessing.get_context("spawn")) as pool:
                futures = {pool.submit(_balance_one, job): job[0] for job in jobs}
                for future in as_completed(futures):
                    outcomes[futures[future]] = future.result()
                    progress.advance(task)
    return _summary(args.sessions, outcomes, args.out)


def _summary(sessions: list[Path], outcomes: dict, out: Path) -> int:
    table = Table(title=f"Balance summary (outputs in {out}/<session>/)", title_justify="left")
    for column in ("session", "result", "steps", "largest moves vs anchor (dB)", "error vs reference"):
        table.add_column(column)
    problems = []
    for path in sessions:
        kind, value = outcomes[path]
        if kind == "error":
            problems.append(str(value))
            table.add_row(path.name, "[red]failed[/]", "-", "-", "-")
            continue
        moves = sorted(((n, g) for n, g in value.gains_vs_anchor_db.items() if abs(g) >= 0.05), key=lambda m: -abs(m[1]))
        error = f"{value.error_db['before']:.1f} -> {value.error_db['after']:.1f} dB" if value.error_db else "-"
        status = value.status + (" (resumed)" if value.resumed else "")
        if value.notice:
            errors.print(f"[yellow]note:[/] {value.notice}", highlight=False, soft_wrap=True)
        table.add_row(path.name, status, str(value.iterations), ", ".join(f"{n} {g:+.1f}" for n, g in moves[:3]) or "none", error)
    console.print(table)
    for problem in problems:
        errors.print(f"[bold red]error:[/] {problem}", highlight=False, soft_wrap=True)
    if problems:
        errors.print(f"[bold red]{len(problems)} of {len(sessions)} sessions failed[/]")
    return 1 if problems else 0


def _trace(args: argparse.Namespace) -> int:
    from anchormix.agent.trace import read_trace, render_trace

    records = read_trace(args.file, args.step, args.tool)
    if args.json:
        for record in records:
            print(json.dumps(record))
    else:
        console.print(render_trace(records))
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="anchormix",
        description="Anchor-relative mixing assistant: measures stems against an anchor (bass by default).",
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    demo = sub.add_parser("demo", help="generate a demo session with bad levels, balance it, show the advice",
                          epilog=EPILOG_DEMO, formatter_class=argparse.RawDescriptionHelpFormatter)
    demo.add_argument("--out", type=Path, default=Path("out/demo"), help="folder for the demo session (default: out/demo)")
    demo.add_argument("--genre", default="pop", help="genre preset: pop, edm, hiphop, ballad (default: pop)")
    demo.add_argument("--seed", type=int, default=0, help="random seed of the arrangement (default: 0)")
    demo.add_argument("--seconds", type=float, default=12.0, help="length of the song in seconds (default: 12)")
    demo.add_argument("--planner", default=DEFAULT_PLANNER, help=f"planner: rules or alm (default: {DEFAULT_PLANNER})")

    balance = sub.add_parser("balance", help="balance sessions against their anchor and write mixes, gains and advice",
                             epilog=EPILOG_BALANCE, formatter_class=argparse.RawDescriptionHelpFormatter)
    balance.add_argument("sessions", type=Path, nargs="+", metavar="SESSION", help="session folders")
    balance.add_argument("--out", type=Path, required=True, help="output folder; each session gets OUT/<session>/")
    balance.add_argument("--anchor", help="anchor stem for every session (default: session.json, else the bass)")
    balance.add_argument("--planner", default=DEFAULT_PLANNER, help=f"planner: rules or alm (default: {DEFAULT_PLANNER})")
    balance.add_argument("--jobs", type=int, default=1, help="sessions balanced in parallel (default: 1)")
    balance.add_argument("--max-steps", type=int, default=16, help="planning steps per session before giving up (default: 16)")
    balance.add_argument("--fresh", action="store_true", help="ignore an earlier or interrupted run and start over")

    trace = sub.add_parser("trace", help="show a trace.jsonl step by step",
                           epilog=EPILOG_TRACE, formatter_class=argparse.RawDescriptionHelpFormatter)
    trace.add_argument("file", type=Path, help="a trace.jsonl written by balance or demo")
    trace.add_argument("--step", type=int, help="only this step")
    trace.add_argument("--tool", help="only steps that used this tool (e.g. apply_gains)")
    trace.add_argument("--json", action="store_true", help="print the (filtered) records as JSON lines")

    measure = sub.add_parser("measure", help="loudness and masking of a session, relative to its anchor",
                             epilog=EPILOG_MEASURE, formatter_class=argparse.RawDescriptionHelpFormatter)
    measure.add_argument("session", type=Path, help="session folder (audio files + optional session.json)")
    measure.add_argument("--anchor", help="stem to balance against (default: session.json, else the bass stem)")
    measure.add_argument("--json", type=Path, dest="json_out", help="also write the measurements to this JSON file")
    chat = sub.add_parser("chat", help="mix a session by conversation in a terminal app (Textual)",
                          epilog=EPILOG_CHAT, formatter_class=argparse.RawDescriptionHelpFormatter)
    chat.add_argument("session", type=Path, help="session folder")
    chat.add_argument("--anchor", help="stem to balance against (default: the conversation's, session.json, else the bass)")
    chat.add_argument("--out", type=Path, default=Path("out/chat"),
                      help="output folder; exports and the conversation go to OUT/<session>/ (default: out/chat)")
    chat.add_argument("--planner", default=DEFAULT_PLANNER,
                      help=f"planner for \"balance\": rules or alm (default: {DEFAULT_PLANNER})")
    chat.add_argument("--rules-only", action="store_true", help="read requests with the rules alone (no intent model)")
    chat.add_argument("--fresh", action="store_true", help="start a new conversation instead of resuming")
    chat.add_argument("--screenshot", type=Path, help="run headless, say each --say, write an SVG screenshot, exit")
    chat.add_argument("--say", action="append", default=[], help="with --screenshot: a message to send (repeatable)")
    chat.add_argument("--size", default="120x40", help="with --screenshot: terminal size COLSxROWS (default: 120x40)")
    data_cli.add_parsers(sub)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        if args.command == "demo":
            return _demo(args)
        if args.command == "measure":
            return _measure(args.session, args.anchor, args.json_out)
        if args.command == "balance":
            return _balance(args)
        if args.command == "trace":
            return _trace(args)
        if args.command == "chat":
            return _chat(args)
        if args.command in ("data", "eval", "train"):
            return data_cli.run(args)
    except ValueError as err:
        errors.print(f"[bold red]error:[/] {err}", highlight=False, soft_wrap=True)
        return 2
    except OSError as err:  # a full or read-only disk, a vanished folder: one line, the path and the reason
        where = f"{err.filename}: " if err.filename else ""
        errors.print(f"[bold red]error:[/] {where}{err.strerror or err}", highlight=False, soft_wrap=True)
        return 1
    except KeyboardInterrupt:
        errors.print("interrupted")
        return 130
    return 1


if __name__ == "__main__":
    sys.exit(main())
