"""Batch balancing: sessions per minute here (one process) and on a local Ray with 1 and 2 workers.

    python benchmarks/batch.py [--sessions 12] [--seconds 8] [--planners rules,alm]

The same --sessions generated demo sessions (genres and spoiled levels vary;
22.05 kHz) for every row. Each row runs in its own fresh process and counts
everything a user waits for: starting Ray, loading the planner (once per
worker), balancing every session, writing every output. The baseline is the
local path in the same run; the last column checks the Ray rows' gains against
it (largest difference, dB). On 2 cores Ray cannot add cores: the table is about
its overhead and its correctness, not speed-up.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import random
import subprocess
import sys
import tempfile
import time
from pathlib import Path

os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")  # as the command line has it (anchormix/__init__.py), before numpy loads

MODES = (("local, 1 process (baseline)", "local", 1), ("Ray, 1 worker", "ray", 1), ("Ray, 2 workers", "ray", 2))


def make_batch(root: Path, count: int, seconds: float) -> list[Path]:
    from anchormix.tools.demo import PRESETS, write_demo_session

    genres, rng = sorted(PRESETS), random.Random(2)
    return [write_demo_session(root / f"s{i:02d}", genres[i % len(genres)], seconds, i, 22050,
                               {"vocals": rng.uniform(-8, 8), "keys": rng.uniform(-8, 8), "hats": rng.uniform(-8, 8)})
            for i in range(count)]


def child(planner: str, mode: str, workers: int, out: Path, sessions: list[Path]) -> dict:
    """In the row's own process: balance the batch, time it, read back the gains."""
    started = time.perf_counter()
    from anchormix.batch.balance_job import BalanceJob, balance_job
    from anchormix.batch.jobs import run_jobs
    from anchormix.batch.ray_pool import run_ray_balance

    jobs = [BalanceJob(s, out, planner) for s in sessions]
    runs = run_ray_balance(jobs, workers) if mode == "ray" else run_jobs(balance_job, jobs, workers, "balancing")
    failed = [str(job.path) for job, (kind, _) in runs if kind != "ok"]
    wall = time.perf_counter() - started
    gains = {s.name: json.loads((out / s.name / "gains.json").read_text())["gains_db"] for s in sessions}
    return {"wall_s": wall, "failed": failed, "gains": gains}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sessions", type=int, default=12)
    parser.add_argument("--seconds", type=float, default=8.0)
    parser.add_argument("--planners", default="rules,alm")
    parser.add_argument("--child", nargs=4, metavar=("PLANNER", "MODE", "WORKERS", "OUT"), help=argparse.SUPPRESS)
    parser.add_argument("--batch", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        planner, mode, workers, out = args.child
        sessions = sorted(p for p in Path(args.batch).iterdir() if p.is_dir())
        print(json.dumps(child(planner, mode, int(workers), Path(out), sessions)))
        return 0

    from rich.console import Console
    from rich.table import Table

    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        batch = Path(tmp) / "batch"
        make_batch(batch, args.sessions, args.seconds)
        for planner in args.planners.split(","):
            baseline = None
            for label, mode, workers in MODES:
                out = Path(tmp) / f"{planner}-{mode}-{workers}"
                done = subprocess.run([sys.executable, __file__, "--batch", str(batch), "--child", planner, mode,
                                       str(workers), str(out)], capture_output=True, text=True)
                if done.returncode != 0:
                    print(done.stderr[-3000:], file=sys.stderr)
                    return 1
                result = json.loads(done.stdout.strip().splitlines()[-1])
                baseline = baseline or result
                diff = max(abs(result["gains"][s][n] - baseline["gains"][s][n])
                           for s in baseline["gains"] for n in baseline["gains"][s])
                rows.append((planner, label, result["wall_s"], args.sessions * 60 / result["wall_s"],
                             baseline["wall_s"] / result["wall_s"], diff, len(result["failed"])))
    table = Table(title=f"Batch of {args.sessions} demo sessions ({args.seconds:g} s, 22.05 kHz); {platform.machine()}, "
                        f"{os.cpu_count()} cores; each row a fresh process (Ray start and planner loads included)")
    for column in ("planner", "path", "wall (s)", "sessions/min", "vs local", "max |gain diff| (dB)", "failed"):
        table.add_column(column, justify="left" if column in ("planner", "path") else "right")
    for planner, label, wall, rate, speed, diff, failed in rows:
        table.add_row(planner, label, f"{wall:.1f}", f"{rate:.1f}", f"{speed:.2f}x", f"{diff:.3f}", str(failed))
    Console(width=140).print(table)
    bad = [r for r in rows if r[5] > 0.05 or r[6]]
    if bad:
        print(f"FAIL: {len(bad)} rows differ from the local run by more than 0.05 dB or failed a session")
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
