"""The rule planner on generated sessions with known reference balance and random spoiled levels; the peak planner
on stems whose peaks are known."""

import json
import re

import numpy as np
import pytest

from anchormix.agent import PeakPlanner, RulePlanner, balance_session
from anchormix.tools import Measurements, load_session
from anchormix.tools.conventions import PEAK_WEIGHT, ROLE_TARGETS_LU, peak_offset_db
from anchormix.tools.demo import write_demo_session

from ..conftest import sine, tree_hash, write_wav


@pytest.fixture(scope="module")
def spoiled_sessions(tmp_path_factory):
    """Three songs whose every stem (anchor included) is moved by U(-12, +12) dB, seeded."""
    rng = np.random.default_rng(42)
    root = tmp_path_factory.mktemp("spoiled")
    folders = []
    for i, genre in enumerate(("pop", "edm", "hiphop")):
        offsets = {n: float(rng.uniform(-12, 12)) for n in ("kick", "snare", "hats", "bass", "keys", "pad", "lead", "vocals")}
        folders.append(write_demo_session(root / f"{genre}{i}", genre, seconds=4.0, seed=i, sample_rate=22050,
                                          offsets_db=offsets))
    return folders


def test_rules_reduce_the_error_and_converge_within_the_cap(spoiled_sessions, tmp_path):
    for folder in spoiled_sessions:
        before = tree_hash(folder)
        result = balance_session(folder, tmp_path / "out", RulePlanner(), max_steps=16)
        assert result.outcome.converged and result.outcome.status == "converged" and result.outcome.iterations <= 16
        error = result.outcome.reference_error_db
        assert error["after"] < error["before"] - 2.0, error
        assert error["after"] < 2.5
        assert tree_hash(folder) == before  # sources byte-identical
        assert not any(folder.rglob("mix.wav"))  # nothing landed in the session
        for name in ("mix.wav", "gains.json", "advice.md", "trace.jsonl", "checkpoint.sqlite"):
            assert (tmp_path / "out" / folder.name / name).is_file()


def test_advice_quotes_exactly_the_gains_applied(spoiled_sessions, tmp_path):
    result = balance_session(spoiled_sessions[0], tmp_path, RulePlanner())
    report = json.loads((result.out_dir / "gains.json").read_text())
    quoted = {m.group(1): float(m.group(2)) for m in re.finditer(r"\*\*(\w+) ([+-]\d+\.\d) dB\*\* against the bass",
                                                               result.advice)}
    moved = {n: g for n, g in report["gains_vs_anchor_db"].items() if abs(g) >= 0.05 and n != "bass"}
    assert quoted == moved and quoted
    # and each stem now sits at its role's target against the anchor (within rounding)
    for name, lu in report["lu_vs_anchor_after"].items():
        if name != "bass":
            assert lu == pytest.approx(ROLE_TARGETS_LU[name], abs=0.06)


def test_another_anchor_re_references_the_targets(spoiled_sessions, tmp_path):
    result = balance_session(spoiled_sessions[1], tmp_path, RulePlanner(), anchor="vocals")
    assert result.outcome.converged
    assert result.outcome.gains_vs_anchor_db["vocals"] == 0.0
    for name, lu in result.outcome.lu_vs_anchor_after.items():
        expected = ROLE_TARGETS_LU[name] - ROLE_TARGETS_LU["vocals"]
        assert lu == pytest.approx(expected, abs=0.06), name
    assert "against the vocals" in result.advice


def test_rules_inspect_masking_before_moving_and_cite_it(spoiled_sessions, tmp_path):
    result = balance_session(spoiled_sessions[2], tmp_path, RulePlanner())
    trace = [json.loads(line) for line in (result.out_dir / "trace.jsonl").read_text().splitlines()]
    tools = [r["tool"] for r in trace if r["node"] == "act"]
    first_apply = tools.index("apply_gains")
    assert tools[:first_apply] and set(tools[:first_apply]) == {"measure_masking"}
    assert "masked it" in result.advice


def test_outputs_inside_the_session_are_refused(spoiled_sessions):
    with pytest.raises(ValueError, match="refusing to write inside"):
        balance_session(spoiled_sessions[0], spoiled_sessions[0] / "mixes", RulePlanner())


def test_a_balanced_session_needs_no_moves(tmp_path):
    # Generated exactly at the table's targets: the planner should finish at once.
    folder = write_demo_session(tmp_path / "s", "pop", seconds=3.0, seed=0, sample_rate=22050)
    planner = RulePlanner(targets_lu={**ROLE_TARGETS_LU, **{"hats": -10.0, "keys": -6.0, "pad": -10.0, "lead": -5.0}})
    result = balance_session(folder, tmp_path / "out", planner)
    assert result.outcome.converged and all(abs(g) < 0.05 for g in result.outcome.gains_vs_anchor_db.values())
    assert "No changes" in result.advice


def test_the_peak_planner_sets_each_stem_by_its_peaks_and_role_from_any_start(spoiled_sessions, tmp_path):
    folder = spoiled_sessions[0]
    measured = Measurements(load_session(folder)).measure_all()
    crest = {n: measured.true_peak[n] - measured.lufs[n] for n in measured.session.names}  # moves with no gain
    before = tree_hash(folder)
    result = balance_session(folder, tmp_path / "out", PeakPlanner())
    assert result.outcome.converged and tree_hash(folder) == before
    for name, lu in result.outcome.lu_vs_anchor_after.items():
        if name != "bass":
            by_peak = crest["bass"] - crest[name] + peak_offset_db("bass")
            expected = PEAK_WEIGHT * by_peak + (1 - PEAK_WEIGHT) * ROLE_TARGETS_LU[name]
            assert lu == pytest.approx(expected, abs=0.56), name  # a stem within 0.5 dB of its target stays
    assert "its peaks stand" in result.advice and "by convention" in result.advice  # the advice quotes the reasons


def test_peaks_alone_line_the_true_peaks_up(tmp_path):
    # A sustained tone (crest 3 dB) as the bass, clicks (crest ~ 20 dB) as "other": from the same loudness, peak
    # alignment must take the clicks down by about the difference of their crests.
    sr, folder = 22050, tmp_path / "s"
    folder.mkdir()
    clicks = np.zeros((2, 3 * sr), dtype=np.float32)
    clicks[:, :: sr // 8] = 0.9
    write_wav(folder / "bass.wav", sine(55.0, 3.0, sr, 0.3), sr)
    write_wav(folder / "clicks.wav", clicks, sr)
    result = balance_session(folder, tmp_path / "out", PeakPlanner(weight=1.0, offset_db=-2.0))
    after = Measurements(load_session(folder)).measure_all().at(result.outcome.gains_db)
    assert after.true_peak("clicks") - after.true_peak("bass") == pytest.approx(-2.0, abs=0.56)
    assert result.outcome.gains_vs_anchor_db["clicks"] < -10.0


def test_the_peak_offset_follows_the_anchor_role():
    # The same two measurements, once with the anchor read as a bass and once as a kick: a kick's peaks stand further
    # above its loudness, so the stem is set further under them (tools/conventions.py: PEAK_OFFSET_DB).
    row = {"role": "keys", "lufs": -20.0, "true_peak_dbtp": -8.0, "lu_vs_anchor": 0.0}
    anchor = {"lufs": -20.0, "true_peak_dbtp": -10.0, "lu_vs_anchor": 0.0}
    planner = PeakPlanner()
    as_bass, as_kick = (planner.stem_target(row, {**anchor, "role": r}) for r in ("bass", "kick"))
    by_role = ROLE_TARGETS_LU["keys"] - ROLE_TARGETS_LU["bass"]
    assert as_bass == pytest.approx(PEAK_WEIGHT * (10.0 - 12.0 + peak_offset_db("bass")) + (1 - PEAK_WEIGHT) * by_role)
    assert as_kick - as_bass == pytest.approx(PEAK_WEIGHT * (peak_offset_db("kick") - peak_offset_db("bass"))
                                              - (1 - PEAK_WEIGHT) * (ROLE_TARGETS_LU["kick"] - ROLE_TARGETS_LU["bass"]))
    assert peak_offset_db("kick") < peak_offset_db("bass") and peak_offset_db("vocals") == peak_offset_db("bass")
    missing = planner.stem_target({**row, "true_peak_dbtp": None}, {**anchor, "role": "bass"})
    assert missing == pytest.approx(by_role)  # no peak: the role's offset alone
