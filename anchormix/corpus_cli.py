"""``anchormix data ...``: the commands that build the training corpus (MIDI songs, tracker modules, LMMS projects,
procedural songs), its feature cache and its statistics. Installing Debian packages happens here, and only here.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import time
from pathlib import Path

from anchormix.model.evaluation.baselines import CONVENTIONS_FILE, conventions_table
from anchormix.model.evaluation.peak_fit import fit_peak_rule, peak_rows
from anchormix.model.corpus import (DEBIAN_MIDI_PACKAGES, build_midi_session, build_procedural_session,
                                    debian_midi_dirs, find_sessions, load_manifest, missing_debian_packages,
                                    write_manifest)
from anchormix.model.corpus.debian import installed, package_files
from anchormix.model.corpus.stats import corpus_summary
from anchormix.model.corpus.lmms import (LMMS_NULL_LIMIT_DB, LMMS_PROJECTS, LMMS_ROOT, build_lmms_session,
                                         lmms_available, project_split, session_id)
from anchormix.model.corpus.manifest import not_built
from anchormix.model.corpus.modules import (DEBIAN_MODULE_PACKAGES, NULL_LIMIT_DB, build_module_session, find_modules,
                                            module_song_id)
from anchormix.model.corpus.xmp import XMP_HELP, libxmp_available
from anchormix.model.features import log_mel, session_features
from anchormix.tools.audio import write_text_atomic
from anchormix.tools.demo import PRESETS

from .batch.jobs import run_jobs
from .views import console, conventions_table_view, corpus_built, corpus_summary_view, corpus_table

__all__ = ["add_parsers"]

EPILOG_DATA = """examples:
  anchormix data midi --debian --out corpus            # Debian's MIDI packages (asks for apt-get if missing)
  anchormix data midi --debian --install --out corpus  # ... and installs them (root)
  anchormix data midi --midi ~/midi --out corpus --seconds 30 --jobs 2
  anchormix data procedural --out corpus --count 40
  anchormix data modules --from-debian --install --out corpus   # tracker modules, one stem per instrument
  anchormix data modules --modules ~/mods --out corpus
  anchormix data lmms --from-debian --install --out lmms        # the 13 LMMS projects it may use, one stem per track
  anchormix data lmms --projects song.mmpz --out lmms            # your own LMMS projects
  anchormix data stats --sessions corpus modules --ranges model/checkpoints/alm/ranges.json
  anchormix data peaks --sessions modules lmms   # the peak planner's weight and offset, fitted on the train splits
"""

def add_parsers(sub) -> None:
    """The ``data`` subcommands, each parser naming its function."""
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
    _render_flags(midi, sample_rate=22050)
    mods = dsub.add_parser("modules", help="render tracker modules (.mod .xm .s3m .it) per instrument into sessions",
                           epilog=EPILOG_DATA, formatter_class=argparse.RawDescriptionHelpFormatter)
    mods.set_defaults(func=_data_modules)
    mods.add_argument("--modules", type=Path, nargs="*", default=[], help="folders searched for module files")
    mods.add_argument("--from-debian", action="store_true",
                      help="also the modules Debian's game data packages ship (" + ", ".join(DEBIAN_MODULE_PACKAGES) + ")")
    mods.add_argument("--install", action="store_true", help="apt-get install what --from-debian needs (root)")
    _render_flags(mods, sample_rate=44100)
    lmms = dsub.add_parser("lmms", help="render LMMS projects (.mmp .mmpz) per track into sessions", epilog=EPILOG_DATA,
                           formatter_class=argparse.RawDescriptionHelpFormatter)
    lmms.set_defaults(func=_data_lmms)
    lmms.add_argument("--projects", type=Path, nargs="*", default=[],
                      help="LMMS project files (split by --split, else by their names' hash)")
    lmms.add_argument("--split", choices=("train", "valid", "test"),
                      help="the split --projects go to (a Debian demo project keeps its producer's)")
    lmms.add_argument("--from-debian", action="store_true", help="also the 13 demo projects of Debian's lmms-common "
                      "that model/corpus/lmms.py names (split by producer; the other 13 are held out)")
    lmms.add_argument("--install", action="store_true", help="apt-get install lmms (root)")
    _render_flags(lmms, sample_rate=44100)
    proc = dsub.add_parser("procedural", help="add procedural demo-generator songs to a corpus")
    proc.set_defaults(func=_data_procedural)
    proc.add_argument("--out", type=Path, required=True, help="corpus folder")
    proc.add_argument("--count", type=int, default=40, help="number of songs, cycling through the genres (default: 40)")
    proc.add_argument("--seconds", type=float, default=30.0, help="song length (default: 30)")
    proc.add_argument("--sample-rate", type=int, default=22050, help="sample rate (default: 22050)")
    proc.add_argument("--jobs", type=int, default=2, help="songs generated in parallel (default: 2)")
    stats = dsub.add_parser("stats", help="what a corpus holds per source (songs, stems, minutes, licences, roles, "
                            "anchors, rejections) and its per-role offsets from the bass (the conventions table)")
    stats.set_defaults(func=_stats)
    stats.add_argument("--sessions", type=Path, nargs="+", required=True, help="corpus folders")
    stats.add_argument("--ranges", type=Path, metavar="FILE",
                       help="also write each role's lowest and highest level against the bass over the train splits "
                            "of all of them (the shipped model's: model/checkpoints/alm/ranges.json)")
    peaks = dsub.add_parser("peaks", help="fit the peak planner's weight and offset on the train splits")
    peaks.set_defaults(func=_peaks)
    peaks.add_argument("--sessions", type=Path, nargs="+", required=True, help="corpus folders")
    feats = dsub.add_parser("features", help="build or refresh the log-mel feature cache")
    feats.set_defaults(func=_data_features)
    feats.add_argument("--sessions", type=Path, required=True, help="corpus folder")
    feats.add_argument("--jobs", type=int, default=1, help="sessions in parallel (processes, or Ray workers; default 1)")
    feats.add_argument("--ray", nargs="?", const="", metavar="ADDRESS",
                       help="as Ray tasks: a local Ray with --jobs CPUs, or the cluster at ADDRESS (the corpus on a "
                            "file system every worker reaches)")


def _render_flags(parser: argparse.ArgumentParser, sample_rate: int) -> None:
    """The flags every source that renders songs into sessions takes."""
    parser.add_argument("--out", type=Path, required=True, help="corpus folder (one folder per session + manifest.json)")
    parser.add_argument("--seconds", type=float, default=30.0, help="excerpt kept per song (default: 30)")
    parser.add_argument("--sample-rate", type=int, default=sample_rate,
                        help=f"render rate in Hz (default: {sample_rate})")
    parser.add_argument("--jobs", type=int, default=2, help="songs rendered in parallel (default: 2)")


def _build_one(job: tuple) -> tuple[str, object]:
    """Worker: one corpus session; never raises (a song that cannot be built is skipped with its reason)."""
    kind, args = job
    try:
        build = {"midi": build_midi_session, "module": build_module_session, "lmms": build_lmms_session,
                 "procedural": build_procedural_session}
        entry = build[kind](*args)
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
        write_manifest(out, manifest)  # after every song: an interrupted build keeps what it built
    _features(out)
    entries = sorted(manifest["sessions"].values(), key=lambda e: e["id"])
    console.print(corpus_table(f"corpus {out}: {len(entries)} sessions", entries))
    console.print(corpus_built(out, entries, len(manifest["skipped"]), time.perf_counter() - started))


def _features(root: Path, jobs: int = 1, ray_address: str | None = None) -> None:
    """Build the feature cache of every session of ``root``: here, in ``jobs`` processes, or as Ray tasks."""
    folders = [(folder, root / "features") for folder, _ in find_sessions(root, None)]
    for (folder, _), problem in run_jobs(session_features, folders, jobs, "features", ray_address=ray_address):
        if problem:
            raise ValueError(problem)


def _install_debian(packages: list[str], install: bool) -> None:
    """apt-get the missing Debian packages when ``--install`` (as root); otherwise say how."""
    command = "apt-get install -y -qq " + " ".join(packages)
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


def _data_modules(args: argparse.Namespace) -> int:
    files = []
    for folder in args.modules:
        if not Path(folder).is_dir():
            raise ValueError(f"{folder}: not a folder")
        files += [(None, p) for p in Path(folder).rglob("*") if p.is_file()]
    if args.from_debian:
        missing = [p for p in ("libxmp4", *DEBIAN_MODULE_PACKAGES) if not installed(p)]
        if missing:
            _install_debian(missing, args.install)
        files += [(package, f) for package in DEBIAN_MODULE_PACKAGES for f in package_files(package)]
    if not files:
        raise ValueError("data modules: give --modules DIR and/or --from-debian")
    if not libxmp_available():
        raise ValueError(f"libxmp: not installed; {XMP_HELP}")
    modules = find_modules(files)
    if not modules:
        raise ValueError("no .mod/.xm/.s3m/.it files found")
    console.print(f"{len(modules)} unique modules (by md5) of {len(files)} files")
    todo = not_built(args.out, [(package, path) for package, path, _ in modules], lambda m: module_song_id(*m),
                     console.print, "modules")
    jobs = [("module", (path, args.out, package, args.seconds, args.sample_rate, NULL_LIMIT_DB, log_mel))
            for package, path in todo]
    _build(jobs, args.out, args.jobs)
    return 0


def _data_lmms(args: argparse.Namespace) -> int:
    projects = []
    for path in args.projects:
        if not path.is_file() or path.suffix.lower() not in (".mmp", ".mmpz"):
            raise ValueError(f"{path}: not an LMMS project file (.mmp or .mmpz)")
        projects.append((path, project_split(path, args.split)))
    if args.from_debian:
        if not installed("lmms"):
            _install_debian(["lmms"], args.install)
        projects += [(LMMS_ROOT / name, split) for name, split in LMMS_PROJECTS.items()]
    if not projects:
        raise ValueError("data lmms: give --projects FILE ... and/or --from-debian")
    if not lmms_available():
        raise ValueError("lmms: not installed; run `apt-get install lmms` (or pass --install with --from-debian)")
    todo = not_built(args.out, projects, lambda project: session_id(project[0]), console.print, "projects")
    jobs = [("lmms", (path, args.out, split, args.seconds, args.sample_rate, LMMS_NULL_LIMIT_DB, log_mel))
            for path, split in todo]
    _build(jobs, args.out, args.jobs)
    return 0


def _data_procedural(args: argparse.Namespace) -> int:
    genres = sorted(PRESETS)
    jobs = [("procedural", (args.out, genres[i % len(genres)], i, args.seconds, args.sample_rate))
            for i in range(args.count)]
    _build(jobs, args.out, args.jobs)
    return 0


def _data_features(args: argparse.Namespace) -> int:
    _features(args.sessions.resolve(), args.jobs, args.ray)
    console.print(f"feature cache up to date in {args.sessions / 'features'}")
    if any(e.get("kind") in ("module", "lmms") for e in load_manifest(args.sessions)["sessions"].values()):
        _tag_modules(args.sessions)
    return 0


def _tag_modules(root: Path) -> None:
    """Tag the module and LMMS stems nobody named with the shipped role tagger (model/tagger/role_tagger.py)."""
    from anchormix.model.tagger.role_tagger import RoleTagger, tag_unnamed  # lazy: loads torch

    tagger, threshold, report = RoleTagger.load()
    counts = tag_unnamed(root, tagger, threshold)
    console.print(f"role tagger (threshold {threshold:.2f}; held-out module stems {100 * report['test']['module']['accuracy']:.0f} % "
                  f"right): " + ", ".join(f"{v} {k}" for k, v in counts.items()))


def _stats(args: argparse.Namespace) -> int:
    ranges: dict[str, dict] = {}
    for root in args.sessions:
        for role, row in _stats_of(root).items():
            if row["count"]:
                seen = ranges.setdefault(role, {"min": row["min"], "max": row["max"], "mean": 0.0, "count": 0})
                count = seen["count"] + row["count"]  # the mean over every corpus's stems (advice quotes it)
                seen.update(min=min(seen["min"], row["min"]), max=max(seen["max"], row["max"]), count=count,
                            mean=(seen["mean"] * seen["count"] + row["mean"] * row["count"]) / count)
    if args.ranges:
        body = {"roles": {r: {k: round(v, 2) for k, v in row.items()} for r, row in sorted(ranges.items())},
                "from": [str(r) for r in args.sessions], "anchor": "bass", "split": "train"}
        console.print(f"wrote {write_text_atomic(args.ranges, json.dumps(body, indent=2) + chr(10))}")
    return 0


def _peaks(args: argparse.Namespace) -> int:
    found = peak_rows(args.sessions, on_session=lambda f: console.print(f"measured {f}", style="dim"),
                      anchor_roles=(None, "kick"))
    rows, kick = found[None], found["kick"]
    fits = fit_peak_rule(rows)
    console.print(f"{rows.sessions} train sessions, {fits[0].stems} stems; weight, offset (dB), MAE (dB), best first:")
    for fit in fits[:5] + [f for f in fits if f.weight == 1.0]:
        console.print(f"  {fit.weight:.2f}  {fit.offset_db:+.2f}  {fit.mae_db:.2f}")
    at = fit_peak_rule(kick, (fits[0].weight,))[0]
    console.print(f"against the loudest kick ({kick.sessions} sessions, {at.stems} stems), weight {at.weight:.2f}: "
                  f"offset {at.offset_db:+.2f} dB, MAE {at.mae_db:.2f}")
    return 0


def _stats_of(root: Path) -> dict[str, dict]:
    """One corpus: its summary per source, per-role offsets per source, and its conventions.json (returned)."""
    summary = corpus_summary(root)
    console.print(corpus_summary_view(f"corpus {root}", summary))
    sessions = find_sessions(root, "train")
    kinds = {e["id"]: e.get("kind", "sessions") for e in load_manifest(root)["sessions"].values()}
    for kind in summary:
        try:
            table = conventions_table(root, [(f, s) for f, s in sessions if kinds.get(f.name) == kind])
        except ValueError:  # no train session of this source has a bass anchor
            continue
        console.print(conventions_table_view(table, f"{kind}, train split"))
    table = conventions_table(root)
    path = write_text_atomic(root / CONVENTIONS_FILE, json.dumps(table, indent=2) + "\n")
    console.print(f"wrote {path} (every source's train split: what --planner conventions reads)")
    return table
