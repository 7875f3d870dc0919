"""Soak: SIGKILL `anchormix balance` at random points of a batch, rerun, and prove nothing is lost or half-written.

    python benchmarks/soak.py [--sessions 20] [--kills 12] [--seed 0]

The batch: --sessions short demo sessions (genres and spoiled levels vary).
Baseline, same run: one uninterrupted `balance` of the batch into its own
folder. Soak: the same batch into another folder, killed with SIGKILL --kills
times, each after a random number (1-8, seeded) of new trace records since it
started: on observed progress, not a clock, so every kill lands while a session
is being balanced (counted: "kills mid-session"), then run to the end. After
every kill:
each output is complete or absent (gains.json parses, advice.md is whole,
mix.wav decodes at full length, every trace line is JSON), and the sources
are byte-identical. At the end: every session finished, and its gains equal
the uninterrupted run's. Prints sessions completed, kills survived and files
lost (must be 0); exits 1 on any violation.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import random
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")  # as the command line has it (anchormix/__init__.py), before numpy loads

OUTPUTS = ("mix.wav", "gains.json", "advice.md", "trace.jsonl")


def make_batch(root: Path, count: int, seconds: float = 3.0) -> list[Path]:
    from anchormix.tools.demo import PRESETS, write_demo_session

    genres, rng = sorted(PRESETS), random.Random(1)
    sessions = []
    for i in range(count):
        offsets = {n: rng.uniform(-8, 8) for n in ("vocals", "kick", "hats", "keys", "pad", "lead", "snare")}
        sessions.append(write_demo_session(root / f"song{i:02d}", genres[i % len(genres)], seconds, i, 22050, offsets))
    return sessions


def tree_hash(folder: Path) -> dict[str, str]:
    return {str(p.relative_to(folder)): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(folder.rglob("*")) if p.is_file()}


def balance(sessions: list[Path], out: Path, delay_s: float = 0.0) -> subprocess.Popen:
    env = {**os.environ, "ANCHORMIX_STEP_DELAY_S": str(delay_s), "COLUMNS": "200"}
    # The rule planner: the soak is about the runner (checkpoints, atomic writes), not the model.
    return subprocess.Popen([sys.executable, "-m", "anchormix", "balance", *map(str, sessions), "--out", str(out),
                             "--planner", "rules"],
                            env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)


def check_outputs(out: Path, sessions: list[Path]) -> list[str]:
    """Problems with the outputs as they are now: anything present must be complete."""
    from anchormix.tools.audio import read_audio

    problems = []
    for session in sessions:
        folder = out / session.name
        if not folder.exists():
            continue
        for name in OUTPUTS:
            path = folder / name
            if not path.exists():
                continue
            try:
                if name == "gains.json":
                    json.loads(path.read_text(encoding="utf-8"))["gains_db"]
                elif name == "advice.md":
                    text = path.read_text(encoding="utf-8")
                    if not text.startswith("# Balance advice") or "Planner:" not in text:
                        raise ValueError("advice.md is not whole")
                elif name == "trace.jsonl":
                    for line in path.read_text(encoding="utf-8").splitlines():
                        json.loads(line)
                else:
                    audio, _ = read_audio(path)
                    source, _ = read_audio(next(session.glob("*.wav")))
                    if audio.shape[1] != source.shape[1]:
                        raise ValueError(f"mix.wav has {audio.shape[1]} of {source.shape[1]} frames")
            except Exception as err:
                problems.append(f"{path}: half-written or unreadable ({err})")
    return problems


def progress(out: Path, sessions: list[Path]) -> int:
    """Trace records written so far, over every session of the batch."""
    return sum(len(trace.read_text(encoding="utf-8", errors="replace").splitlines())
               for trace in (out / s.name / "trace.jsonl" for s in sessions) if trace.is_file())


def in_progress(out: Path, sessions: list[Path]) -> list[str]:
    """Sessions that have started (their trace holds a record) and not finished (no gains.json)."""
    return [s.name for s in sessions if (out / s.name / "trace.jsonl").is_file()
            and (out / s.name / "trace.jsonl").stat().st_size and not (out / s.name / "gains.json").exists()]


def run_soak(sessions: list[Path], root: Path, kills: int, seed: int, delay_s: float = 0.1,
             steps: tuple[int, int] = (1, 8), log=print) -> dict:
    """Baseline run, then the kill loop; returns the counts (see the module doc)."""
    sources = {s: tree_hash(s) for s in sessions}
    started = time.perf_counter()
    baseline = balance(sessions, root / "baseline")
    baseline.wait()
    baseline_s = time.perf_counter() - started

    rng = random.Random(seed)
    out = root / "soak"
    survived, mid_session, problems = 0, 0, []
    started = time.perf_counter()
    for k in range(kills):
        target = progress(out, sessions) + rng.randint(*steps)
        proc = balance(sessions, out, delay_s)
        deadline = time.monotonic() + 300  # a bound on the wait, not a timing test: a batch that stalls is a problem
        while proc.poll() is None and progress(out, sessions) < target and time.monotonic() < deadline:
            time.sleep(0.02)  # kill on observed progress
        if time.monotonic() >= deadline:
            problems.append(f"kill {k + 1}: no progress in 300 s")
        if proc.poll() is None:
            mid_session += bool(in_progress(out, sessions))
            proc.send_signal(signal.SIGKILL)
            survived += 1
        proc.wait()
        problems += check_outputs(out, sessions)
        problems += [f"{s}: source changed" for s in sessions if tree_hash(s) != sources[s]]
        done = sum((out / s.name / "gains.json").exists() for s in sessions)
        log(f"kill {k + 1}/{kills}: {'killed' if proc.returncode == -signal.SIGKILL else 'finished first'}, "
            f"{done}/{len(sessions)} sessions done")
    final = balance(sessions, out)
    final.wait()
    soak_s = time.perf_counter() - started
    problems += check_outputs(out, sessions)
    completed, lost, differs = 0, 0, []
    for s in sessions:
        mine, theirs = out / s.name / "gains.json", root / "baseline" / s.name / "gains.json"
        if not mine.exists():
            lost += 1
            continue
        completed += 1
        a, b = json.loads(mine.read_text())["gains_db"], json.loads(theirs.read_text())["gains_db"]
        if a != b:
            differs.append(s.name)
        if tree_hash(s) != sources[s]:
            lost += 1
    return {"sessions": len(sessions), "completed": completed, "kills": survived, "mid_session": mid_session,
            "files_lost": lost,
            "problems": problems, "differs": differs, "baseline_s": baseline_s, "soak_s": soak_s,
            "final_exit": final.returncode}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sessions", type=int, default=20)
    parser.add_argument("--kills", type=int, default=12)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()

    from rich.console import Console
    from rich.table import Table

    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        sessions = make_batch(root / "sources", args.sessions)
        result = run_soak(sessions, root, args.kills, args.seed)
    table = Table(title=f"Soak: {args.sessions} sessions, {args.kills} SIGKILLs (seed {args.seed})")
    for column in ("run", "wall (s)", "sessions completed", "kills survived", "kills mid-session", "files lost",
                   "half-written seen", "gains differ from baseline"):
        table.add_column(column, justify="left" if column == "run" else "right")
    table.add_row("uninterrupted (baseline)", f"{result['baseline_s']:.1f}", str(result["sessions"]), "0", "0", "0", "0",
                  "-")
    table.add_row("killed and resumed", f"{result['soak_s']:.1f}", str(result["completed"]), str(result["kills"]),
                  str(result["mid_session"]), str(result["files_lost"]), str(len(result["problems"])),
                  str(len(result["differs"])))
    Console(width=130).print(table)
    for problem in result["problems"][:10]:
        print("problem:", problem)
    ok = (result["completed"] == result["sessions"] and result["files_lost"] == 0 and not result["problems"]
          and not result["differs"] and result["final_exit"] == 0)
    print("PASS" if ok else "FAIL")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
