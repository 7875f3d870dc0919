"""The oracle's planning trajectories: its calls follow the reference, and plan draws are consistent states."""

import json
import re

import numpy as np
import pytest

from anchormix.agent.toolcall import parse_tool_call
from anchormix.model.prompt import StemPrompt
from anchormix.model.features import load_corpus
from anchormix.model.draws import MASKING_DB, make_plan_draw, oracle_call
from anchormix.model.prompt import call_text, read_call


def stems_of(count, anchor=0):
    return [StemPrompt(i + 1, "other", 0.0, i == anchor) for i in range(count)]


def test_the_oracle_finishes_under_half_a_db_checks_masking_on_a_buried_stem_once_and_otherwise_applies():
    stems = stems_of(4)
    assert oracle_call(stems, np.array([9.0, 0.2, -0.4, 0.3]), []) == call_text("finish")  # the anchor's is ignored
    buried = np.array([0.0, MASKING_DB + 1.0, -2.0, MASKING_DB + 1.5])  # stem 4 is the furthest under
    assert oracle_call(stems, buried, []) == call_text("measure_masking", 4)
    assert oracle_call(stems, buried, ["measure_masking stem 4"]) == call_text("apply_gains")
    assert oracle_call(stems, buried, ["apply_gains"]) == call_text("apply_gains")  # no masking check after a move
    assert oracle_call(stems, np.array([0.0, -8.0, 2.0, 1.0]), []) == call_text("apply_gains")  # too loud: not buried


def test_calls_read_back_and_are_valid_registry_calls_once_the_stem_is_named():
    assert read_call(call_text("measure_masking", 3)) == ("measure_masking", 3)
    assert read_call(call_text("finish")) == ("finish", None)
    for bad in ("finish", '{"tool": "measure_masking", "arguments": {"target": "vocals"}}', "[1]"):
        with pytest.raises(ValueError):
            read_call(bad)
    named = json.loads(call_text("measure_masking", 2))
    named["arguments"]["target"] = "vocals"
    assert parse_tool_call(json.dumps(named), ["bass", "vocals"])["arguments"] == {"target": "vocals"}


def test_plan_draws_are_states_of_a_trajectory(tiny_corpus):
    session = load_corpus(tiny_corpus)[0]
    rng = np.random.default_rng(0)
    seen = set()
    for _ in range(60):
        plan = make_plan_draw(session, rng, frames=64, max_stems=6)
        draw = plan.draw
        a = draw.anchor
        assert draw.measured_lu[a] == pytest.approx(0.0) and draw.target_lu[a] == 0.0
        assert [s.lu_vs_anchor for s in draw.stems] == pytest.approx(draw.measured_lu.tolist())
        moves = dict(re.findall(r"stem (\d+) ([+-]\d+\.\d) dB", plan.proposal))
        assert len(moves) == len(draw.stems) - 1 and str(draw.stems[a].index) not in moves
        proposed = np.array([float(moves.get(str(s.index), 0.0)) for s in draw.stems])
        assert plan.call == oracle_call(draw.stems, proposed, plan.history)
        # The proposal is the true residual move, blurred by at most a few dB of head error.
        assert np.abs(proposed - (draw.target_lu - draw.measured_lu))[np.arange(len(proposed)) != a].max() < 10.0
        assert all(h == "apply_gains" or h.startswith("measure_masking stem ") for h in plan.history)
        seen.add((len(plan.history) > 0, read_call(plan.call)[0]))
    assert {(False, "measure_masking"), (True, "apply_gains"), (True, "finish")} <= seen


def test_a_residual_state_moves_the_audio_by_exactly_the_level_change(tiny_corpus):
    from anchormix.model.draws import _with_residual
    from anchormix.model.draws import make_draw

    draw = make_draw(load_corpus(tiny_corpus)[0], np.random.default_rng(3), frames=64, max_stems=6)
    residual = np.linspace(-2.0, 2.0, len(draw.stems))
    moved = _with_residual(draw, residual)
    expected = residual.copy()
    expected[draw.anchor] = 0.0
    assert moved.measured_lu - moved.target_lu == pytest.approx(expected, abs=1e-5)
    from anchormix.model.features import FLOOR_DB

    heard = (draw.mel > FLOOR_DB + 5) & (moved.mel > FLOOR_DB)
    for k in range(len(draw.stems)):
        if heard[k].any():
            shift = float((moved.mel[k] - draw.mel[k])[heard[k]].mean())
            assert shift == pytest.approx(moved.measured_lu[k] - draw.measured_lu[k], abs=1e-3)
    assert (moved.mel[draw.mel <= FLOOR_DB] == FLOOR_DB).all()  # silence stays silence


def test_the_proposal_reads_from_the_largest_boost_to_the_largest_cut_without_the_anchor():
    from anchormix.model.prompt import proposal_text

    stems = stems_of(4, anchor=1)
    assert proposal_text(stems, [-0.04, 7.0, 4.04, -2.5]) == "stem 3 +4.0 dB, stem 1 +0.0 dB, stem 4 -2.5 dB"
    assert proposal_text(stems_of(1), [0.0]) == "none"
