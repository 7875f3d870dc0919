"""Kill a real `anchormix balance` process mid-run; running it again resumes and finishes the job."""

import json
import os
import signal
import subprocess
import sys
import time

from ..conftest import tree_hash


def balance(session, out, env=None, **popen):
    # The rule planner: this is about the runner's checkpoints, and it needs no model load per process.
    return subprocess.Popen([sys.executable, "-m", "anchormix", "balance", str(session), "--out", str(out),
                             "--planner", "rules"],
                            env={**os.environ, "COLUMNS": "200", **(env or {})}, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            text=True, **popen)


def trace_lines(out):
    path = out / "trace.jsonl"
    return path.read_text().splitlines() if path.exists() else []


def test_killed_balance_resumes_from_its_last_step(demo_session_dir, tmp_path):
    sources = tree_hash(demo_session_dir)
    out = tmp_path / "mixes"
    run_dir = out / demo_session_dir.name
    slow = balance(demo_session_dir, out, env={"ANCHORMIX_STEP_DELAY_S": "0.5"})
    deadline = time.time() + 120
    while len(trace_lines(run_dir)) < 4 and time.time() < deadline and slow.poll() is None:
        time.sleep(0.05)
    assert slow.poll() is None, "finished before it could be killed"
    slow.send_signal(signal.SIGKILL)
    slow.wait()
    killed_at = len(trace_lines(run_dir))
    assert 4 <= killed_at and not (run_dir / "gains.json").exists()

    resumed = balance(demo_session_dir, out)
    stdout, stderr = resumed.communicate(timeout=300)
    assert resumed.returncode == 0, stderr
    assert "converged (resumed)" in stdout

    trace = [json.loads(line) for line in trace_lines(run_dir)]
    assert [r["step"] for r in trace] == list(range(1, len(trace) + 1))  # no step lost or repeated
    assert len(trace) > killed_at

    fresh = balance(demo_session_dir, tmp_path / "uninterrupted")
    fresh.communicate(timeout=300)
    uninterrupted = json.loads((tmp_path / "uninterrupted" / demo_session_dir.name / "gains.json").read_text())
    assert json.loads((run_dir / "gains.json").read_text())["gains_db"] == uninterrupted["gains_db"]
    assert not list(run_dir.glob(".*.part*"))
    assert tree_hash(demo_session_dir) == sources
