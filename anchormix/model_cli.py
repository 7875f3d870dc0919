"""``anchormix data ...``, ``anchormix train`` and ``anchormix eval``: the commands that build the corpus, train
the model and measure it. (The user's commands are in anchormix/cli.py; every table in anchormix/views.py.)
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import time
from pathlib import Path

from anchormix.model.baselines import CONVENTIONS_FILE, conventions_table
from anchormix.model.corpus import (DEBIAN_MIDI_PACKAGES, build_midi_session, build_procedural_session,
                                    debian_midi_dirs, find_sessions, load_manifest, missing_debian_packages,
                                    write_manifest)
from anchormix.model.evaluate import run_agent_protocol, run_protocol, summarise
from anchormix.model.features import cached_features
from anchormix.tools import load_session
from anchormix.tools.audio import write_text_atomic
from anchormix.tools.demo import PRESETS

from .jobs import run_jobs
from .planners import LOOP_PLANNERS, PREDICTORS, check_planner, make_predictor, planner_factory
from .views import agent_eval_table, console, conventions_table_view, corpus_table, eval_tables, progress

__all__ = ["add_parsers"]

EPILOG_DATA = """examples:
  anchormix data midi --debian --out corpus            # Debian's MIDI packages (asks for apt-get if missing)
  anchormix data midi --debian --install --out corpus  # ... and installs them (root)
  anchormix data midi --midi ~/midi --out corpus --seconds 30 --jobs 2
  anchormix data procedural --out corpus --count 40
  anchormix data stats --sessions corpus
"""
EPILOG_EVAL = """examples:
  anchormix eval --sessions corpus --split test --planner none,loudness,conventions,rules --draws 5 --seed 0
  anchormix eval --sessions my_sessions --planner loudness,rules --conventions corpus/conventions.json
  anchormix eval --sessions corpus --split test --agent --planner rules,alm
"""


def add_parsers(sub) -> None:
    """The ``data``, ``train`` and ``eval`` subcommands, each parser naming its function."""
    _data_parsers(sub)
    _train_parser(sub)
    _eval_parser(sub)


def _data_parsers(sub) -> None:
    data = sub.add_parser("data", help="build the training corpus and its statistics", epilog=EPILOG_DATA,
                          formatter_class=argparse.RawDescriptionHelpFormatter)
    dsub = data.add_subparsers(dest="data_command", required=True, metavar="SUBCOMMAND")
    midi = dsub.add_parser("midi", help="render MIDI arrangements per instrument into sessions", epilog=EPILOG_DATA,
                           formatter_class=argparse.RawDescriptionHelpFormatter)
    midi.set_defaults(func=_data_midi)
    midi.add_argument("--midi", type=Path, nargs="*", default=[], help="folders searched for .mid/.midi files")
    midi.add_argument("--debian", action="store_true", help="also use the Debian MIDI packages (openttd-openmsx, ...)")
    midi.add_argument("--install", action="store_true", help="apt-get install what --debian needs (root)")
    midi.add_argument("--soundfont", type=Path, help="GM soundfont (default: Debian's FluidR3_GM.sf2)")
    midi.add_argument("--out", type=Path, required=True, help="corpus folder (one folder per session + manifest.json)")
    midi.add_argument("--seconds", type=float, default=30.0, help="excerpt length (default: 30)")
    midi.add_argument("--sample-rate", type=int, default=22050, help="render rate in Hz (default: 22050)")
    midi.add_argument("--jobs", type=int, default=2, help="songs rendered in parallel (default: 2)")
    proc = dsub.add_parser("procedural", help="add procedural demo-generator songs to a corpus")
    proc.set_defaults(func=_data_procedural)
    proc.add_argument("--out", type=Path, required=True, help="corpus folder")
    proc.add_argument("--count", type=int, default=40, help="number of songs, cycling through the genres (default: 40)")
    proc.add_argument("--seconds", type=float, default=30.0, help="song length (default: 30)")
    proc.add_argument("--sample-rate", type=int, default=22050, help="sample rate (default: 22050)")
    proc.add_argument("--jobs", type=int, default=2, help="songs generated in parallel (default: 2)")
    stats = dsub.add_parser("stats", help="per-role offsets from the bass on the train split (the conventions table)")
    stats.set_defaults(func=_stats)
    stats.add_argument("--sessions", type=Path, required=True, help="corpus folder")
    feats = dsub.add_parser("features", help="build or refresh the log-mel feature cache")
    feats.set_defaults(func=_data_features)
    feats.add_argument("--sessions", type=Path, required=True, help="corpus folder")


def _train_parser(sub) -> None:
    tr = sub.add_parser("train", help="train the ALM on a corpus (Accelerate; CPU or GPU)",
                        epilog="examples:\n  anchormix train --config model/conf/alm_listener.yaml   (the shipped run)\n"
                               "  anchormix train --config model/conf/alm_listener.yaml --steps 20 --out /tmp/alm\n"
                               "  anchormix train --intents\n",
                        formatter_class=argparse.RawDescriptionHelpFormatter)
    tr.set_defaults(func=_train)
    tr.add_argument("--config", type=Path, help="YAML training config (model/conf/...: the ALM's, or with --intents "
                    "the intent model's)")
    tr.add_argument("--intents", action="store_true",
                    help="train the conversation's intent model instead (model/intent_model.py, its config "
                         "model/conf/intent.yaml unless --config; ~5 min on 2 CPU cores)")
    tr.add_argument("--steps", type=int, help="override the config's steps")
    tr.add_argument("--out", help="override the config's output folder")


def _eval_parser(sub) -> None:
    ev = sub.add_parser("eval", help="AnchorBalance protocol: planners side by side on the same draws",
                        epilog=EPILOG_EVAL, formatter_class=argparse.RawDescriptionHelpFormatter)
    ev.set_defaults(func=_eval)
    ev.add_argument("--sessions", type=Path, required=True, help="folder of sessions (a corpus or your own)")
    ev.add_argument("--split", default="test",
                    help="train, valid, test, or all (default: test); a folder without a manifest is evaluated whole")
    ev.add_argument("--planner", help="comma-separated: none, loudness, conventions, rules, alm; ablations of the "
                    "same weights: alm-text (the numbers as its LM writes them), alm-listener (the listener alone, "
                    "no LLM), alm-nogenre (genre withheld). Default: none,loudness,conventions,rules; "
                    "with --agent: rules,alm")
    ev.add_argument("--draws", type=int, default=5, help="random perturbations per session (default: 5)")
    ev.add_argument("--seed", type=int, default=0, help="seed of the perturbations (default: 0)")
    ev.add_argument("--conventions", type=Path, help="conventions table (default: SESSIONS/conventions.json or the train split)")
    ev.add_argument("--limit", type=int, help="evaluate at most this many sessions")
    ev.add_argument("--checkpoint", type=Path, help="ALM checkpoint for alm and its ablations (default: the shipped one)")
    ev.add_argument("--json", type=Path, dest="json_out", help="write the metrics to this JSON file")
    ev.add_argument("--agent", action="store_true",
                    help="run the whole agent loop per draw (planners: rules, alm) and report iterations, "
                         "convergence and tool calls")
    ev.add_argument("--max-steps", type=int, default=16, help="step cap of the loop with --agent (default: 16)")


def _build_one(job: tuple) -> tuple[str, object]:
    """Worker: one corpus session; never raises (a song that cannot be built is skipped with its reason)."""
    kind, args = job
    try:
        entry = build_midi_session(*args) if kind == "midi" else build_procedural_session(*args)
        return "ok", entry
    except ValueError as err:
        return "skip", str(err)
    except Exception as err:  # one bad song must not stop the corpus
        return "skip", f"{args[0]}: internal error ({type(err).__name__}: {err})"


def _build(jobs: list[tuple], out: Path, workers: int) -> None:
    manifest = load_manifest(out)
    started = time.perf_counter()
    for job, (kind, value) in run_jobs(_build_one, jobs, max(1, workers), "building sessions"):
        source = str(job[1][0])
        if kind == "ok":
            manifest["sessions"][value["id"]] = value
            manifest["skipped"].pop(source, None)
        else:
            manifest["skipped"][source] = value
    write_manifest(out, manifest)
    _features(out)
    entries = sorted(manifest["sessions"].values(), key=lambda e: e["id"])
    console.print(corpus_table(f"corpus {out}: {len(entries)} sessions", entries))
    counts = {s: sum(e["split"] == s for e in entries) for s in ("train", "valid", "test")}
    console.print(f"splits {counts}; {len(manifest['skipped'])} skipped (reasons in manifest.json); "
                  f"built in {time.perf_counter() - started:.0f} s")


def _features(root: Path) -> None:
    for folder, _ in find_sessions(root, None):
        cached_features(load_session(folder), root / "features")


def _install_debian(packages: list[str], install: bool) -> None:
    """apt-get the missing Debian packages when ``--install`` (as root); otherwise say how."""
    command = "apt-get install -y " + " ".join(packages)
    if not install:
        raise ValueError(f"Debian packages missing: {' '.join(packages)}; run `{command}` "
                         "(or pass --install to let anchormix run it as root)")
    if os.geteuid() != 0:
        raise ValueError(f"--install needs root; run `sudo {command}`")
    subprocess.run(["apt-get", "update", "-qq"], check=True)
    subprocess.run(command.split(), check=True, env={**os.environ, "DEBIAN_FRONTEND": "noninteractive"})


def _data_midi(args: argparse.Namespace) -> int:
    sources = [(None, d) for d in args.midi]
    if args.debian:
        missing = missing_debian_packages()
        if missing:
            _install_debian(missing, args.install)
        sources += debian_midi_dirs()
    if not sources:
        raise ValueError("data midi: give --midi DIR and/or --debian (packages: " + ", ".join(DEBIAN_MIDI_PACKAGES) + ")")
    jobs = []
    for package, folder in sources:
        if not Path(folder).is_dir():
            raise ValueError(f"{folder}: not a folder")
        for path in sorted(p for p in Path(folder).rglob("*") if p.suffix.lower() in (".mid", ".midi")):
            jobs.append(("midi", (path, args.out, args.soundfont, args.seconds, args.sample_rate,
                                  package or Path(folder).name)))
    if not jobs:
        raise ValueError(f"no .mid files under {', '.join(str(f) for _, f in sources)}")
    _build(jobs, args.out, args.jobs)
    return 0


def _data_procedural(args: argparse.Namespace) -> int:
    genres = sorted(PRESETS)
    jobs = [("procedural", (args.out, genres[i % len(genres)], i, args.seconds, args.sample_rate))
            for i in range(args.count)]
    _build(jobs, args.out, args.jobs)
    return 0


def _data_features(args: argparse.Namespace) -> int:
    _features(args.sessions)
    console.print(f"feature cache up to date in {args.sessions / 'features'}")
    return 0


def _stats(args: argparse.Namespace) -> int:
    table = conventions_table(args.sessions)
    path = write_text_atomic(args.sessions / CONVENTIONS_FILE, json.dumps(table, indent=2) + "\n")
    console.print(conventions_table_view(table))
    console.print(f"wrote {path}")
    return 0


def _train(args: argparse.Namespace) -> int:
    if args.intents:
        from anchormix.model.intent_model import (DEFAULT_INTENT_CHECKPOINT, IntentConfig,  # lazy: loads torch
                                                  train_intents)

        out = Path(args.out) / "intent.safetensors" if args.out else DEFAULT_INTENT_CHECKPOINT
        config = IntentConfig.from_yaml(args.config) if args.config else IntentConfig.from_yaml()
        train_intents(config, out, log=lambda line: console.print(line, highlight=False))
        console.print(f"wrote {out}")
        return 0
    from anchormix.model.train import TrainConfig, train  # lazy: loads torch and the LLM

    if args.config is None:
        raise ValueError("train: give --config model/conf/<name>.yaml (the ALM) or --intents")
    config = TrainConfig.from_yaml(args.config)
    config.steps = args.steps if args.steps is not None else config.steps
    config.out = args.out or config.out
    summary = train(config, log=lambda line: console.print(line, highlight=False))
    console.print(f"trained {config.steps} steps in {summary['wall_s']:.0f} s on {summary['device']}; "
                  f"checkpoint {config.out}/alm.safetensors")
    return 0


def _planner_names(args: argparse.Namespace, default: str) -> list[str]:
    return [p.strip() for p in (args.planner or default).split(",") if p.strip()]


def _flagged(flag: str, make, *values):
    """``make(*values)``, its ValueError said as a usage error of ``flag``."""
    try:
        return make(*values)
    except ValueError as err:
        raise ValueError(f"{flag}: {err}") from None


def _eval_agent(args: argparse.Namespace, sessions: list[tuple[Path, str]], names: list[str]) -> int:
    factories = {name: _flagged("--planner", planner_factory, name, args.checkpoint) for name in names}
    with progress() as bar:
        task = bar.add_task("balancing", total=len(sessions))
        result = run_agent_protocol(sessions, factories, args.draws, args.seed, args.max_steps,
                                    lambda _: bar.advance(task))
    title = (f"Agent loop on {args.sessions} split={args.split}: {len(sessions)} sessions x {args.draws} draws, "
             f"seed {args.seed}, step cap {args.max_steps}")
    summaries = {name: result.summary(name) for name in names}
    console.print(agent_eval_table(title, summaries))
    console.print("iterations: planner calls per balance; tool calls: registry calls the planner chose "
                  "(apply_gains, measure_masking, ...), listens not counted", style="dim")
    if args.json_out:
        body = {"sessions": len(sessions), "draws": args.draws, "seed": args.seed, "split": args.split,
                "summary": summaries, "runs": result.runs}
        write_text_atomic(args.json_out, json.dumps(body, indent=2) + "\n")
        console.print(f"wrote {args.json_out}")
    return 0


def _eval(args: argparse.Namespace) -> int:
    choices = LOOP_PLANNERS if args.agent else PREDICTORS
    names = _planner_names(args, ",".join(LOOP_PLANNERS) if args.agent else "none,loudness,conventions,rules")
    for name in names:  # every name checked before any work
        _flagged("--planner", check_planner, name, choices, args.checkpoint)
    sessions = find_sessions(args.sessions, None if args.split == "all" else args.split)[: args.limit]
    if args.agent:
        return _eval_agent(args, sessions, names)
    predictors = {name: _flagged("--planner", make_predictor, name, args.sessions, args.conventions, args.checkpoint)
                  for name in names}
    with progress() as bar:
        task = bar.add_task("evaluating", total=len(sessions))
        result = run_protocol(sessions, predictors, args.draws, args.seed, lambda _: bar.advance(task))
    overall = {p: summarise(result.errors.get(p, [])) for p in names}
    title = (f"AnchorBalance on {args.sessions} split={args.split}: {result.sessions} sessions x {args.draws} draws, "
             f"seed {args.seed}")
    for table in eval_tables(title, names, overall, {"role": result.by_role, "genre": result.by_genre}, summarise):
        console.print(table)
    if args.json_out:
        body = {"sessions": result.sessions, "draws": args.draws, "seed": args.seed, "split": args.split,
                "overall": overall,
                "by_role": {p: {k: summarise(v) for k, v in result.by_role[p].items()} for p in names},
                "by_genre": {p: {k: summarise(v) for k, v in result.by_genre[p].items()} for p in names}}
        write_text_atomic(args.json_out, json.dumps(body, indent=2) + "\n")
        console.print(f"wrote {args.json_out}")
    return 0
