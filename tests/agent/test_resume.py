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


def test_an_alm_balance_resumed_in_a_new_process_ends_as_an_uninterrupted_one(demo_session_dir, tmp_path):
    """Issue 27: the ALM's targets are held in the graph state, so a process that takes up a balance killed after its
    first planning step and move continues exactly (it used to re-listen and halve its proposals: other gains)."""
    import shutil

    from anchormix.tools.audio import read_audio

    from ..conftest import write_wav

    session = shutil.copytree(demo_session_dir, tmp_path / demo_session_dir.name)
    audio, rate = read_audio(session / "vocals.wav")  # 30 dB down: more than one move (24 dB at most) brings back
    write_wav(session / "vocals.wav", audio * 10 ** (-30 / 20), rate)

    def alm(out, delay):
        return subprocess.Popen([sys.executable, "-m", "anchormix", "balance", str(session), "--out", str(out),
                                 "--planner", "alm"], env={**os.environ, "ANCHORMIX_STEP_DELAY_S": delay},
                                stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)

    out = tmp_path / "mixes"
    run_dir = out / session.name
    slow = alm(out, "5")  # each node is followed by a wait: the kill lands right after the first move

    def moved() -> bool:
        return any(r["node"] == "act" and r["tool"] == "apply_gains" for r in map(json.loads, trace_lines(run_dir)))

    deadline = time.time() + 600
    while not moved() and time.time() < deadline:
        assert slow.poll() is None, slow.communicate()[1]
        time.sleep(0.05)
    slow.send_signal(signal.SIGKILL)
    slow.wait()
    killed = [json.loads(line) for line in trace_lines(run_dir)]
    assert killed[-1]["node"] == "act" and not (run_dir / "gains.json").exists()  # its next plan is the resumed one
    stdout, stderr = alm(out, "0").communicate(timeout=600)
    assert "(resumed)" in stdout, stderr
    fresh_out = tmp_path / "uninterrupted"
    alm(fresh_out, "0").communicate(timeout=600)
    resumed = json.loads((run_dir / "gains.json").read_text())
    uninterrupted = json.loads((fresh_out / session.name / "gains.json").read_text())
    assert uninterrupted["iterations"] >= 3  # a second move after the first: the targets were held across it
    assert resumed["gains_db"] == uninterrupted["gains_db"] and resumed["iterations"] == uninterrupted["iterations"]


def test_a_run_killed_after_its_next_node_wrote_but_before_that_steps_checkpoint_counts_as_interrupted(
        demo_session_dir, tmp_path):
    """LangGraph saves a finished node's writes before the step's checkpoint; a kill between the two leaves a saved
    run whose ``next`` is empty (its one task has writes) but which has not finished: it must resume, and say so.
    Made exactly: a finished run's checkpoints after a mid-run one are deleted, its writes kept."""
    import sqlite3

    from langgraph.checkpoint.sqlite import SqliteSaver

    from anchormix.agent import start_state
    from anchormix.agent.graph import build_graph, run_balance, saved_state
    from anchormix.planners import make_planner
    from anchormix.tools import ToolContext, load_session

    session = load_session(demo_session_dir)
    conn = sqlite3.connect(tmp_path / "checkpoint.sqlite", check_same_thread=False)
    saver = SqliteSaver(conn)
    start = start_state("t", session.anchor, "rules", {n: 0.0 for n in session.names})
    run_balance(make_planner("rules"), ToolContext.of(session), start, checkpointer=saver, thread_id="t")
    assert saved_state(saver, "t")[1] is False  # finished
    config = {"configurable": {"thread_id": "t"}}
    history = list(build_graph(saver).get_state_history(config))  # newest first
    mid = next(s for s in reversed(history) if s.values.get("trace") and s.next)  # after the first traced step
    conn.execute("DELETE FROM checkpoints WHERE thread_id = ? AND checkpoint_id > ?",
                 ("t", mid.config["configurable"]["checkpoint_id"]))
    conn.commit()
    snapshot = build_graph(saver).get_state(config)
    assert snapshot.next == () and snapshot.tasks  # LangGraph's reading: the step's one task has its writes
    values, interrupted = saved_state(saver, "t")
    assert interrupted and values["trace"][:-1] == mid.values["trace"]  # with the saved node's record
    conn.close()
