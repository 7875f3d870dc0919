"""JSON tool calls from a (scripted) model: invalid ones are caught, recorded and never executed."""

import json

import pytest

from anchormix.agent import ScriptedPlanner, run_balance, start_state
from anchormix.agent.toolcall import ToolCallError, format_tool_call, parse_tool_call
from anchormix.tools import ToolContext, load_session


def run(session, planner, max_steps=8):
    start = start_state("t", session.anchor, "scripted", {n: 0.0 for n in session.names})
    return run_balance(planner, ToolContext.of(session), start, max_steps=max_steps)


@pytest.mark.parametrize("text, message", [
    ("apply_gains(vocals=+2)", "not a JSON tool call"),
    ('["apply_gains"]', 'JSON object with a "tool"'),
    ('{"tool": "louder", "arguments": {}}', "unknown tool 'louder'"),
    ('{"tool": "apply_gains", "arguments": {"changes_db": {"vocals": "lots"}}}', "changes_db.vocals"),
    ('{"tool": "apply_gains", "arguments": {"changes": {"vocals": 2}}}', "invalid arguments"),
    ('{"tool": "measure_masking", "arguments": {"target": "vocals"}, "why": "x"}', "unknown keys ['why']"),
])
def test_invalid_calls_are_rejected_with_a_reason(text, message):
    with pytest.raises(ToolCallError, match=message.replace("[", r"\[").replace("]", r"\]").replace("(", r"\(")):
        parse_tool_call(text)


def test_valid_calls_round_trip():
    action = {"tool": "apply_gains", "arguments": {"changes_db": {"vocals": 2.5}}, "rationale": "r", "reasons": {},
              "flags": {"vocals": "check it by ear"}, "intervals": {"vocals": 3.8}}
    assert parse_tool_call(format_tool_call(action)) == action
    with pytest.raises(ToolCallError, match='"intervals" must map stem names to non-negative numbers'):
        parse_tool_call('{"tool": "apply_gains", "arguments": {"changes_db": {"vocals": 1}}, "intervals": {"vocals": "3"}}')
    with pytest.raises(ToolCallError, match='"flags" must map stem names to strings'):
        parse_tool_call('{"tool": "apply_gains", "arguments": {"changes_db": {"vocals": 1}}, "flags": {"vocals": 3}}')
    assert parse_tool_call('{"tool": "finish", "rationale": "done"}')["tool"] == "finish"


def test_the_graph_never_runs_an_invalid_call_and_the_planner_hears_why(demo_session_dir):
    session = load_session(demo_session_dir)
    planner = ScriptedPlanner([
        '{"tool": "apply_gains", "arguments": {"changes_db": {"vocals": "up"}}}',
        '{"tool": "apply_gains", "arguments": {"changes_db": {"vocals": 3.0}}, "rationale": "fixed"}',
    ])
    state = run(session, planner)
    invalid = [r for r in state["trace"] if r["tool"] == "invalid_call"]
    assert len(invalid) == 1 and "changes_db.vocals" in invalid[0]["error"]
    assert json.loads(invalid[0]["arguments"]["text"])["arguments"]["changes_db"]["vocals"] == "up"
    assert state["messages"][0]["error"].startswith("invalid tool call")
    assert state["gains_db"]["vocals"] == 3.0  # only the valid call ran
    assert state["status"] == "converged"


def test_three_invalid_calls_in_a_row_stop_the_balance(demo_session_dir):
    session = load_session(demo_session_dir)
    state = run(session, ScriptedPlanner(["{", "{", "{", '{"tool": "finish"}']))
    assert state["status"] == "invalid tool calls" and not state["converged"]
    assert all(g == 0.0 for g in state["gains_db"].values())


def test_calls_naming_a_stem_the_session_lacks_are_rejected_before_they_run():
    stems = ["bass", "vocals"]
    assert parse_tool_call('{"tool": "measure_masking", "arguments": {"target": "vocals"}}', stems)
    for text, where in [('{"tool": "measure_masking", "arguments": {"target": "Vocals"}}', "target"),
                        ('{"tool": "measure_masking", "arguments": {"target": "vocals", "masker": "gtr"}}', "masker"),
                        ('{"tool": "apply_gains", "arguments": {"changes_db": {"keys": 2.0}}}', "changes_db")]:
        with pytest.raises(ToolCallError, match=f"unknown stem .* in {where}; stems: bass, vocals"):
            parse_tool_call(text, stems)
