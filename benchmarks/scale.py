"""Whole songs at scale: `measure` and `balance` (rules, peaks and ALM, same run) on sessions of many tracks and
minutes.

    python benchmarks/scale.py [--tracks 8 16 32 48 64] [--minutes 1 3 5] [--planners rules peaks alm] [--report]
                               [--work DIR]

Sessions: the pop demo rendered at 48 kHz for each length, written as 24-bit WAV; a session of T tracks holds
the demo's 8 stems and copies of them ("Audio 09" ... at their own levels), so T stems of real music, one named
bass. Each command runs in its own process (its peak RSS is its own): `measure` = load + the roles of the
"Audio NN" stems read by name and by ear + loudness + masking, `balance` = the same load and roles (as the command
line does) + the agent loop to its finish with mix.wav, gains and advice written. "Wall" is after the planner is
built (the ALM's model load is reported apart). ``--report`` adds, per planner, `balance --report`: the same balance
and then its HTML report (the mix before and after, loudness-matched, encoded to Ogg), beside the plain balance it
is compared with. The table ends with the least-squares cost per track-minute
(wall = a + b x tracks x minutes) and its R^2, per command: linear growth is R^2 near 1.

Issue 25's bar: a 48-track, 5-minute session balanced with the ALM in <= 60 s after load and <= 2.5 GB peak RSS.
A session larger than ANCHORMIX_MAX_MEMORY_GB allows is refused by anchormix (shown as "refused").
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from peak_rss import peak_rss_bytes  # benchmarks/: the script's own folder is on the path

os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")  # as the command line has it (anchormix/__init__.py), before numpy loads
os.environ.setdefault("HF_HUB_OFFLINE", "1")

RATE = 48000
FINISHED = ("ok", "converged", "step cap", "stuck")  # a command that ran to its end (refusals and failures do not)
STEMS = ("bass", "kick", "snare", "hats", "keys", "pad", "lead", "vocals")


def make_session(root: Path, tracks: int, minutes: float) -> Path:
    """``root/t<T>-m<M>``: T 24-bit stems of a ``minutes``-long pop demo at 48 kHz (made once per length)."""
    from pedalboard.io import AudioFile

    from anchormix.tools.audio import read_audio
    from anchormix.tools.demo import write_demo_session

    demo = root / f"demo-m{minutes:g}"
    if not demo.exists():
        write_demo_session(demo, "pop", seconds=60.0 * minutes, seed=0, sample_rate=RATE)
    folder = root / f"t{tracks}-m{minutes:g}"
    if folder.exists():
        return folder
    staging = Path(tempfile.mkdtemp(dir=root))
    for k in range(tracks):
        stem = STEMS[k % len(STEMS)]
        name = stem if k < len(STEMS) else f"Audio {k + 1:02d}"
        audio, _ = read_audio(demo / f"{stem}.wav")
        gain = 10 ** (-((k // len(STEMS)) * 1.5) / 20)  # each copy a little quieter: its own level
        with AudioFile(str(staging / f"{name}.wav"), "w", samplerate=RATE, num_channels=2, bit_depth=24) as f:
            f.write(audio * gain)
    staging.rename(folder)
    return folder


def child(command: str, planner: str, folder: Path, out: Path) -> dict:
    """In its own process: one command on one session; wall seconds after the planner is built, and peak RSS."""
    if planner == "alm":  # the rule planner's process never imports torch
        import torch

        torch.set_num_threads(2)
    from anchormix.agent import balance_session
    from anchormix.planners import make_planner
    from anchormix.report import write_report
    from anchormix.roles import read_unknown_roles
    from anchormix.tools import ToolContext, load_session
    from anchormix.tools.toolbox import REGISTRY

    started = time.perf_counter()
    built = make_planner(planner) if command != "measure" else None
    load_s = time.perf_counter() - started
    started = time.perf_counter()
    try:
        if command == "measure":
            session = load_session(folder)
            read_unknown_roles(session)  # as `anchormix measure` does: "Audio 09" ... read by name and by ear
            ctx = ToolContext.of(session)
            REGISTRY.call("measure_loudness", {}, ctx)
            for name in session.names:
                REGISTRY.call("measure_masking", {"target": name}, ctx)
            status = "ok"
        else:  # as `anchormix balance [--report]` does: the report from the balance's session and measurements
            report = (lambda result, session, measured: write_report(result.out_dir, result.outcome, session,
                                                                      result.advice, measured))
            status = balance_session(folder, out, built, on_load=read_unknown_roles,
                                     on_done=report if command == "balance --report" else None).outcome.status
    except ValueError as err:
        status = "refused" if "ANCHORMIX_MAX_MEMORY_GB" in str(err) else f"error: {err}"
    return {"load_s": load_s, "wall_s": time.perf_counter() - started, "status": status,
            "peak_rss_gb": peak_rss_bytes() / 1e9}


def run_child(command: str, planner: str, folder: Path, out: Path) -> dict:
    done = subprocess.run([sys.executable, __file__, "--child", command, planner, str(folder), str(out)],
                          capture_output=True, text=True)
    if done.returncode != 0:
        print(done.stderr[-2000:], file=sys.stderr)
        return {"load_s": 0.0, "wall_s": float("nan"), "status": f"failed (exit {done.returncode})", "peak_rss_gb": 0.0}
    return json.loads(done.stdout.strip().splitlines()[-1])


def fit(rows: list[dict]) -> tuple[float, float, float]:
    """(a, b, R^2) of wall = a + b x track-minutes over the rows that finished."""
    import numpy as np

    ok = [r for r in rows if r["status"] in FINISHED]
    if len(ok) < 2:
        return float("nan"), float("nan"), float("nan")
    x = np.array([r["tracks"] * r["minutes"] for r in ok], dtype=float)
    y = np.array([r["wall_s"] for r in ok])
    b, a = np.polyfit(x, y, 1)
    residual = y - (a + b * x)
    return float(a), float(b), float(1 - residual.var() / y.var()) if y.var() > 0 else 1.0


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--tracks", type=int, nargs="+", default=[8, 16, 32, 48, 64])
    parser.add_argument("--minutes", type=float, nargs="+", default=[1, 3, 5])
    parser.add_argument("--planners", nargs="+", default=["rules", "peaks", "alm"])
    parser.add_argument("--report", action="store_true", help="also `balance --report` per planner")
    parser.add_argument("--work", type=Path, help="where the generated sessions are kept (default: a temp folder)")
    parser.add_argument("--child", nargs=4, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        command, planner, folder, out = args.child
        print(json.dumps(child(command, planner, Path(folder), Path(out))))
        return 0
    from rich.console import Console
    from rich.table import Table

    work = args.work or Path(tempfile.mkdtemp(prefix="anchormix-scale-"))
    work.mkdir(parents=True, exist_ok=True)
    rows = []
    commands = [("measure", "-")] + [("balance", p) for p in args.planners] + \
        [("balance --report", p) for p in args.planners if args.report]
    for minutes in args.minutes:
        for tracks in args.tracks:
            folder = make_session(work, tracks, minutes)
            for command, planner in commands:
                out = Path(tempfile.mkdtemp(dir=work))
                row = {"command": command, "planner": planner, "tracks": tracks, "minutes": minutes,
                       **run_child(command, planner, folder, out)}
                shutil.rmtree(out, ignore_errors=True)
                rows.append(row)
                print(json.dumps(row), file=sys.stderr, flush=True)
    table = Table(title=f"anchormix at scale: {RATE} Hz 24-bit, {os.cpu_count()} CPUs")
    for column in ("command", "planner", "tracks", "minutes", "load (s)", "wall after load (s)", "peak RSS (GB)",
                   "status"):
        table.add_column(column, justify="right" if column not in ("command", "planner", "status") else "left")
    for r in rows:
        table.add_row(r["command"], r["planner"], str(r["tracks"]), f"{r['minutes']:g}", f"{r['load_s']:.1f}",
                      f"{r['wall_s']:.1f}", f"{r['peak_rss_gb']:.2f}", r["status"])
    Console(width=140).print(table)
    for command, planner in commands:
        a, b, r2 = fit([r for r in rows if r["command"] == command and r["planner"] == planner])
        print(f"{command} {planner}: wall = {a:.1f} s + {b:.2f} s per track-minute (R^2 {r2:.3f})")
    for r in rows:
        if (r["command"], r["planner"], r["tracks"], r["minutes"]) == ("balance", "alm", 48, 5):
            met = r["status"] in FINISHED and r["wall_s"] <= 60 and r["peak_rss_gb"] <= 2.5
            print(f"issue 25's bar, 48 tracks x 5 min with the ALM: {r['wall_s']:.1f} s after load (<= 60), "
                  f"{r['peak_rss_gb']:.2f} GB peak RSS (<= 2.5): {'met' if met else 'missed'}")
    if args.work is None:
        shutil.rmtree(work, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
