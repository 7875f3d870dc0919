"""Memory against the audio (issue 25): what a balance holds as sessions grow, measured in a subprocess.

Not timed: each child reports its own peak RSS (VmHWM), and each test compares two sessions that differ in one
thing (more stems, or a longer song), so the interpreter, the libraries and their allocator cancel out and what
is left is the cost that grows with the audio.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from anchormix.tools.audio import read_audio, write_audio_atomic
from anchormix.tools.demo import write_demo_session
from anchormix.roles import models_held
from anchormix.tools.memory_bound import BYTES_PER_FRAME, WALK_SHARE, charged_bytes, working_bytes

# VmHWM, the peak RSS of this process's own memory: ru_maxrss would keep the forking parent's (pytest's) peak.
CHILD = """
import sys
from anchormix.cli import main
code = main(sys.argv[1:])
hwm = next(line for line in open("/proc/self/status") if line.startswith("VmHWM:"))
print("peak_mb", int(hwm.split()[1]) / 1024, code)
"""


def _peak_mb(*argv: str) -> float:
    done = subprocess.run([sys.executable, "-c", CHILD, *argv], capture_output=True, text=True, check=True)
    _, peak, code = done.stdout.strip().splitlines()[-1].split()
    assert code == "0", done.stderr
    return float(peak)


def _balance_peak_mb(folder: Path, out: Path) -> float:
    return _peak_mb("balance", str(folder), "--out", str(out), "--planner", "rules", "--fresh")


@pytest.fixture(scope="module")
def sessions(tmp_path_factory) -> dict[str, Path]:
    """The pop demo at 48 kHz, 10 s and 90 s (8 stems), and 90 s with 24 more stems (copies of the 8, each quieter,
    named so the patterns read them: no model is loaded for their roles)."""
    root = tmp_path_factory.mktemp("memory")
    found = {f"8x{s}": write_demo_session(root / f"pop{s}", "pop", seconds=float(s), seed=0, sample_rate=48000)
             for s in (10, 90)}
    wide = root / "pop90-32"
    wide.mkdir()
    for k, file in enumerate(sorted(found["8x90"].glob("*.wav"))):
        shutil.copy(file, wide / file.name)
        audio, rate = read_audio(file)
        for copy in range(1, 4):
            write_audio_atomic(wide / f"Keys {3 * k + copy:02d}.wav", audio * np.float32(10 ** (-1.5 * copy / 20)), rate)
    found["32x90"] = wide
    return found


def test_more_stems_cost_almost_no_memory(sessions, tmp_path):
    """8 stems against 32 of 90 s: the 24 more hold 791 MiB decoded (8 bytes a frame a stem); stored on disk and read
    a stretch at a time (each stretch let go of once measured), their analyses kept beside them and walked the same
    way, they may add no more than what a walk keeps per stem (WALK_SHARE of a stem's worth each) and half a stem's
    worth for the allocator. Measured: 0-4 MiB, 8-12 MiB on 2026-12-07 (before the stretches were let go, 12-81: two
    workers each held a whole stem; before issue 25's stem store, all 24)."""
    peaks = [_balance_peak_mb(sessions[k], tmp_path / "out") for k in ("8x90", "32x90")]
    one_stem_mb = 90 * 48000 * BYTES_PER_FRAME / 2**20
    print(f"balance, 8 against 32 stems of 90 s: peaks {peaks[0]:.0f}, {peaks[1]:.0f} MiB")  # pytest -s shows them
    assert peaks[1] - peaks[0] <= (24 * WALK_SHARE + 0.5) * one_stem_mb, (peaks, one_stem_mb)


def test_a_longer_song_costs_at_most_the_working_set_the_bound_charges(sessions, tmp_path):
    """8 stems, 10 s against 90 s: the peak may grow by no more than what the memory bound charges for the 80 s more
    (tools/memory_bound.working_bytes: what a walk over the analyses keeps, and room). Measured: 0.4 stems' worth,
    0.3 of it the analyses, while they were held in memory (1.1 while the mix was held whole, one stem's worth;
    6.6-7.4 when each measurement held whole stems and copies of them, before that the whole session's 8 stems and
    more)."""
    peaks = [_balance_peak_mb(sessions[k], tmp_path / "out") for k in ("8x10", "8x90")]
    print(f"balance, 8 stems of 10 against 90 s: peaks {peaks[0]:.0f}, {peaks[1]:.0f} MiB, a stem of 80 s "
          f"{80 * 48000 * BYTES_PER_FRAME / 2**20:.0f} MiB")
    assert peaks[1] - peaks[0] <= working_bytes(80 * 48000, 8) / 2**20, (peaks, working_bytes(80 * 48000, 8) / 2**20)


def test_the_report_of_a_longer_song_holds_neither_mix(sessions, tmp_path):
    """``balance --report``, 8 stems, 10 s against 90 s: the report's two mixes (before and after, loudness-matched and
    encoded to Ogg a block at a time) are kept beside the stems, not in memory, so the peak may grow by what the
    bound charges and the page itself (its text and its encoding: three copies of what it grew by). Measured: 22.5
    MiB against a bound of 31 (134 when the report held both mixes and a loudness-matched copy of each); once the
    analyses left memory and the bound stopped charging them, 24.7-28.3 against 22: the bound's room is now a stem
    and a half's worth (51)."""
    peaks, pages = [], []
    for key in ("8x10", "8x90"):
        out = tmp_path / key
        peaks.append(_peak_mb("balance", str(sessions[key]), "--out", str(out), "--planner", "rules", "--report"))
        pages.append((out / sessions[key].name / "report.html").stat().st_size / 2**20)
    bound = working_bytes(80 * 48000, 8) / 2**20 + 3 * (pages[1] - pages[0])
    print(f"balance --report, 8 stems of 10 against 90 s: grew {peaks[1] - peaks[0]:.1f} MiB, bound {bound:.1f}")
    assert peaks[1] - peaks[0] <= bound, (peaks, pages, bound)


@pytest.mark.parametrize("planner, renamed", [("rules", False), ("rules", True), ("alm", False)],
                         ids=["no model", "the name reader", "the ALM"])
def test_a_balance_peaks_under_what_the_bound_charges_before_decoding(sessions, tmp_path, planner, renamed):
    """The whole peak of a balance (the program, the models its command loads and the audio) stays under the charge
    tools/memory_bound.py checks ANCHORMIX_MAX_MEMORY_GB against: with no model, with the name reader and the tagger
    (stems named "Audio 01" ... : no pattern reads them) and with the ALM and its advice writer."""
    folder = sessions["8x10"]
    if renamed:
        folder = tmp_path / "audio-nn"
        folder.mkdir()
        for k, file in enumerate(sorted(sessions["8x10"].glob("*.wav")), start=1):
            shutil.copy(file, folder / f"Audio {k:02d}.wav")
    sources = {f.stem: "unknown" if renamed else "name" for f in folder.glob("*.wav")}
    models = models_held(planner)(sources)
    assert bool(models) == (renamed or planner == "alm")
    peak = _peak_mb("balance", str(folder), "--out", str(tmp_path / "out"), "--planner", planner, "--fresh")
    charged = charged_bytes(10 * 48000, len(sources), models) / 2**20
    print(f"balance --planner {planner}, {'unread' if renamed else 'read'} names: peak {peak:.0f} MiB, charged "
          f"{charged:.0f} MiB")  # `pytest -s` shows them (README, "Safety")
    assert peak <= charged, (peak, charged, models)
