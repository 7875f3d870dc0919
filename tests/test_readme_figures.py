"""The README's headline figures, held: a change that loses them goes red (issue 29, a first part).

`make demo` (the pop demo, seed 0): the mean distance from the reference balance goes from 5.0 dB to 0.1 dB with
the shipped ALM and to 0.7 dB with the rules (README, "Using it"); the bounds leave room for CPU nondeterminism.
"""

from __future__ import annotations

import pytest

from anchormix.agent import BalanceOutcome
from anchormix.cli import main


@pytest.mark.parametrize("planner, bound_db", [("alm", 0.3), ("rules", 1.0)])
def test_the_demo_balance_keeps_the_figures_the_readme_states(tmp_path, planner, bound_db):
    assert main(["demo", "--out", str(tmp_path), "--planner", planner]) == 0
    error = BalanceOutcome.read(tmp_path / "balanced" / "session-pop-seed0").reference_error_db
    assert error["before"] == pytest.approx(5.0, abs=0.05)
    assert error["after"] <= bound_db, error
