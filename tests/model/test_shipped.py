"""The shipped checkpoint: it loads offline, beats doing nothing on a fixture session, and writes parsable advice."""

import numpy as np
import pytest

from anchormix.model.alm.build import DEFAULT_CHECKPOINT
from anchormix.model.alm.planner import ALMBalancer
from anchormix.model.prompt import StemPrompt, advice_text, parse_advice
from anchormix.tools import ToolContext, load_session
from anchormix.tools.demo import write_demo_session


@pytest.fixture(scope="module")
def balancer():
    assert DEFAULT_CHECKPOINT.exists() and DEFAULT_CHECKPOINT.stat().st_size < 20 * 2**20
    return ALMBalancer()


def test_the_shipped_model_is_closer_to_the_reference_than_doing_nothing(balancer, tmp_path):
    offsets = {"vocals": -8.0, "kick": 6.0, "hats": 8.0, "keys": 6.0, "pad": -6.0, "lead": -7.0, "snare": 5.0}
    folder = write_demo_session(tmp_path / "song", "pop", seconds=8.0, seed=3, sample_rate=22050, offsets_db=offsets)
    session = load_session(folder)
    ctx = ToolContext.of(session)
    gains = balancer.gains(ctx)
    # The fix for each stem is minus its offset (relative to the anchor, the bass, which is not moved).
    scored = [n for n in session.names if n != session.anchor]
    model_error = np.mean([abs(gains[n] + offsets.get(n, 0.0)) for n in scored])
    none_error = np.mean([abs(offsets.get(n, 0.0)) for n in scored])
    assert gains[session.anchor] == 0.0
    assert model_error < none_error, (model_error, none_error, gains)


def test_advice_text_round_trips_and_generation_streams(balancer, demo_session_dir):
    stems = [StemPrompt(1, "bass", 0.0, True), StemPrompt(2, "vocals", -6.0, False), StemPrompt(3, "hats", 4.0, False)]
    text = advice_text(stems, np.array([0.0, 6.2, -0.4]))
    assert text == "stem 2 +6.2 dB;" and parse_advice(text) == {2: 6.2}
    assert parse_advice("Balanced: no moves.") == {}

    pieces = []
    moves, generated = balancer.text_gains(ToolContext.of(load_session(demo_session_dir)), on_token=pieces.append)
    assert generated and "".join(pieces).strip() == generated
    assert all(np.isfinite(v) for v in moves.values())


def test_the_shipped_planner_chooses_its_calls_and_converges_on_a_fixture_session(balancer, tmp_path):
    from anchormix.agent import run_balance, start_state
    from anchormix.model.alm.planner import ALMPlanner

    offsets = {"vocals": -9.0, "kick": 6.0, "hats": 8.0, "keys": 6.0, "pad": -6.0}
    folder = write_demo_session(tmp_path / "song", "pop", seconds=8.0, seed=5, sample_rate=22050, offsets_db=offsets)
    ctx = ToolContext.of(load_session(folder))
    start = start_state("t", ctx.session.anchor, "alm", {n: 0.0 for n in ctx.session.names})
    state = run_balance(ALMPlanner(balancer), ctx, start, max_steps=16)
    assert balancer.alm.cfg.plans  # the shipped model was trained to choose its calls
    assert state["status"] == "converged" and state["iteration"] <= 16
    plans = [r for r in state["trace"] if r["node"] == "plan"]
    assert any(r["tool"] == "apply_gains" and r["rationale"].startswith("model: ") for r in plans)
    scored = [n for n in ctx.session.names if n != ctx.session.anchor]
    error = np.mean([abs(state["gains_db"][n] + offsets.get(n, 0.0)) for n in scored])
    assert error < np.mean([abs(offsets.get(n, 0.0)) for n in scored])
