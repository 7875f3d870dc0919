"""Issue 26, "Nothing lost, no way in": each reproduction of the probe, and the user's files byte-identical after it.

Numbered as in the issue. Item 1 (a REAPER project's own folder) is in tests/tools/test_daw_import.py; item 7 (an
Ardour file in any XML spelling) and the control characters in names (6) in tests/tools/test_daw.py; the listening
server (8, 10) in tests/test_listen_server.py.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import pytest

from anchormix.cli import main
from anchormix.tools import load_session
from anchormix.tools.daw import daw_stems, write_ardour_session, write_reaper_project

from .conftest import sine, tree_hash, write_wav

SR = 22050


def _song(folder: Path, rate: int = SR) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    write_wav(folder / "bass.wav", sine(55, 2.0, rate, 0.3), rate)
    write_wav(folder / "keys.wav", sine(440, 2.0, rate, 0.2), rate)
    return folder


# 2 ------------------------------------------------------------------------------------------------------------------
def test_listen_build_never_deletes_or_writes_into_what_it_did_not_make(demo_session_dir, tmp_path, capsys):
    mine = tmp_path / "test"
    (mine / "work").mkdir(parents=True)
    (mine / "work" / "thesis.txt").write_text("years of work")
    before = tree_hash(mine)
    assert main(["listen", "build", str(demo_session_dir), "--conditions", "reference,none", "--out", str(mine)]) == 2
    assert "did not create" in capsys.readouterr().err and tree_hash(mine) == before
    sources = tree_hash(demo_session_dir)
    inside = demo_session_dir / "test"
    assert main(["listen", "build", str(demo_session_dir), "--conditions", "reference,none", "--out", str(inside)]) == 2
    assert "refusing to write inside" in capsys.readouterr().err
    assert tree_hash(demo_session_dir) == sources and not inside.exists()
    fresh = tmp_path / "fresh"  # a new folder: built, and the planners' work folder is gone after
    assert main(["listen", "build", str(demo_session_dir), "--conditions", "reference,rules", "--out", str(fresh)]) == 0
    assert (fresh / "test.json").exists() and not [p for p in fresh.iterdir() if p.name.startswith(".work")]


def test_listen_build_takes_a_session_without_a_reference_as_delivered(tmp_path):
    song = _song(tmp_path / "song")
    assert main(["listen", "build", str(song), "--conditions", "reference,none", "--out", str(tmp_path / "t")]) == 0
    trial = json.loads((tmp_path / "t" / "test.json").read_text())["trials"][0]
    assert trial["reference_from"] == "as delivered"
    assert trial["gains_db"]["reference"] == pytest.approx(trial["gains_db"]["none"], abs=1e-6)


# 3 ------------------------------------------------------------------------------------------------------------------
def test_measure_json_never_overwrites_a_source_or_someone_elses_file(tmp_path, capsys):
    song = _song(tmp_path / "song")
    before = tree_hash(song)
    assert main(["measure", str(song), "--json", str(song / "bass.wav")]) == 2
    assert "refusing to write inside" in capsys.readouterr().err and tree_hash(song) == before
    notes = tmp_path / "notes.json"
    notes.write_text('{"mine": true}\n')
    assert main(["measure", str(song), "--json", str(notes)]) == 2
    assert "refusing to overwrite" in capsys.readouterr().err and notes.read_text() == '{"mine": true}\n'
    levels = tmp_path / "levels.json"
    assert main(["measure", str(song), "--json", str(levels)]) == 0
    assert main(["measure", str(song), "--json", str(levels)]) == 0  # its own file: replaced
    assert json.loads(levels.read_text())["levels"]["anchor"] == "bass"


# 4, 9, 11, 12 (parse errors): DAW input validated like audio input ---------------------------------------------------
def _reaper(song: Path, tmp_path: Path) -> Path:
    session = load_session(song)
    stems = daw_stems(session, {n: 0.0 for n in session.names}, {}, tmp_path / "unused")
    return write_reaper_project(tmp_path / "Rough" / "Rough.RPP", stems, session.sample_rate)


def _ardour(song: Path, tmp_path: Path) -> Path:
    session = load_session(song)
    stems = daw_stems(session, {n: 0.0 for n in session.names}, {}, tmp_path / "unused")
    return write_ardour_session(tmp_path / "Rough", "Rough", stems, session.sample_rate)


@pytest.mark.parametrize("volpan, problem", [("1e300", "outside what the DAW allows"),
                                             ("1e30", "outside what the DAW allows"),
                                             ("-1", "outside what the DAW allows"),
                                             ("nan", "outside what the DAW allows"),
                                             ("abc", "'abc' is not a number")])
def test_a_reaper_fader_out_of_range_is_named_with_its_file_and_track(tmp_path, capsys, volpan, problem):
    rough = _reaper(_song(tmp_path / "song"), tmp_path)
    text = rough.read_text()
    at = text.index("VOLPAN", text.index("NAME keys"))
    rough.write_text(text[:at] + f"VOLPAN {volpan} 0 -1 -1 1" + text[text.index("\n", at):])
    before = tree_hash(rough.parent)
    assert main(["balance", str(rough), "--out", str(tmp_path / "out"), "--planner", "rules"]) == 1
    err = capsys.readouterr().err.replace("\n", "")
    assert "Rough.RPP" in err and "'keys'" in err and problem in err and "Traceback" not in err
    assert tree_hash(rough.parent) == before and not (tmp_path / "out" / "Rough").exists()


@pytest.mark.parametrize("edit, problem", [
    (('name="gaincontrol"', 'value="1.0"', 'value="1e300"'), "fader (gaincontrol) 1e300 is outside"),
    (('name="gaincontrol"', 'value="1.0"', 'value="2.5"'), "fader (gaincontrol) 2.5 is outside"),
    (('name="keys" type="audio" orig-track-id', 'channels="2"', 'channels="0"'), "region channels '0'"),
    (('name="keys" type="audio" orig-track-id', 'channels="2"', 'channels="-3"'), "region channels '-3'"),
    (('name="keys" type="audio" orig-track-id', 'channels="2"', 'channels="20000000"'), "region channels '20000000'"),
])
def test_an_ardour_track_out_of_range_is_named_with_its_file_and_track(tmp_path, edit, problem):
    rough = _ardour(_song(tmp_path / "song"), tmp_path)
    text = rough.read_text()
    anchor, old, new = edit
    route = text.index('name="keys" default-type') if "gain" in anchor else 0
    at = text.index(old, text.index(anchor, route))
    rough.write_text(text[:at] + new + text[at + len(old):])
    with pytest.raises(ValueError, match=re.escape(f"Rough.ardour: track 'keys': {problem}")):
        load_session(rough)


def test_stems_at_rates_that_are_not_audio_are_refused_not_called_silent(tmp_path, capsys):
    for rate in (1, 100):
        song = tmp_path / f"song{rate}"
        song.mkdir()
        write_wav(song / "bass.wav", sine(0.2, 40.0, rate, 0.3), rate)
        before = tree_hash(song)
        assert main(["measure", str(song)]) == 2
        err = capsys.readouterr().err.replace("\n", "")
        assert f"a sample rate of {rate} Hz is not audio" in err and "bass.wav" in err
        assert tree_hash(song) == before


def test_running_out_of_memory_while_decoding_is_one_line(tmp_path, capsys, monkeypatch):
    from anchormix.tools import stem_store

    song = _song(tmp_path / "song")

    def no_memory(*args, **kwargs):
        raise MemoryError()

    monkeypatch.setattr(stem_store, "read_blocks", no_memory)
    assert main(["measure", str(song)]) == 2
    err = capsys.readouterr().err
    assert "not enough memory" in err and "bass.wav" in err and "Traceback" not in err


# 5 ------------------------------------------------------------------------------------------------------------------
def _children(pid: int) -> set[int]:
    import psutil

    try:
        return {c.pid for c in psutil.Process(pid).children(recursive=True)}
    except psutil.NoSuchProcess:
        return set()


def _alive(pids: set[int]) -> set[int]:
    import psutil

    return {p for p in pids if psutil.pid_exists(p) and psutil.Process(p).status() != psutil.STATUS_ZOMBIE}


@pytest.mark.parametrize("how", [["--jobs", "2"], ["--ray", "--jobs", "2"]], ids=["processes", "ray"])
def test_a_killed_batch_with_workers_leaves_no_process_behind_and_resumes(tmp_path, how):
    if "--ray" in how:
        pytest.importorskip("ray")
    sources = [_song(tmp_path / f"song{k}") for k in range(3)]
    out = tmp_path / "out"
    env = {**os.environ, "ANCHORMIX_STEP_DELAY_S": "1.0"}
    command = [sys.executable, "-m", "anchormix", "balance", *map(str, sources), "--out", str(out), *how,
               "--planner", "rules"]
    batch = subprocess.Popen(command, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                             start_new_session=True)
    started: set[int] = set()
    for _ in range(1200):  # until a session has written a step (observed progress, not a clock)
        started |= _children(batch.pid)
        if any((out / s.name / "trace.jsonl").is_file() and (out / s.name / "trace.jsonl").stat().st_size
               for s in sources):
            break
        time.sleep(0.1)
    started |= _children(batch.pid)
    assert len(started) >= 2, "the batch never started its workers"
    batch.send_signal(signal.SIGKILL)
    batch.wait()
    for _ in range(600):  # the workers notice their parent is gone; wait until they have
        if not _alive(started):
            break
        time.sleep(0.1)
    left = _alive(started)
    for pid in left:  # never leave them to the next test
        os.kill(pid, signal.SIGKILL)
    assert not left, f"processes still running after the batch was killed: {sorted(left)}"
    done = subprocess.run(command, env={**env, "ANCHORMIX_STEP_DELAY_S": "0"}, capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    assert all((out / s.name / "gains.json").is_file() for s in sources)


# 12 -----------------------------------------------------------------------------------------------------------------
def test_names_never_drive_the_terminal(tmp_path, capsys):
    song = _song(tmp_path / "song")
    (song / "keys.wav").rename(song / "[bold red]keys\x1b[2J.wav")
    assert main(["measure", str(song)]) == 0
    out = capsys.readouterr().out
    assert "\x1b[2J" not in out and "[bold red]keys?[2J" in out


def test_a_session_that_fails_mid_balance_leaves_no_empty_outputs(tmp_path, monkeypatch, capsys):
    from anchormix.agent import balance as batch

    song = _song(tmp_path / "song")

    def broken(*args, **kwargs):
        raise ValueError("measuring failed")

    monkeypatch.setattr(batch, "run_balance", broken)
    assert main(["balance", str(song), "--out", str(tmp_path / "out"), "--planner", "rules"]) == 1
    assert "measuring failed" in capsys.readouterr().err
    assert not (tmp_path / "out" / "song").exists()  # no checkpoint.sqlite, no empty trace.jsonl


def test_a_stem_that_cannot_be_read_exits_2_naming_it(tmp_path, capsys):
    """Run as an unprivileged user when root (CI is root, and root reads anything)."""
    root = Path(tempfile.mkdtemp(prefix="anchormix-perm-"))  # not under pytest's 0700 folder: the user must reach it
    try:
        os.chmod(root, 0o755)
        song = _song(root / "song")
        os.chmod(song, 0o755)
        (song / "keys.wav").chmod(0o000)
        command = [sys.executable, "-m", "anchormix", "measure", str(song)]
        if os.geteuid() == 0:
            command = ["setpriv", "--reuid=65534", "--regid=65534", "--clear-groups", *command]
        if not shutil.which(command[0]):
            pytest.skip(f"{command[0]} missing")
        done = subprocess.run(command, capture_output=True, text=True, env={**os.environ, "HOME": str(root)})
        assert done.returncode == 2, done.stderr
        assert "keys.wav" in done.stderr and "permission denied" in done.stderr
    finally:
        shutil.rmtree(root, ignore_errors=True)
