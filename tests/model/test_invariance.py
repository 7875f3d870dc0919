"""Advice against the anchor cannot depend on the session's overall level (docs/architecture.md, "Flat start").

Every stem of a session is scaled by -20 dB and by +6 dB *in the audio*; the anchor-relative advice of
each planner (the shipped ALM included) must move by less than 0.1 dB.
"""

import pytest

from anchormix.planners import make_predictor
from anchormix.tools import Measurements, ToolContext, load_session
from anchormix.tools.demo import write_demo_session


@pytest.fixture(scope="module")
def measured(tmp_path_factory):
    offsets = {"vocals": -8.0, "kick": 6.0, "hats": 8.0, "pad": -5.0}
    folder = write_demo_session(tmp_path_factory.mktemp("inv") / "song", "pop", seconds=8.0, seed=3,
                                sample_rate=22050, offsets_db=offsets)
    return Measurements(load_session(folder)).measure_all()


def advice_at(predict, measured, level_db):
    moved = measured.shifted({n: level_db for n in measured.session.names})
    gains = predict(ToolContext(moved.session, moved.at({})))
    anchor = moved.session.anchor
    return {n: gains[n] - gains[anchor] for n in gains}


@pytest.mark.parametrize("planner", ["loudness", "rules", "alm"])
def test_scaling_every_stem_changes_no_anchor_relative_advice(planner, measured, tmp_path):
    predict = make_predictor(planner, tmp_path)
    reference = advice_at(predict, measured, 0.0)
    assert any(abs(v) > 1.0 for v in reference.values())  # there is advice to keep
    for level_db in (-20.0, 6.0):
        moved = advice_at(predict, measured, level_db)
        assert max(abs(moved[n] - reference[n]) for n in reference) < 0.1, (planner, level_db, moved, reference)


def test_the_alm_hears_the_session_at_one_anchor_level(measured):
    """Unrounded, the model's targets move by far less than its 0.1 dB rounding (no quiet bin lost to the floor)."""
    from anchormix.planners import _balancer

    balancer = _balancer(None)
    targets = []
    for level_db in (0.0, -20.0, 6.0):
        moved = measured.shifted({n: level_db for n in measured.session.names})
        targets.append(balancer.target_lu(ToolContext(moved.session, moved.at({}))))
    assert max(abs(t[n] - targets[0][n]) for t in targets[1:] for n in targets[0]) < 0.01
