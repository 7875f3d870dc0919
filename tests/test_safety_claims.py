"""Issue 29: the README's Safety claims that had no test of their own, each checked so that breaking it goes red."""

from __future__ import annotations

import errno
import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

import pytest

from anchormix.cli import main

from .conftest import sine, tree_hash, write_wav

SR = 22050


def _song(folder: Path) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    write_wav(folder / "bass.wav", sine(55, 2.0, SR, 0.3), SR)
    write_wav(folder / "keys.wav", sine(440, 2.0, SR, 0.2), SR)
    return folder


def test_a_full_disk_keeps_the_earlier_output_as_it_was(tmp_path, monkeypatch, capsys):
    song, out = _song(tmp_path / "song"), tmp_path / "out"
    assert main(["balance", str(song), "--out", str(out), "--planner", "rules"]) == 0
    earlier = tree_hash(out / "song")

    def full(*args, **kwargs):
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))

    monkeypatch.setattr(os, "fsync", full)
    assert main(["balance", str(song), "--out", str(out), "--planner", "rules", "--fresh"]) == 1
    assert os.strerror(errno.ENOSPC) in capsys.readouterr().err
    monkeypatch.undo()
    now = tree_hash(out / "song")
    for name in ("mix.wav", "gains.json", "advice.md"):  # every finished output of the earlier run, byte for byte
        assert now[name] == earlier[name], name
    assert not [p for p in (out / "song").iterdir() if ".part" in p.name]


def test_balance_sets_aside_an_unreadable_checkpoint_and_starts_fresh(tmp_path, capsys):
    song, out = _song(tmp_path / "song"), tmp_path / "out"
    assert main(["balance", str(song), "--out", str(out), "--planner", "rules"]) == 0
    (out / "song" / "checkpoint.sqlite").write_bytes(b"not a database at all" * 50)
    assert main(["balance", str(song), "--out", str(out), "--planner", "rules"]) == 0
    assert "unreadable" in capsys.readouterr().err
    aside = list((out / "song").glob("checkpoint.sqlite.unreadable-*"))
    assert aside and aside[0].read_bytes() == b"not a database at all" * 50  # moved aside, never deleted


@pytest.mark.parametrize("argv, named", [
    (["demo", "--genre", "polka", "--out", "{tmp}"], "polka"),
    (["data", "stats", "--sessions", "{tmp}/nowhere"], "nowhere"),
    (["data", "features", "--sessions", "{tmp}/nowhere"], "nowhere"),
])
def test_demo_and_the_data_commands_exit_2_naming_the_bad_argument(tmp_path, capsys, argv, named):
    assert main([a.replace("{tmp}", str(tmp_path)) for a in argv]) == 2
    err = capsys.readouterr().err
    assert named in err and "Traceback" not in err


def test_the_memory_bound_can_be_set_and_is_checked_before_decoding(tmp_path, monkeypatch, capsys):
    song = _song(tmp_path / "song")
    monkeypatch.setenv("ANCHORMIX_MAX_MEMORY_GB", "0.0001")  # 100 kB: two 2 s stems need 0.7 MB
    assert main(["measure", str(song)]) == 2
    assert "over the 0.0 GB bound of ANCHORMIX_MAX_MEMORY_GB" in capsys.readouterr().err
    monkeypatch.setenv("ANCHORMIX_MAX_MEMORY_GB", "lots")
    assert main(["measure", str(song)]) == 2
    assert "ANCHORMIX_MAX_MEMORY_GB: expected a number of GB, got 'lots'" in capsys.readouterr().err
    monkeypatch.setenv("ANCHORMIX_MAX_MEMORY_GB", "1")
    assert main(["measure", str(song)]) == 0


def test_the_bound_charges_the_models_a_command_loads_before_decoding(tmp_path, monkeypatch, capsys):
    """1 GB holds the program and two 2 s stems, not the backbone and the ALM: `balance --planner alm` is refused from
    the headers, naming each part, and the same session balances with the rules (no model: every name is read)."""
    import anchormix.tools.stem_store as stem_store

    song = _song(tmp_path / "song")
    monkeypatch.setenv("ANCHORMIX_MAX_MEMORY_GB", "1")
    decoded = []
    real_decode = stem_store.decode_stems
    monkeypatch.setattr("anchormix.tools.session.decode_stems",
                        lambda *a, **k: decoded.append(1) or real_decode(*a, **k))
    assert main(["balance", str(song), "--out", str(tmp_path / "out"), "--planner", "alm"]) == 1
    err = capsys.readouterr()
    said = err.err + err.out
    assert "the language model's backbone 0.80 GB, the ALM and its advice writer 0.25 GB" in said
    assert "over the 1.0 GB bound of ANCHORMIX_MAX_MEMORY_GB" in said and not decoded
    assert main(["balance", str(song), "--out", str(tmp_path / "out"), "--planner", "rules"]) == 0 and decoded


@pytest.mark.parametrize("planner, sources, held", [
    (None, {"bass": "name", "keys": "session.json"}, []),
    (None, {"bass": "name", "Audio 07": "unknown"},
     ["the language model's backbone", "the name reader and the role tagger"]),
    ("alm", {"bass": "name"}, ["the language model's backbone", "the ALM and its advice writer"]),
    ("rules", {"bass": "name"}, []),
])
def test_the_models_a_command_holds_are_named_from_the_planner_and_the_names(planner, sources, held):
    from anchormix.roles import models_held

    assert list(models_held(planner)(sources)) == held
    assert "the name reader and the role tagger" in models_held(every_name=True)({"bass": "name"})


def test_a_session_that_would_not_fit_the_temporary_disk_is_refused_before_decoding(tmp_path, monkeypatch, capsys):
    """The decoded stems and the two mixes kept beside them (the report's) must fit $TMPDIR's free space."""
    import anchormix.tools.memory_bound as memory_bound

    song = _song(tmp_path / "song")
    two_stems_of_2_s = 2 * 2 * SR * 8  # bytes: the stems alone would fit, the mixes beside them would not
    usage = shutil.disk_usage(tmp_path)
    monkeypatch.setattr(memory_bound.shutil, "disk_usage",
                        lambda folder: usage._replace(free=two_stems_of_2_s + 1000))
    assert main(["measure", str(song)]) == 2
    err = capsys.readouterr().err
    assert "with their analyses and the mixes kept beside them" in err and "point TMPDIR at a disk with room" in err


def test_a_read_only_session_folder_is_only_read_even_for_an_unprivileged_user():
    """chmod 0o555 proves nothing as root (CI is root): the balance runs as uid 65534 there, for whom it holds."""
    if os.geteuid() == 0 and not shutil.which("setpriv"):
        pytest.skip("root without setpriv: a read-only folder cannot be tested")
    root = Path(tempfile.mkdtemp(prefix="anchormix-ro-"))
    try:
        os.chmod(root, 0o777)
        song, out = _song(root / "song"), root / "out"
        before = tree_hash(song)
        os.chmod(song, 0o555)
        command = [sys.executable, "-m", "anchormix", "balance", str(song), "--out", str(out), "--planner", "rules"]
        if os.geteuid() == 0:
            command = ["setpriv", "--reuid=65534", "--regid=65534", "--clear-groups", *command]
        probe = subprocess.run([*command[:4], "touch", str(song / "x")] if os.geteuid() == 0 else ["true"])
        assert probe.returncode != 0 or os.geteuid() != 0  # the user really cannot write there
        done = subprocess.run(command, capture_output=True, text=True, env={**os.environ, "HOME": str(root)})
        assert done.returncode == 0, done.stderr
        assert tree_hash(song) == before and (out / "song" / "gains.json").exists()
    finally:
        os.chmod(root / "song", 0o755)
        shutil.rmtree(root, ignore_errors=True)
