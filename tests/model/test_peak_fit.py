"""The peak planner's fit (model/evaluation/peak_fit.py): it finds the weight and offset generated stems follow, and
measures a real corpus's train split with the tools' own loudness and true peak."""

import numpy as np
import pytest

from anchormix.model.corpus import build_procedural_session, write_manifest
from anchormix.model.evaluation.peak_fit import PeakRows, fit_peak_rule, peak_rows


def test_the_fit_recovers_the_weight_and_offset_the_levels_follow():
    rng = np.random.default_rng(0)
    by_peak, by_role = rng.uniform(-15, 10, 400), rng.choice([0.0, -1.0, -6.0, -10.0], 400)
    level = 0.7 * (by_peak - 2.0) + 0.3 * by_role + rng.laplace(0, 0.3, 400)
    best = fit_peak_rule(PeakRows(list(level), list(by_peak), list(by_role)))[0]
    assert best.weight == pytest.approx(0.7, abs=0.051) and best.offset_db == pytest.approx(-2.0, abs=0.3)
    assert best.mae_db < 0.5 and best.stems == 400


def test_no_stems_is_a_clear_error():
    with pytest.raises(ValueError, match="no stems to fit"):
        fit_peak_rule(PeakRows([], [], []))


def test_peak_rows_measure_the_train_split_only(tmp_path):
    entries = [build_procedural_session(tmp_path, genre, seed, seconds=2.0) for seed, genre in enumerate(["pop", "edm"])]
    entries[0]["split"], entries[1]["split"] = "train", "test"
    write_manifest(tmp_path, {"sessions": {e["id"]: e for e in entries}, "skipped": {}})
    seen = []
    found = peak_rows([tmp_path], on_session=seen.append, anchor_roles=(None, "kick", "brass"))
    rows, kick = found[None], found["kick"]
    assert rows.sessions == 1 and kick.sessions == 1 and found["brass"].sessions == 0 and not found["brass"].level and [f.name for f in seen] == [entries[0]["id"]]
    assert len(rows.level) == len(rows.by_peak) == len(rows.by_role) == entries[0]["stems"] - 1
    assert all(np.isfinite(rows.by_peak)) and max(map(abs, rows.by_peak)) > 0.5  # the stems' crests differ
    assert len(kick.level) == len(rows.level) and kick.level != rows.level  # the same stems, against the kick
