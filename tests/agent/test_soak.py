"""A short version of benchmarks/soak.py in every test run: SIGKILL a batch mid-run, rerun, lose nothing."""

import importlib.util
from pathlib import Path

SOAK = Path(__file__).resolve().parents[2] / "benchmarks" / "soak.py"


def test_a_killed_batch_resumes_to_the_same_gains_with_nothing_half_written(tmp_path):
    spec = importlib.util.spec_from_file_location("soak", SOAK)
    soak = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(soak)
    sessions = soak.make_batch(tmp_path / "sources", 3, seconds=2.0)
    result = soak.run_soak(sessions, tmp_path, kills=3, seed=1, log=lambda _: None)
    assert result["kills"] >= 2 and result["mid_session"] == result["kills"]  # killed on progress: mid-session
    assert result["problems"] == [] and result["files_lost"] == 0 and result["final_exit"] == 0
    assert result["completed"] == 3 and result["differs"] == []
