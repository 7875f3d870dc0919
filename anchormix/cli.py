"""The ``anchormix`` command line: the user's commands (demo, balance, measure, trace, chat) and ``main``.

Each subcommand's parser names its function (``set_defaults(func=...)``); data is anchormix/corpus_cli.py, train
anchormix/train_cli.py, eval anchormix/eval_cli.py, every table anchormix/views.py. Every command turns a bad input
into one line naming the file or argument and a non-zero exit code; no traceback reaches the user.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path

from rich.markdown import Markdown

from anchormix import corpus_cli, eval_cli, listen_cli, roles_cli, train_cli
from anchormix.agent import MAX_STEPS, balance_session
from anchormix.agent.balance import session_id
from anchormix.agent.daw import daw_formats
from anchormix.agent.trace import read_trace
from anchormix.tools.demo import write_demo_session

from .batch.jobs import run_jobs
from .batch.balance_job import BalanceJob, balance_job
from .planners import DEFAULT_PLANNER, LOOP_PLANNERS, check_planner, make_planner
from .roles import models_held
from .batch.ray_pool import run_ray_balance
from .report import write_report
from .measure_cli import EPILOG_MEASURE, measure, measure_parser
from .views import before_after_table, console, errors, say, summary_table, trace_panels

__all__ = ["main", "build_parser"]

EPILOG_DEMO = """examples:
  anchormix demo                       # pop demo with spoiled levels, balanced, in ./out/demo
  anchormix demo --genre edm --seed 3
"""
EPILOG_BALANCE = """examples:
  anchormix balance songs/* --out mixes
  anchormix balance song1 song2 --anchor kick --out mixes --jobs 2
  anchormix balance song1 --out mixes --fresh    # ignore an earlier run
  anchormix balance song1 --out mixes --strength 50   # apply half of each advised move
  anchormix balance song1 --out mixes --daw ardour,reaper   # open the balance in Ardour or REAPER
  anchormix balance songs/* --out /shared/mixes --ray --jobs 2   # on Ray (a local one here; --ray ADDRESS: a cluster)

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


def _demo(args: argparse.Namespace) -> int:
    folder = args.out / f"session-{args.genre}-seed{args.seed}"
    # Deliberately bad levels, the same every run for a given seed.
    offsets = {"vocals": -7.0, "kick": 4.0, "hats": 6.0, "keys": 5.0, "pad": -4.0, "lead": -6.0, "snare": 3.0}
    if not (folder / "session.json").exists():
        console.print(f"generating a {args.genre} demo session with spoiled levels in {folder} ...")
        write_demo_session(folder, args.genre, args.seconds, args.seed, offsets_db=offsets)
    measure(argparse.Namespace(session=folder, anchor=None, json_out=None))
    console.print(f"\nbalancing with the [bold]{args.planner}[/] planner ...")
    result = balance_session(folder, args.out / "balanced", make_planner(args.planner), fresh=True,
                             models=models_held(args.planner),
                             on_done=lambda done, session, measured: write_report(done.out_dir, done.outcome,
                                                                                 session, done.advice, measured))
    console.print(Markdown(result.advice))
    console.print(before_after_table(result.outcome))
    if args.planner != "rules":
        console.print("(this song is synthetic, mixed to the rule table's role offsets, which `--planner rules` "
                      "reproduces; the default planner is the one that comes closest to producers' own balances: "
                      "README, \"Modern productions\")", style="dim")
    console.print(f"outputs: {result.out_dir}  (mix.wav, gains.json, advice.md, trace.jsonl, report.html)")
    console.print(f"see why each gain was chosen: [bold]{_invocation()} trace {result.files['trace.jsonl']}[/]")
    console.print(f"mix it by conversation: [bold]{_invocation()} chat {folder}[/]  (F2 apply, F3 undo, Ctrl+Q quit)")
    return 0


def _invocation() -> str:
    """The command that ran us (``make demo`` runs .venv/bin/anchormix), so the hint works when pasted."""
    return sys.argv[0] if Path(sys.argv[0]).name == "anchormix" else "anchormix"


def _chat(args: argparse.Namespace) -> int:
    from anchormix.tui.app import ChatApp  # lazy: Textual takes 0.3 s to import, for this command alone
    from anchormix.tui.screenshot import screenshot  # lazy: as ChatApp

    app = ChatApp(args.session, args.out, args.anchor, args.planner, intent_model=not args.rules_only,
                  resume=not args.fresh)
    if args.screenshot:
        try:
            cols, rows = (int(v) for v in args.size.lower().split("x"))
        except ValueError:
            raise ValueError(f"--size: expected COLSxROWS such as 120x40, got '{args.size}'") from None
        path = screenshot(app, args.screenshot, args.say, (cols, rows))
        console.print(f"wrote {path}")
        return 0
    app.run()
    return app.return_code or 0


def _percent(text: str) -> float:  # argparse type of --strength: a number from 0 to 100
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"'{text}' is not a number from 0 to 100") from None
    if not 0.0 <= value <= 100.0:
        raise argparse.ArgumentTypeError(f"{text} is outside 0 to 100")
    return value


def _daw_formats(text: str) -> tuple[str, ...]:  # argparse type of --daw
    try:
        return daw_formats(text)
    except ValueError as err:
        raise argparse.ArgumentTypeError(str(err)) from None


def _balance(args: argparse.Namespace) -> int:
    ids: dict[str, Path] = {}
    for path in args.sessions:
        sid = session_id(path)
        if sid in ids:
            raise ValueError(f"{path}: has the same session id '{sid}' as {ids[sid]}; rename one folder")
        ids[sid] = path
    delay = float(os.environ.get("ANCHORMIX_STEP_DELAY_S", "0"))  # tests: widen the window to kill a run
    jobs = [BalanceJob(p, args.out.resolve(), args.planner, args.anchor, args.max_steps, args.fresh, delay, args.strength,
                       args.daw, args.report) for p in args.sessions]
    runs = run_ray_balance(jobs, args.jobs, args.ray or None) if args.ray is not None else \
        run_jobs(balance_job, jobs, args.jobs, "balancing", label=lambda job: job.path.name)
    outcomes = {job.path: outcome for job, outcome in runs}
    problems = [value for kind, value in outcomes.values() if kind == "error"]
    for kind, value in (outcomes[p] for p in args.sessions):
        if kind == "ok" and value.notice:
            say("note", value.notice, "yellow")
    rows = [(p.name, outcomes[p][1] if outcomes[p][0] == "ok" else None) for p in args.sessions]
    console.print(summary_table(rows, str(args.out)))
    for problem in problems:
        say("error", problem)
    if problems:
        errors.print(f"[bold red]{len(problems)} of {len(args.sessions)} sessions failed[/]")
    return 1 if problems else 0


def _report(args: argparse.Namespace) -> int:
    for folder in args.folders:
        console.print(f"wrote {write_report(folder)}")
    return 0


def _trace(args: argparse.Namespace) -> int:
    records = read_trace(args.file, args.step, args.tool)
    if args.json:
        for record in records:
            print(json.dumps(record))
    else:
        console.print(trace_panels(records))
    return 0


def loop_planner(name: str) -> str:
    """argparse type of ``--planner`` for the loop: a name the registry can make here."""
    try:
        return check_planner(name, LOOP_PLANNERS)
    except ValueError as err:
        raise argparse.ArgumentTypeError(str(err)) from None


def _command(sub, name: str, func, help: str, epilog: str | None = None) -> argparse.ArgumentParser:
    parser = sub.add_parser(name, help=help, epilog=epilog, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.set_defaults(func=func)
    return parser


def _planner_flag(parser: argparse.ArgumentParser, what: str = "planner") -> None:
    parser.add_argument("--planner", type=loop_planner, default=DEFAULT_PLANNER,
                        help=f"{what}: {' or '.join(LOOP_PLANNERS)} (default: {DEFAULT_PLANNER})")


def _user_parsers(sub) -> None:
    demo = _command(sub, "demo", _demo, "generate a demo session with bad levels, balance it, show the advice", EPILOG_DEMO)
    demo.add_argument("--out", type=Path, default=Path("out/demo"), help="folder for the demo session (default: out/demo)")
    demo.add_argument("--genre", default="pop", help="genre preset: pop, edm, hiphop, ballad (default: pop)")
    demo.add_argument("--seed", type=int, default=0, help="random seed of the arrangement (default: 0)")
    demo.add_argument("--seconds", type=float, default=12.0, help="length of the song in seconds (default: 12)")
    _planner_flag(demo)

    balance = _command(sub, "balance", _balance, "balance sessions against their anchor and write mixes, gains and advice",
                       EPILOG_BALANCE)
    balance.add_argument("sessions", type=Path, nargs="+", metavar="SESSION", help="stem folders, .ardour or .RPP files")
    balance.add_argument("--out", type=Path, required=True, help="output folder; each session gets OUT/<session>/")
    balance.add_argument("--anchor", help="anchor stem for every session (default: session.json, else the bass)")
    _planner_flag(balance)
    balance.add_argument("--jobs", type=int, default=1, help="sessions balanced in parallel (default: 1)")
    balance.add_argument("--max-steps", type=int, default=MAX_STEPS, help=f"planning steps before giving up ({MAX_STEPS})")
    balance.add_argument("--fresh", action="store_true", help="ignore an earlier or interrupted run and start over")
    balance.add_argument("--strength", type=_percent, default=100.0, metavar="0-100",
                         help="apply this share of each advised move to the mix (default: 100); gains.json and "
                              "advice.md give the whole advice too")
    balance.add_argument("--ray", nargs="?", const="", metavar="ADDRESS",
                         help="balance on Ray: a local Ray with --jobs workers, or the cluster at ADDRESS (auto, "
                              "ray://host:10001); OUT must be a folder every worker can reach")
    balance.add_argument("--report", action="store_true",
                         help="also write OUT/<session>/report.html (charts, masking, advice, trace, loudness-matched players)")
    balance.add_argument("--daw", type=_daw_formats, default=(), metavar="ardour,reaper",
                         help="also write each balance as an Ardour session (OUT/<session>/ardour/) and/or a REAPER "
                              "project (OUT/<session>/<session>.RPP), every fader at its gain, the sources referenced")

    report = _command(sub, "report", _report, "write report.html for a balanced session (open it in a browser)")
    report.add_argument("folders", type=Path, nargs="+", metavar="OUT/SESSION", help="folders `balance` wrote")

    trace = _command(sub, "trace", _trace, "show a trace.jsonl step by step", EPILOG_TRACE)
    trace.add_argument("file", type=Path, help="a trace.jsonl written by balance or demo")
    trace.add_argument("--step", type=int, help="only this step")
    trace.add_argument("--tool", help="only steps that used this tool (e.g. apply_gains)")
    trace.add_argument("--json", action="store_true", help="print the (filtered) records as JSON lines")

    measure_parser(_command(sub, "measure", measure, "loudness and masking of a session, relative to its anchor",
                            EPILOG_MEASURE))

    chat = _command(sub, "chat", _chat, "mix a session by conversation in a terminal app (Textual)", EPILOG_CHAT)
    chat.add_argument("session", type=Path, help="session folder, Ardour session (.ardour) or REAPER project (.RPP)")
    chat.add_argument("--anchor", help="stem to balance against (default: the conversation's, session.json, else the bass)")
    chat.add_argument("--out", type=Path, default=Path("out/chat"),
                      help="output folder; exports and the conversation go to OUT/<session>/ (default: out/chat)")
    _planner_flag(chat, 'planner for "balance"')
    chat.add_argument("--rules-only", action="store_true", help="read requests with the rules alone (no intent model)")
    chat.add_argument("--fresh", action="store_true", help="start a new conversation instead of resuming")
    chat.add_argument("--screenshot", type=Path, help="run headless, say each --say, write an SVG screenshot, exit")
    chat.add_argument("--say", action="append", default=[], help="with --screenshot: a message to send (repeatable)")
    chat.add_argument("--size", default="120x40", help="with --screenshot: terminal size COLSxROWS (default: 120x40)")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="anchormix",
        description="Anchor-relative mixing assistant: measures stems against an anchor (bass by default).",
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    _user_parsers(sub)
    corpus_cli.add_parsers(sub)
    train_cli.add_parsers(sub)
    eval_cli.add_parsers(sub)
    listen_cli.add_parsers(sub)
    roles_cli.add_parsers(sub)
    return parser


def main(argv: list[str] | None = None) -> int:
    try:
        args = build_parser().parse_args(argv)
    except SystemExit as exit_:  # a usage error (argparse printed it) or --help
        return exit_.code if isinstance(exit_.code, int) else 2
    try:
        return args.func(args)
    except ValueError as err:
        say("error", err)
        return 2
    except OSError as err:  # a full or read-only disk, a vanished folder: one line, the path and the reason
        where = f"{err.filename}: " if err.filename else ""
        say("error", f"{where}{err.strerror or err}")
        return 1
    except KeyboardInterrupt:
        errors.print("interrupted")
        return 130


if __name__ == "__main__":
    sys.exit(main())
