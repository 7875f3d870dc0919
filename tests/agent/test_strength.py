"""Partial apply: `balance --strength 50` gives the mix half of each advised move, and says so everywhere."""

import json

import pytest

from anchormix.agent import balance_session
from anchormix.agent.rules import RulePlanner
from anchormix.cli import main
from anchormix.tools import load_session
from anchormix.tools.loudness import integrated_loudness


def lu_vs_anchor(session_dir, gains):
    """Each stem's loudness against the anchor in the session at ``gains`` (measured from the audio)."""
    session = load_session(session_dir)
    lufs = dict(zip(session.names, integrated_loudness(session.array(), session.sample_rate)))
    return {n: lufs[n] + gains[n] - lufs[session.anchor] - gains[session.anchor] for n in session.names}


def test_half_strength_applies_half_of_every_move_and_records_it(demo_session_dir, tmp_path):
    full = balance_session(demo_session_dir, tmp_path / "full", RulePlanner())
    half = balance_session(demo_session_dir, tmp_path / "half", RulePlanner(), strength_pct=50.0)
    report = json.loads((half.out_dir / "gains.json").read_text())
    advised, applied = report["advised_gains_db"], report["gains_db"]
    assert report["strength_pct"] == 50.0 and advised == json.loads((full.out_dir / "gains.json").read_text())["gains_db"]
    assert any(abs(g) > 1.0 for g in advised.values())
    for name, gain in advised.items():
        assert applied[name] == pytest.approx(gain / 2, abs=0.01)
    # The levels after are the mix's: measured at the applied gains, not the advised ones.
    expected = lu_vs_anchor(demo_session_dir, applied)
    for name, lu in report["lu_vs_anchor_after"].items():
        if lu is not None:
            assert lu == pytest.approx(expected[name], abs=0.05)
    advice = (half.out_dir / "advice.md").read_text()
    assert "Applied at 50 % of the advised moves" in advice
    finish = [json.loads(line) for line in (half.out_dir / "trace.jsonl").read_text().splitlines()][-1]
    assert finish["node"] == "finish" and finish["arguments"]["strength_pct"] == 50.0
    assert finish["gains_after"] == pytest.approx(applied, abs=0.01)


def test_strength_is_checked_and_a_new_strength_is_a_new_run(demo_session_dir, tmp_path, capsys):
    assert main(["balance", str(demo_session_dir), "--out", str(tmp_path), "--planner", "rules", "--strength", "150"]) == 2
    assert "--strength: 150 is outside 0 to 100" in capsys.readouterr().err
    out = tmp_path / "mixes"
    assert main(["balance", str(demo_session_dir), "--out", str(out), "--planner", "rules", "--strength", "0"]) == 0
    report = json.loads((out / demo_session_dir.name / "gains.json").read_text())
    assert set(report["gains_db"].values()) == {0.0} and report["strength_pct"] == 0.0
    assert main(["balance", str(demo_session_dir), "--out", str(out), "--planner", "rules"]) == 0
    report = json.loads((out / demo_session_dir.name / "gains.json").read_text())
    assert report["gains_db"] == report["advised_gains_db"] and report["strength_pct"] == 100.0
