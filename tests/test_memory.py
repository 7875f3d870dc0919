"""Memory against the audio (issue 25): what a balance holds beyond the decoded stems, measured in a subprocess.

Not timed: each child reports its own peak RSS (VmHWM), and the test compares a long session with a short
one of the same stems, so the interpreter, the libraries and their allocator cancel out and what is left is the cost
that grows with the audio.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from anchormix.tools.demo import write_demo_session

# VmHWM, the peak RSS of this process's own memory: ru_maxrss would keep the forking parent's (pytest's) peak.
CHILD = """
import sys
from anchormix.cli import main
code = main(sys.argv[1:])
hwm = next(line for line in open("/proc/self/status") if line.startswith("VmHWM:"))
print("peak_mb", int(hwm.split()[1]) / 1024, code)
"""
# Decoded stems, plus what measuring and rendering hold at once; 3.3 before issue 25's changes.
GROWTH_LIMIT = 2.25


def _peak_mb(*argv: str) -> float:
    done = subprocess.run([sys.executable, "-c", CHILD, *argv], capture_output=True, text=True, check=True)
    _, peak, code = done.stdout.strip().splitlines()[-1].split()
    assert code == "0", done.stderr
    return float(peak)


@pytest.fixture(scope="module")
def short_and_long(tmp_path_factory) -> tuple[Path, Path]:
    root = tmp_path_factory.mktemp("memory")
    return tuple(write_demo_session(root / f"pop{s}", "pop", seconds=float(s), seed=0, sample_rate=48000) for s in (10, 90))


def test_a_balance_holds_at_most_about_twice_the_decoded_stems(short_and_long, tmp_path):
    """8 stems at 48 kHz, 10 s against 90 s: the 80 s more hold 246 MB decoded (8 bytes a frame a stem); the balance's
    peak may grow by no more than GROWTH_LIMIT times that (measured 1.8; a stacked copy of the session for the
    measurements, a gained copy of every stem for the mix or a second padded copy at load would each break it)."""
    short, long_ = short_and_long
    peaks = [_peak_mb("balance", str(folder), "--out", str(tmp_path / "out"), "--planner", "rules", "--fresh")
             for folder in (short, long_)]
    decoded_mb = 8 * 80 * 48000 * 8 / 2**20
    assert peaks[1] - peaks[0] <= GROWTH_LIMIT * decoded_mb, (peaks, decoded_mb)
