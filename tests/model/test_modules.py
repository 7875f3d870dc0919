"""Tracker modules: a .mod written byte by byte renders to one stem per instrument that nulls against the full mix."""

import json
import shutil

import numpy as np
import pytest

from anchormix.model.corpus.modules import build_module_session, find_modules, render_stems
from anchormix.model.corpus.xmp import libxmp_available, module_info, render_module
from anchormix.tools import load_session

from ..data.tiny_module import tiny_module

pytestmark = pytest.mark.skipif(not libxmp_available(), reason="libxmp is not installed (apt-get install libxmp4; "
                                                               ".ci/run installs it)")

TWO = [("Bass", "square", "C-1", 64), ("lead synth", "saw", "C-3", 40)]


def test_two_instruments_render_to_two_stems_that_null_against_the_full_render(tmp_path):
    data = tiny_module(TWO)
    info = module_info(data, tmp_path / "t.mod")
    assert info.title == "anchormix test" and info.channels == 4
    assert [s.name for s in info.stems] == ["Bass", "lead synth"]
    full, stems, learnt = render_stems(data, tmp_path / "t.mod")
    assert list(stems) == ["bass", "lead_synth"] and full.dtype == np.int16 and full.shape[0] == 2
    assert learnt["null_db"] < -50.0
    # Each stem is its instrument alone: the other instrument's samples, guard bytes included, are silent.
    assert np.abs(render_module(data, tmp_path / "t.mod", frozenset())).max() == 0.0
    bass, lead = (stems[n].astype(np.float64) for n in ("bass", "lead_synth"))
    assert 20 * np.log10(np.sqrt((bass**2).mean()) / np.sqrt((lead**2).mean())) > 3.0  # volume 64 vs 40, louder wave


def test_a_session_is_written_with_roles_anchor_and_reference_balance(tmp_path):
    path = tmp_path / "song.mod"
    path.write_bytes(tiny_module(TWO))
    entry = build_module_session(path, tmp_path / "corpus", package=None, seconds=2.0, sample_rate=22050)
    assert entry["kind"] == "module" and entry["anchor"] == "bass" and entry["anchor_rule"] == "bass by name"
    assert entry["role_sources"] == {"bass": "instrument name", "lead_synth": "instrument name"}
    session = load_session(tmp_path / "corpus" / entry["id"])
    assert session.anchor == "bass" and session.roles["lead_synth"] == "lead"
    assert session.reference_lu["bass"] == 0.0 and session.reference_lu["lead_synth"] < 0.0
    assert "licence" in json.loads((session.path / "session.json").read_text())


def test_whole_song_features_are_kept_and_training_reads_them(tmp_path):
    from anchormix.model.corpus import song_features_path, write_manifest
    from anchormix.model.features import load_corpus, log_mel

    path = tmp_path / "song.mod"
    path.write_bytes(tiny_module(TWO))  # one pattern, ~7.7 s: longer than the 1 s excerpt kept as audio
    root = tmp_path / "corpus"
    entry = build_module_session(path, root, seconds=1.0, sample_rate=22050, song_features=log_mel)
    with np.load(song_features_path(root, entry["id"])) as data:
        names, mel = list(data["names"]), data["mel"]
    assert names == ["bass", "lead_synth"] and mel.dtype == np.float16
    session = load_session(root / entry["id"])
    excerpt = log_mel(session.array(), session.sample_rate)
    assert mel.shape[-1] > 1.5 * excerpt.shape[-1]  # the whole song, not the excerpt
    write_manifest(root, {"sessions": {entry["id"]: {**entry, "split": "train"}}, "skipped": {}})
    corpus = load_corpus(root)
    assert corpus[0].mel.shape == mel.shape and corpus[0].source == "module"


def test_without_a_named_bass_the_lowest_sustained_stem_is_the_anchor(tmp_path):
    path = tmp_path / "song.mod"
    path.write_bytes(tiny_module([("high", "saw", "C-3", 64), ("low", "sine", "C-1", 64)]))
    entry = build_module_session(path, tmp_path / "corpus", seconds=2.0, sample_rate=22050)
    assert entry["anchor"] == "low" and entry["anchor_rule"] == "lowest sustained stem"


def test_a_song_that_fails_the_null_test_or_cannot_be_read_is_skipped_with_its_reason(tmp_path):
    from anchormix.cli import main

    path = tmp_path / "song.mod"
    path.write_bytes(tiny_module(TWO))
    with pytest.raises(ValueError, match=r"null test -\d+\.\d dB, limit -200 dB"):  # a limit no render can meet
        build_module_session(path, tmp_path / "corpus", seconds=2.0, null_limit_db=-200.0)
    mods = tmp_path / "mods"
    mods.mkdir()
    shutil.copy(path, mods / "good.mod")
    shutil.copy(path, mods / "same.mod")  # identical bytes: rendered once
    (mods / "broken.xm").write_bytes(b"Extended Module: nothing follows")
    out = tmp_path / "out"
    assert main(["data", "modules", "--modules", str(mods), "--out", str(out), "--seconds", "2", "--jobs", "1"]) == 0
    manifest = json.loads((out / "manifest.json").read_text())
    assert [e["id"] for e in manifest["sessions"]] == ["modules-good"]
    assert "libxmp cannot load it" in manifest["skipped"][str(mods / "broken.xm")]
    # A second run keeps what is built: the song is not rendered again (its session folder is left as it was).
    built = (out / "modules-good" / "session.json").stat().st_mtime_ns
    assert main(["data", "modules", "--modules", str(mods), "--out", str(out), "--seconds", "2", "--jobs", "1"]) == 0
    assert (out / "modules-good" / "session.json").stat().st_mtime_ns == built
    shutil.rmtree(out / "modules-good")  # its folder deleted: built again
    assert main(["data", "modules", "--modules", str(mods), "--out", str(out), "--seconds", "2", "--jobs", "1"]) == 0
    assert (out / "modules-good" / "session.json").exists()
    assert [e["id"] for e in json.loads((out / "manifest.json").read_text())["sessions"]] == ["modules-good"]
    # The corpus says what it holds and what it rejected, per source.
    from anchormix.model.corpus import load_manifest, write_manifest
    from anchormix.model.corpus.stats import corpus_summary

    held = load_manifest(out)
    held["skipped"]["/x/song2.xm"] = "/x/song2.xm: stems do not sum to the full render (null test -44.3 dB, limit -50 dB)"
    write_manifest(out, held)
    summary = corpus_summary(out)["module"]
    assert sum(summary["sessions"].values()) == 1 and summary["stems"] == 2
    assert summary["rejected_null_test"] == 1 and summary["rejected_other"] == 1
    assert summary["role_sources"] == {"name": 2} and summary["anchor_rules"] == {"bass by name": 1}
    assert summary["minutes"] >= 0.1  # the whole song (~7.7 s), not the 2 s excerpt (0.03 min)
    assert main(["data", "stats", "--sessions", str(out)]) == 0


def test_debian_games_are_split_whole_and_the_test_split_has_its_own_games():
    from anchormix.model.corpus.modules import DEBIAN_MODULE_PACKAGES, PACKAGE_SPLITS

    assert set(PACKAGE_SPLITS) <= set(DEBIAN_MODULE_PACKAGES)
    assert {PACKAGE_SPLITS[p] for p in PACKAGE_SPLITS} == {"test", "valid"}
    assert len(set(DEBIAN_MODULE_PACKAGES)) == len(DEBIAN_MODULE_PACKAGES) == 41  # issue 28: every game package


def test_a_debian_package_outside_the_held_out_games_trains_and_a_users_song_splits_by_hash(tmp_path):
    from anchormix.model.corpus.manifest import split_of
    from anchormix.model.corpus.modules import build_module_session

    path = tmp_path / "song.mod"
    path.write_bytes(tiny_module(TWO))
    assert split_of("monsterz-data") == "test"  # hashing the package would hold this game out; it trains
    for package, split in (("monsterz-data", "train"), ("ironseed-data", "test"), ("freedroid-data", "valid")):
        entry = build_module_session(path, tmp_path / package, package, seconds=2.0)
        assert (entry["id"], entry["split"]) == (f"{package}-song", split)
    assert build_module_session(path, tmp_path / "mine", None, seconds=2.0)["split"] == split_of("modules-song")


def test_identical_modules_are_found_once(tmp_path):
    for name in ("a.mod", "b.MOD", "c.txt"):
        (tmp_path / name).write_bytes(tiny_module(TWO))
    found = find_modules([(None, p) for p in sorted(tmp_path.iterdir())])
    assert [p.name for _, p, _ in found] == ["a.mod"]


def test_data_features_tags_the_stems_nobody_named_with_the_shipped_tagger(tmp_path, capsys):
    from anchormix.cli import main

    mods = tmp_path / "mods"
    mods.mkdir()
    (mods / "song.mod").write_bytes(tiny_module([("greetings to", "saw", "C-3", 64), ("xyz", "sine", "C-1", 64)]))
    out = tmp_path / "out"
    assert main(["data", "modules", "--modules", str(mods), "--out", str(out), "--seconds", "2", "--jobs", "1"]) == 0
    said = "".join(capsys.readouterr().out.split())  # the build says the tagger is the next step (however wrapped)
    assert "2stemshavenorolefromtheirnames" in said and f"datafeatures--sessions{out}" in said
    assert main(["data", "features", "--sessions", str(out)]) == 0
    entry = json.loads((out / "manifest.json").read_text())["sessions"][0]
    roles = json.loads((out / entry["id"] / "session.json").read_text())["roles"]
    for name, source in entry["role_sources"].items():  # tagged at the shipped threshold (0.95) or left alone
        assert (source == "unknown" and roles[name] == "other"
                or source.startswith("tagged by ear (p=") and float(source[17:21]) >= 0.95 and roles[name] != "other")
    assert entry["anchor_rule"] in ("lowest sustained stem", "bass by tag")
