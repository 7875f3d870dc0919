"""The loop with a scripted planner: errors fed back, convergence, step cap, traces."""

import pytest

from langgraph.runtime import Runtime

from anchormix.agent import ScriptedPlanner, run_balance, start_state
from anchormix.agent.graph import MAX_STEPS
from anchormix.agent.planning import writes_nothing
from anchormix.agent.nodes import LoopDeps, act, listen, plan
from anchormix.agent.trace import TRACE_FIELDS
from anchormix.tools import Measurements, ToolContext, load_session


@pytest.fixture(scope="module")
def session(demo_session_dir):
    return load_session(demo_session_dir)


def run(session, planner, max_steps=MAX_STEPS, out_dir=None, ctx=None):
    start = start_state("t", session.anchor, planner.name, {n: 0.0 for n in session.names})
    return run_balance(planner, ctx or ToolContext.of(session, out_dir), start, max_steps=max_steps)


def test_tool_errors_are_recorded_and_fed_back_and_the_loop_finishes(session, tmp_path):
    planner = ScriptedPlanner([
        {"tool": "apply_gains", "arguments": {"changes_db": {"tuba": 3.0}}, "rationale": "unknown stem"},
        {"tool": "apply_gains", "arguments": {"changes_db": {"vocals": "loud"}}, "rationale": "bad type"},
        {"tool": "turn_it_up", "arguments": {}, "rationale": "unknown tool"},
        {"tool": "measure_masking", "arguments": {"target": "vocals", "margin": 3}, "rationale": "bad argument"},
        {"tool": "apply_gains", "arguments": {"changes_db": {"vocals": 4.0}}, "rationale": "a good move",
         "reasons": {"vocals": "too quiet"}},
    ])
    state = run(session, planner, out_dir=tmp_path)
    errors = [m["error"] for m in state["messages"]]
    assert "unknown stem 'tuba'" in errors[0]
    assert "changes_db.vocals" in errors[1]
    assert "unknown tool 'turn_it_up'" in errors[2]
    assert "margin: Extra inputs are not permitted" in errors[3]
    assert errors[4] is None
    assert state["gains_db"]["vocals"] == 4.0 and state["gains_db"]["bass"] == 0.0
    assert state["status"] == "converged" and (tmp_path / "mix.wav").exists()
    assert "**vocals +4.0 dB** against the bass: too quiet." in state["advice"]
    failed = [r for r in state["trace"] if r["error"]]
    assert len(failed) == 4 and all(r["node"] == "act" for r in failed)


def test_a_move_under_half_a_db_converges_without_being_applied(session):
    planner = ScriptedPlanner([
        {"tool": "apply_gains", "arguments": {"changes_db": {"vocals": 2.0}}, "rationale": "first"},
        {"tool": "apply_gains", "arguments": {"changes_db": {"vocals": 0.3, "kick": -0.4}}, "rationale": "tiny"},
        {"tool": "apply_gains", "arguments": {"changes_db": {"vocals": 5.0}}, "rationale": "never reached"},
    ])
    state = run(session, planner)
    assert state["gains_db"]["vocals"] == 2.0 and state["gains_db"]["kick"] == 0.0
    assert state["converged"] and state["iteration"] == 2
    assert "0.40 dB < 0.5 dB" in state["trace"][-2]["rationale"]


def test_the_same_advice_twice_converges(session):
    move = {"tool": "apply_gains", "arguments": {"changes_db": {"vocals": 1.0}}, "rationale": "vocals up"}
    state = run(session, ScriptedPlanner([move, move, move, move]))
    assert state["gains_db"]["vocals"] == 1.0 and state["converged"]


def test_step_cap_stops_a_planner_that_never_finishes(session):
    measure = {"tool": "measure_loudness", "arguments": {}, "rationale": "again"}
    state = run(session, ScriptedPlanner([measure] * 50), max_steps=5)
    assert state["status"] == "step cap" and not state["converged"]
    assert state["iteration"] == 6  # five planned actions, then the capped finish


class Broken:
    name = "broken"
    write_advice = staticmethod(writes_nothing)

    def plan(self, state, ctx):
        raise RuntimeError("model exploded")


def test_a_planner_crash_ends_the_balance_cleanly(session):
    state = run(session, Broken())
    assert state["status"] == "planner error"
    assert "planner failed: RuntimeError: model exploded" in state["trace"][-2]["rationale"]
    assert state["advice"].startswith("# Balance advice")


def test_trace_records_have_every_field_and_move_lufs_with_gains(session):
    planner = ScriptedPlanner([{"tool": "apply_gains", "arguments": {"changes_db": {"kick": -3.0}}, "rationale": "r"}])
    state = run(session, planner)
    nodes = [r["node"] for r in state["trace"]]
    assert nodes == ["listen", "plan", "act", "listen", "plan", "finish"]
    assert [r["step"] for r in state["trace"]] == list(range(1, 7))
    for record in state["trace"]:
        assert set(TRACE_FIELDS) <= set(record)
    act = state["trace"][2]
    assert act["lufs_after"]["kick"] - act["lufs_before"]["kick"] == pytest.approx(-3.0, abs=0.011)
    assert act["gains_after"]["kick"] == -3.0 and act["gains_before"]["kick"] == 0.0


def test_a_planner_repeating_a_failed_call_is_stopped_as_stuck(session):
    bad = {"tool": "apply_gains", "arguments": {"changes_db": {"tuba": 3.0}}, "rationale": "again"}
    state = run(session, ScriptedPlanner([bad] * 10))
    assert state["status"] == "stuck" and not state["converged"] and state["iteration"] == 2


def test_moves_beyond_the_tool_limit_are_taken_in_steps(session):
    from anchormix.agent import RulePlanner

    moved = Measurements(session).shifted({"vocals": -30.0})  # 36 dB below its conventional place
    state = run(moved.session, RulePlanner(), ctx=ToolContext(moved.session, moved.at({})))
    moves = [r["arguments"]["changes_db"].get("vocals") for r in state["trace"]
             if r["node"] == "act" and r["tool"] == "apply_gains"]
    assert state["status"] == "converged" and moves[0] == 24.0 and len(moves) >= 2
    assert all(r["error"] is None for r in state["trace"])


def test_each_node_runs_alone_on_a_state_and_its_dependencies(session):
    """The nodes are plain functions of (state, runtime): no graph needed to test one."""
    move = {"tool": "apply_gains", "arguments": {"changes_db": {"kick": -2.0}}, "rationale": "kick down"}
    runtime = Runtime(context=LoopDeps(ScriptedPlanner([move]), ToolContext.of(session), MAX_STEPS))
    state = start_state("t", session.anchor, "scripted", {n: 0.0 for n in session.names})
    heard = listen(state, runtime)
    assert heard["trace"][0]["tool"] == "measure_loudness" and heard["step"] == 1
    state = {**state, **heard, "trace": heard["trace"]}
    planned = plan(state, runtime)
    assert planned["pending"]["tool"] == "apply_gains" and planned["iteration"] == 1
    acted = act({**state, **planned, "trace": state["trace"] + planned["trace"]}, runtime)
    assert acted["gains_db"]["kick"] == -2.0 and acted["messages"][0]["error"] is None
    assert state["gains_db"]["kick"] == 0.0  # the state a node was given is never changed
