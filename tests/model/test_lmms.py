"""The LMMS corpus (issue 28): a project rendered per track with Debian's lmms, nulled against the full render, written
as a session at its producer's levels; only the 13 projects the issue names are ever touched."""

from __future__ import annotations

import json
import shutil
import struct
import zlib
from pathlib import Path

import numpy as np
import pytest

import anchormix.corpus_cli as corpus_cli
from anchormix.cli import main
from anchormix.model.corpus import load_manifest
from anchormix.model.corpus.stats import corpus_summary
from anchormix.model.corpus.lmms import LMMS_PROJECTS, LMMS_ROOT, project_stems, read_project
from anchormix.tools import load_session
from anchormix.tools.loudness import integrated_loudness

FIXTURE = Path(__file__).resolve().parents[1] / "data" / "lmms" / "two-synths-and-a-beat.mmp"
ISSUE_28 = {"demos/CapDan/CapDan-ReggaeTry", "demos/CapDan/CapDan-ReggaetonTry",
            "demos/CapDan/CapDan-TwilightArea-OriginalByAlf42red", "demos/CapDan/CapDan-ZeroSumGame-OriginalByZakarra",
            "demos/Skiessi/Skiessi-C64", "demos/Skiessi/Skiessi-Onion", "shorties/Skiessi-222", "demos/Oglsdl-Dr8v2",
            "demos/Oglsdl-PpTrip", "demos/Momo64-esp", "demos/Saber-FinalStep", "demos/Settel-InnerRecreation",
            "demos/Shovon-ProgressiveHousePluckDemo"}
needs_lmms = pytest.mark.skipif(shutil.which("lmms") is None, reason="needs Debian's lmms (make test installs it)")


def test_only_the_13_projects_issue_28_names_are_used_and_split_by_producer():
    assert {name.removesuffix(".mmpz") for name in LMMS_PROJECTS} == ISSUE_28
    producer = {name: Path(name).name.split("-")[0] for name in LMMS_PROJECTS}
    for who in set(producer.values()):  # one producer's songs on one side only
        assert len({LMMS_PROJECTS[n] for n in LMMS_PROJECTS if producer[n] == who}) == 1, who
    assert set(LMMS_PROJECTS.values()) == {"train", "valid"}


def test_from_debian_renders_exactly_those_projects(monkeypatch, tmp_path):
    """The held-out 13 are never rendered: the job list is the allow-list, whatever lmms-common holds."""
    built = []
    monkeypatch.setattr(corpus_cli, "installed", lambda package: True)
    monkeypatch.setattr(corpus_cli, "lmms_available", lambda: True)
    monkeypatch.setattr(corpus_cli, "_build", lambda jobs, out, workers: built.extend(jobs))
    assert main(["data", "lmms", "--from-debian", "--out", str(tmp_path)]) == 0
    paths = [job[1][0] for job in built]
    assert sorted(paths) == sorted(LMMS_ROOT / name for name in LMMS_PROJECTS)
    assert [job[1][2] for job in built] == list(LMMS_PROJECTS.values())


def test_a_named_project_goes_to_its_split_and_a_held_out_demo_is_refused_before_it_is_read(monkeypatch, tmp_path,
                                                                                               capsys):
    """``--projects``: a user's project to ``--split`` (else its name's hash); a Debian demo to its producer's split
    whatever ``--split`` says, or refused if issue 28 holds it out (any path under the root the 13 do not name stands for one here)."""
    import anchormix.model.corpus.lmms as lmms

    root = tmp_path / "lmms-common"
    allowed, unlisted, mine = root / "demos/Momo64-esp.mmpz", root / "not-one-of-the-13/x.mmpz", tmp_path / "mine.mmp"
    for path in (allowed, unlisted, mine):
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(b"")
    monkeypatch.setattr(lmms, "LMMS_ROOT", root)
    built = []
    monkeypatch.setattr(corpus_cli, "lmms_available", lambda: True)
    monkeypatch.setattr(corpus_cli, "_build", lambda jobs, out, workers: built.extend(jobs))
    out = str(tmp_path / "out")
    assert main(["data", "lmms", "--projects", str(allowed), str(mine), "--split", "valid", "--out", out]) == 0
    assert [(job[1][0], job[1][2]) for job in built] == [(allowed, "valid"), (mine, "valid")]
    built.clear()
    assert main(["data", "lmms", "--projects", str(mine), str(allowed), "--split", "train", "--out", out]) == 2
    assert "Momo64-esp.mmpz: --split train, but this project's producer is in the valid split" in capsys.readouterr().err
    assert main(["data", "lmms", "--projects", str(unlisted), "--out", out]) == 2
    assert "x.mmpz: an LMMS demo project held out for evaluation" in capsys.readouterr().err
    assert built == []


def test_a_compressed_project_reads_as_its_xml(tmp_path):
    xml = FIXTURE.read_bytes()
    packed = tmp_path / "fixture.mmpz"  # Qt's qCompress: the length, big-endian, then zlib
    packed.write_bytes(struct.pack(">I", len(xml)) + zlib.compress(xml))
    names = [[name for name, _, _ in project_stems(read_project(path))] for path in (FIXTURE, packed)]
    assert names[0] == names[1] == ["Bass", "Lead", "Kick", "Closed hat"]  # the muted pad is no stem
    (tmp_path / "broken.mmpz").write_bytes(b"\x00\x00\x00\x10not zlib")
    with pytest.raises(ValueError, match="broken.mmpz: not an LMMS project"):
        read_project(tmp_path / "broken.mmpz")


@needs_lmms
def test_a_project_becomes_a_session_at_its_producers_levels(tmp_path, capsys):
    out = tmp_path / "lmms"
    assert main(["data", "lmms", "--projects", str(FIXTURE), "--out", str(out), "--seconds", "6", "--jobs", "1"]) == 0
    entry = next(iter(load_manifest(out)["sessions"].values()))
    assert entry["kind"] == "lmms" and entry["stems"] == 4 and entry["null_db"] < -60  # they sum to the full mix
    assert entry["role_sources"] == {"bass": "track name", "lead": "track name", "kick": "track name",
                                     "closed_hat": "track name"}
    meta = json.loads((out / entry["id"] / "session.json").read_text())
    assert meta["roles"] == {"bass": "bass", "lead": "lead", "kick": "kick", "closed_hat": "hats"}
    assert meta["anchor"] == "bass" and entry["anchor_rule"] == "bass by name"
    session = load_session(out / entry["id"])
    lufs = dict(zip(session.names, integrated_loudness(session.arrays(), session.sample_rate)))
    for name, lu in meta["reference_lu"].items():  # the reference is the stems as written, against the bass
        assert lufs[name] - lufs["bass"] == pytest.approx(lu, abs=0.05), name
    # Each stem is its own track alone: the lead (a saw) is brighter than the bass (a sine), the kick is not the hat.
    spectrum = {n: np.abs(np.fft.rfft(session.stems[n].mean(axis=0))) for n in session.names}
    centroid = {n: float((s * np.arange(len(s))).sum() / s.sum()) for n, s in spectrum.items()}
    assert centroid["bass"] < centroid["lead"] and centroid["kick"] < centroid["closed_hat"]
    summary = corpus_summary(out)["lmms"]  # what `data stats` prints for the source
    assert summary["stems"] == 4 and summary["role_sources"] == {"name": 4} and summary["null_db"] == [entry["null_db"]]
    capsys.readouterr()
    assert main(["data", "stats", "--sessions", str(out)]) == 0 and "lmms" in capsys.readouterr().out


@needs_lmms
def test_a_project_that_renders_differently_each_time_is_kept_on_its_loudness(tmp_path, monkeypatch):
    """ZynAddSubFX randomises its phases, so such a song cannot null; it is kept when it does not render the same
    twice and its stems sum to the full render's loudness within LEVEL_CHECK_LU, and the manifest says so."""
    import anchormix.model.corpus.lmms as lmms

    real = lmms._render
    calls = []

    def jittered(tree, where, sample_rate, label):  # a render that differs run to run, as ZynAddSubFX's do
        audio = real(tree, where, sample_rate, label)
        calls.append(label)
        rng = np.random.default_rng(len(calls))
        return audio * np.float32(1.0 + 0.05 * rng.standard_normal())

    monkeypatch.setattr(lmms, "_render", jittered)
    _, stems, learnt = lmms.render_project(FIXTURE, null_limit_db=-60.0)
    assert calls.count("the full song again") == 1 and len(stems) == 4
    assert learnt["level_check"].startswith("renders differ run to run") and learnt["null_db"] > -60.0
    renders: dict[str, np.ndarray] = {}

    def the_same_twice(tree, where, sample_rate, label):  # LMMS may not repeat itself on every machine: make it
        key = "full" if label.startswith("the full song") else label
        if key not in renders:
            renders[key] = real(tree, where, sample_rate, label)
        return renders[key]

    monkeypatch.setattr(lmms, "_render", the_same_twice)  # the same render twice, but its stems do not null: skipped
    monkeypatch.setattr(lmms, "_null_db", lambda full, stems: -10.0)
    with pytest.raises(ValueError, match=r"do not sum to the full render \(null test -10.0 dB"):
        lmms.render_project(FIXTURE)


def test_a_role_comes_from_the_track_name_else_a_named_mixer_channel_never_lmms_default_channel_names():
    from anchormix.model.corpus.lmms import _role

    assert _role("kick01.ogg", "FX 3") == ("kick", "track name")
    assert _role("Default preset", "Bass") == ("bass", "mixer channel name")
    assert _role("Default preset", "FX 1") == _role("Default preset", "Master") == ("other", "unknown")
