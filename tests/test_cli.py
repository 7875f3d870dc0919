"""The command line as a user meets it: tables on success, one clear line and exit 2 on bad input."""

import json
import subprocess
import sys

import pytest
from rich.console import Console

import anchormix.cli
from anchormix.cli import main

from .conftest import tree_hash


@pytest.fixture(autouse=True)
def wide_console(monkeypatch):
    # A wide terminal, so table cells do not wrap inside the words the tests look for.
    monkeypatch.setattr(anchormix.cli, "console", Console(width=200))


def test_measure_prints_levels_against_the_anchor_and_writes_json(demo_session_dir, tmp_path, capsys):
    before = tree_hash(demo_session_dir)
    out = tmp_path / "levels.json"
    assert main(["measure", str(demo_session_dir), "--anchor", "kick", "--json", str(out)]) == 0
    text = capsys.readouterr().out
    assert "anchor kick" in text and "LU vs anchor" in text and "Masking" in text
    data = json.loads(out.read_text())
    assert data["levels"]["anchor"] == "kick" and data["levels"]["stems"]["kick"]["lu_vs_anchor"] == 0.0
    assert tree_hash(demo_session_dir) == before


def test_bad_session_exits_2_naming_the_file(tmp_path):
    (tmp_path / "bass.wav").write_text("not audio")
    run = subprocess.run([sys.executable, "-m", "anchormix", "measure", str(tmp_path)], capture_output=True, text=True)
    assert run.returncode == 2
    assert "Traceback" not in run.stderr
    assert f"{tmp_path / 'bass.wav'}: cannot decode as audio" in run.stderr.replace("\n", "")


def test_unknown_anchor_is_named(demo_session_dir, capsys):
    assert main(["measure", str(demo_session_dir), "--anchor", "tuba"]) == 2
    assert "anchor 'tuba' is not a stem" in capsys.readouterr().err


def test_demo_generates_once_and_shows_the_spoiled_levels(tmp_path, capsys):
    args = ["demo", "--out", str(tmp_path), "--seconds", "3"]
    assert main(args) == 0
    first = capsys.readouterr().out
    assert "generating a pop demo session" in first and "off by" in first and "Masking" in first
    folder = tmp_path / "session-pop-seed0"
    before = tree_hash(folder)
    assert main(args) == 0  # second run reuses the session, never rewrites it
    assert "generating" not in capsys.readouterr().out
    assert tree_hash(folder) == before
