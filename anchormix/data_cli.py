"""``anchormix data ...`` and ``anchormix eval``: build the corpus, its statistics, and the benchmark table."""

from __future__ import annotations

import argparse
import json
import time
import multiprocessing
from concurrent.futures import ProcessPoolExecutor, as_completed
from pathlib import Path

from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

__all__ = ["add_parsers", "run"]

console = Console()
errors = Console(stderr=True)

EPILOG_DATA = """examples:
  anchormix data midi --debian --out corpus            # Debian's MIDI packages (asks for apt-get if missing)
  anchormix data midi --debian --install --out corpus  # ... and installs them (root)
  anchormix data midi --midi ~/midi --out corpus --seconds 30 --jobs 2
  anchormix data procedural --out corpus --count 40
  anchormix data stats --sessions corpus
"""
EPILOG_EVAL = """examples:
  anchormix eval --sessions corpus --split test --planner none,loudness,conventions,rules --draws 5 --seed 0
  anchormix eval --sessions my_sessions --split all --planner loudness,rules --conventions corpus/conventions.json
"""


def add_parsers(sub) -> None:
    data = sub.add_parser("data", help="build the training corpus and its statistics", epilog=EPILOG_DATA,
                          formatter_class=argparse.RawDescriptionHelpFormatter)
    dsub = data.add_subparsers(dest="data_command", required=True, metavar="SUBCOMMAND")
    midi = dsub.add_parser("midi", help="render MIDI arrangements per instrument into sessions", epilog=EPILOG_DATA,
                           formatter_class=argparse.RawDescriptionHelpFormatter)
    midi.add_argument("--midi", type=Path, nargs="*", default=[], help="folders searched for .mid/.midi files")
    midi.add_argument("--debian", action="store_true", help="also use the Debian MIDI packages (openttd-openmsx, ...)")
    midi.add_argument("--install", action="store_true", help="apt-get install what --debian needs (root)")
    midi.add_argument("--soundfont", type=Path, help="GM soundfont (default: Debian's FluidR3_GM.sf2)")
    midi.add_argument("--out", type=Path, required=True, help="corpus folder (one folder per session + manifest.json)")
    midi.add_argument("--seconds", type=float, default=30.0, help="excerpt length (default: 30)")
    midi.add_argument("--sample-rate", type=int, default=22050, help="render rate in Hz (default: 22050)")
    midi.add_argument("--jobs", type=int, default=2, help="songs rendered in parallel (default: 2)")
    proc = dsub.add_parser("procedural", help="add procedural demo-generator songs to a corpus")
    proc.add_argument("--out", type=Path, required=True, help="corpus folder")
    proc.add_argument("--count", type=int, default=40, help="number of songs, cycling through the genres (default: 40)")
    proc.add_argument("--seconds", type=float, default=30.0, help="song length (default: 30)")
    proc.add_argument("--sample-rate", type=int, default=22050, help="sample rate (default: 22050)")
    proc.add_argument("--jobs", type=int, default=2, help="songs generated in parallel (default: 2)")
    stats = dsub.add_parser("stats", help="per-role offsets from the bass on the train split (the conventions table)")
    stats.add_argument("--sessions", type=Path, required=True, help="corpus folder")
    feats = dsub.add_parser("features", help="build or refresh the log-mel feature cache")
    feats.add_argument("--sessions", type=Path, required=True, help="corpus folder")

    tr = sub.add_parser("train", help="train the ALM on a corpus (Accelerate; CPU or GPU)",
                        epilog="examples:\n  anchormix train --config model/conf/alm_listener.yaml   (the shipped run)\n"
                               "  anchormix train --config model/conf/alm_listener.yaml --steps 20 --out /tmp/alm\n"
                               "  anchormix train --intents\n",
                        formatter_class=argparse.RawDescriptionHelpFormatter)
    tr.add_argument("--config", type=Path, help="YAML training config of the ALM (model/conf/...)")
    tr.add_argument("--intents", action="store_true",
                    help="train the conversation's intent model instead (model/intents.py; ~5 min on 2 CPU cores)")
    tr.add_argument("--steps", type=int, help="override the config's steps")
    tr.add_argument("--out", help="override the config's output folder")

    ev = sub.add_parser("eval", help="AnchorBalance protocol: planners side by side on the same draws",
                        epilog=EPILOG_EVAL, formatter_class=argparse.RawDescriptionHelpFormatter)
    ev.add_argument("--sessions", type=Path, required=True, help="folder of sessions (a corpus or your own)")
    ev.add_argument("--split", default="test", help="train, valid, test, or all (default: test)")
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


def _progress() -> Progress:
    return Progress(TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(),
                    console=errors)


def _build_one(job: tuple) -> tuple[str, object]:
    from anchormix.model.corpus import build_midi_session, build_procedural_session

    kind, args = job
    try:
        entry = build_midi_session(*args) if kind == "midi" else build_procedural_session(*args)
        return "ok", entry
    except ValueError as err:
        return "skip", str(err)
    except Exception as err:  # one bad song must not stop the corpus
        return "skip", f"{args[0]}: internal error ({type(err).__name__}: {err})"


def _build(jobs: list[tuple], out: Path, workers: int) -> None:
    from anchormix.model.corpus import load_manifest, write_manifest

    manifest = load_manifest(out)
    started = time.perf_counter()
    spawn = multiprocessing.get_context("spawn")  # not fork: a forked child of a torch process can deadlock
    with _progress() as progress, ProcessPoolExecutor(max_workers=max(1, workers), mp_context=spawn) as pool:
        task = progress.add_task("building sessions", total=len(jobs))
        futures = {pool.submit(_build_one, job): job for job in jobs}
        for future in as_completed(futures):
            kind, value = future.result()
            source = str(futures[future][1][0])
            if kind == "ok":
                manifest["sessions"][value["id"]] = value
                manifest["skipped"].pop(source, None)
            else:
                manifest["skipped"][source] = value
            progress.advance(task)
    write_manifest(out, manifest)
    _features(out)
    entries = sorted(manifest["sessions"].values(), key=lambda e: e["id"])
    table = Table(title=f"corpus {out}: {len(entries)} sessions", title_justify="left")
    for column in ("session", "split", "genre", "stems", "anchor", "null test (dB)"):
        table.add_column(column)
    for e in entries:
        table.add_row(e["id"], e["split"], e["genre"], str(e["stems"]), e["anchor"],
                      "-" if e.get("null_db") is None else f"{e['null_db']:.1f}")
    console.print(table)
    counts = {s: sum(e["split"] == s for e in entries) for s in ("train", "valid", "test")}
    console.print(f"splits {counts}; {len(manifest['skipped'])} skipped (reasons in manifest.json); "
                  f"built in {time.perf_counter() - started:.0f} s")


def _features(root: Path) -> None:
    from anchormix.model.evaluate import find_sessions
    from anchormix.model.features import cached_features
    from anchormix.tools import load_session

    for folder, _ in find_sessions(root, None):
        cached_features(load_session(folder), root / "features")


def _stats(root: Path) -> None:
    from anchormix.model.evaluate import CONVENTIONS_FILE, conventions_table
    from anchormix.tools.audio import write_text_atomic

    table = conventions_table(root)
    path = write_text_atomic(root / CONVENTIONS_FILE, json.dumps(table, indent=2) + "\n")
    view = Table(title="Per-role loudness against the bass, train split (LU)", title_justify="left")
    for column in ("role", "mean", "std", "count"):
        view.add_column(column, justify="left" if column == "role" else "right")
    for role, row in sorted(table.items(), key=lambda kv: -kv[1]["mean"]):
        view.add_row(role, f"{row['mean']:+.1f}", f"{row['std']:.1f}", str(row["count"]))
    console.print(view)
    console.print(f"wrote {path}")


def _eval_agent(args: argparse.Namespace) -> int:
    from anchormix.model.evaluate import find_sessions, make_agent_planner, run_agent_protocol

    names = [p.strip() for p in (args.planner or "rules,alm").split(",") if p.strip()]
    factories = {name: make_agent_planner(name, args.checkpoint) for name in names}
    sessions = find_sessions(args.sessions, None if args.split == "all" else args.split)[: args.limit]
    with _progress() as progress:
        task = progress.add_task("balancing", total=len(sessions))
        result = run_agent_protocol(sessions, factories, args.draws, args.seed, args.max_steps,
                                    lambda _: progress.advance(task))
    title = (f"Agent loop on {args.sessions} split={args.split}: {len(sessions)} sessions x {args.draws} draws, "
             f"seed {args.seed}, step cap {args.max_steps}")
    table = Table(title=title, title_justify="left")
    for column in ("planner", "final MAE (dB)", "median", "within 2 dB", "converged", "iterations", "tool calls",
                   "masking checks", "invalid calls", "runs"):
        table.add_column(column, justify="left" if column == "planner" else "right")
    summaries = {name: result.summary(name) for name in names}
    for name, m in summaries.items():
        table.add_row(name, f"{m['mae_db']:.2f}", f"{m['median_db']:.2f}", f"{m['within_2db']:.0%}",
                      f"{m['converged']:.0%}", f"{m['iterations']:.1f}", f"{m['tool_calls']:.1f}",
                      f"{m['masking_checks']:.1f}", str(m["invalid_calls"]), str(m["runs"]))
    console.print(table)
    console.print("iterations: planner calls per balance; tool calls: registry calls the planner chose "
                  "(apply_gains, measure_masking, ...), listens not counted", style="dim")
    if args.json_out:
        body = {"sessions": len(sessions), "draws": args.draws, "seed": args.seed, "split": args.split,
                "summary": summaries, "runs": result.runs}
        args.json_out.write_text(json.dumps(body, indent=2) + "\n", encoding="utf-8")
        console.print(f"wrote {args.json_out}")
    return 0


def _eval(args: argparse.Namespace) -> int:
    if args.agent:
        return _eval_agent(args)
    from anchormix.model.evaluate import (CONVENTIONS_FILE, PLANNERS, conventions_table, find_sessions,
                                          make_alm, make_alm_ablation, make_alm_text, make_conventions, predict_loudness,
                                          predict_none, predict_rules, run_protocol, summarise)

    names = [p.strip() for p in (args.planner or "none,loudness,conventions,rules").split(",") if p.strip()]
    unknown = [p for p in names if p not in PLANNERS]
    if unknown:
        raise ValueError(f"--planner: unknown {unknown}; choose from {', '.join(PLANNERS)}")
    sessions = find_sessions(args.sessions, None if args.split == "all" else args.split)[: args.limit]
    predictors = {}
    for name in names:
        if name == "conventions":
            path = args.conventions or args.sessions / CONVENTIONS_FILE
            if path.exists():
                table = json.loads(path.read_text(encoding="utf-8"))
            elif args.conventions:
                raise ValueError(f"{path}: no such conventions table")
            else:
                table = conventions_table(args.sessions)
            predictors[name] = make_conventions(table)
        elif name == "alm":
            predictors[name] = make_alm(args.checkpoint)
        elif name == "alm-text":
            predictors[name] = make_alm_text(args.checkpoint)
        elif name in ("alm-listener", "alm-nogenre"):
            predictors[name] = make_alm_ablation(name, args.checkpoint)
        else:
            predictors[name] = {"none": predict_none, "loudness": predict_loudness, "rules": predict_rules}[name]
    with _progress() as progress:
        task = progress.add_task("evaluating", total=len(sessions))
        result = run_protocol(sessions, predictors, args.draws, args.seed, lambda _: progress.advance(task))

    overall = {p: summarise(result.errors.get(p, [])) for p in names}
    title = (f"AnchorBalance on {args.sessions} split={args.split}: {result.sessions} sessions x {args.draws} draws, "
             f"seed {args.seed}")
    table = Table(title=title, title_justify="left")
    for column in ("planner", "MAE (dB)", "median", "within 1 dB", "within 2 dB", "within 3 dB", "n"):
        table.add_column(column, justify="left" if column == "planner" else "right")
    for p in names:
        m = overall[p]
        table.add_row(p, f"{m['mae_db']:.2f}", f"{m['median_db']:.2f}", f"{m['within_1db']:.0%}",
                      f"{m['within_2db']:.0%}", f"{m['within_3db']:.0%}", str(m["n"]))
    console.print(table)
    for label, groups in (("role", result.by_role), ("genre", result.by_genre)):
        keys = sorted({k for p in names for k in groups.get(p, {})})
        view = Table(title=f"MAE (dB) by {label}", title_justify="left")
        view.add_column(label)
        for p in names:
            view.add_column(p, justify="right")
        view.add_column("n", justify="right")
        for key in keys:
            view.add_row(key, *[f"{summarise(groups[p][key])['mae_db']:.2f}" for p in names],
                         str(len(groups[names[0]][key])))
        console.print(view)
    if args.json_out:
        body = {"sessions": result.sessions, "draws": args.draws, "seed": args.seed, "split": args.split,
                "overall": overall,
                "by_role": {p: {k: summarise(v) for k, v in result.by_role[p].items()} for p in names},
                "by_genre": {p: {k: summarise(v) for k, v in result.by_genre[p].items()} for p in names}}
        args.json_out.write_text(json.dumps(body, indent=2) + "\n", encoding="utf-8")
        console.print(f"wrote {args.json_out}")
    return 0


def run(args: argparse.Namespace) -> int:
    from anchormix.model.corpus import DEBIAN_MIDI_PACKAGES, debian_midi_dirs
    from anchormix.tools.demo import GENRES

    if args.command == "eval":
        return _eval(args)
    if args.command == "train" and args.intents:
        from anchormix.model.intents import DEFAULT_INTENT_CHECKPOINT, train_intents

        out = Path(args.out) / "intent.safetensors" if args.out else DEFAULT_INTENT_CHECKPOINT
        train_intents(out, log=lambda line: console.print(line, highlight=False))
        console.print(f"wrote {out}")
        return 0
    if args.command == "train":
        from anchormix.model.train import TrainConfig, train

        if args.config is None:
            raise ValueError("train: give --config model/conf/<name>.yaml (the ALM) or --intents")

        config = TrainConfig.from_yaml(args.config)
        config.steps = args.steps or config.steps
        config.out = args.out or config.out
        summary = train(config, log=lambda line: console.print(line, highlight=False))
        console.print(f"trained {config.steps} steps in {summary['wall_s']:.0f} s on {summary['device']}; "
                      f"checkpoint {config.out}/alm.safetensors")
        return 0
    if args.data_command == "midi":
        sources = [(None, d) for d in args.midi]
        if args.debian:
            sources += debian_midi_dirs(args.install)
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
    elif args.data_command == "procedural":
        genres = sorted(GENRES)
        jobs = [("procedural", (args.out, genres[i % len(genres)], i, args.seconds, args.sample_rate))
                for i in range(args.count)]
        _build(jobs, args.out, args.jobs)
    elif args.data_command == "stats":
        _stats(args.sessions)
    elif args.data_command == "features":
        _features(args.sessions)
        console.print(f"feature cache up to date in {args.sessions / 'features'}")
    return 0
