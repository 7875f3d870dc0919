"""``anchormix listen build|serve|analyse``: the listening-test kit's commands (anchormix/listen/)."""

from __future__ import annotations

import argparse
from pathlib import Path

from .listen.server import make_server
from .listen.stimuli import CONDITIONS, build_test
from .views import console

__all__ = ["add_parsers"]

EPILOG = """examples:
  anchormix listen build songs/* --conditions reference,alm,rules,loudness,none --out test1
  anchormix listen serve test1 --port 8000          # listeners open http://localhost:8000
  anchormix listen analyse test1                    # test1/analysis.md, analysis.json, analysis.svg
  anchormix listen analyse test1 --genres pop edm   # the same for some genres (or --sessions NAME ...)
"""


def add_parsers(sub) -> None:
    listen = sub.add_parser("listen", help="a MUSHRA listening test of balances and advice: build, serve, analyse",
                            epilog=EPILOG, formatter_class=argparse.RawDescriptionHelpFormatter)
    lsub = listen.add_subparsers(dest="listen_command", required=True, metavar="{build,serve,analyse}")
    build = lsub.add_parser("build", help="render the stimuli (loudness-matched) and test.json")
    build.set_defaults(func=_build)
    build.add_argument("sessions", type=Path, nargs="+", metavar="SESSION", help="session folders (the hidden reference: their reference_lu, else their levels as delivered)")
    build.add_argument("--conditions", default="reference,alm,rules,loudness,none",
                       help=f"comma-separated, of {', '.join(CONDITIONS)}; the hidden reference and the low anchor "
                            "(the flat start) are always in")
    build.add_argument("--out", type=Path, required=True, help="the test's folder")
    build.add_argument("--excerpt", type=float, default=12.0, help="seconds per excerpt (default: 12; BS.1534: 10-15)")
    serve = lsub.add_parser("serve", help="serve the test on localhost; answers go to TEST/answers.sqlite")
    serve.set_defaults(func=_serve)
    serve.add_argument("test", type=Path, metavar="TEST")
    serve.add_argument("--port", type=int, default=8000)
    serve.add_argument("--host", default="127.0.0.1", help="127.0.0.1 (default: this machine only) or 0.0.0.0")
    analyse_ = lsub.add_parser("analyse", help="post-screening, means with 95 %% CIs, Wilcoxon tests, advice ratings")
    analyse_.set_defaults(func=_analyse)
    analyse_.add_argument("test", type=Path, metavar="TEST")
    analyse_.add_argument("--sessions", nargs="+", help="only these sessions' trials")
    analyse_.add_argument("--genres", nargs="+", help="only these genres' trials")


def _build(args: argparse.Namespace) -> int:
    path = build_test(args.sessions, [c.strip() for c in args.conditions.split(",") if c.strip()], args.out, args.excerpt)
    console.print(f"wrote {path}; serve it: anchormix listen serve {args.out}")
    return 0


def _serve(args: argparse.Namespace) -> int:
    server = make_server(args.test, args.port, args.host)
    console.print(f"listening test on http://{args.host}:{server.server_address[1]}/ (Ctrl+C stops; answers in "
                  f"{args.test / 'answers.sqlite'})")
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass
    return 0


def _analyse(args: argparse.Namespace) -> int:
    from .listen.analysis import analyse  # lazy: scipy.stats takes 0.8 s to import, for this command alone

    result = analyse(args.test, args.sessions, args.genres)
    console.print((args.test / "analysis.md").read_text(encoding="utf-8"), markup=False, highlight=False)
    console.print(f"wrote {args.test / 'analysis.json'}, analysis.md, analysis.svg ({result['listeners']} listeners)")
    return 0
