"""The role tagger learns roles by ear from stems whose role is known and tags the unnamed ones of a module corpus.

Fixture: procedural songs (the demo generator's kick, snare, hats, bass, keys, pad, lead, vocals), split by
song; the tagger trains on some songs and is checked on songs it never heard.
"""

import json
import shutil

import numpy as np
import pytest

from anchormix.model.corpus import build_procedural_session, load_manifest, write_manifest
from anchormix.model.tagger.role_tagger import (RoleTagger, describe, labelled_stems, tag_unnamed, tagger_accuracy,
                                         train_tagger)

SPLITS = ["train"] * 6 + ["test"] * 2


@pytest.fixture(scope="module")
def labelled_corpus(tmp_path_factory):
    from anchormix.cli import main

    root = tmp_path_factory.mktemp("roles")
    genres = ["pop", "edm", "hiphop", "ballad"]
    entries = [build_procedural_session(root, genres[i % 4], 100 + i, seconds=3.0) for i in range(len(SPLITS))]
    for entry, split in zip(entries, SPLITS):
        entry["split"] = split
    write_manifest(root, {"sessions": {e["id"]: e for e in entries}, "skipped": {}})
    assert main(["data", "features", "--sessions", str(root)]) == 0
    return root


@pytest.fixture(scope="module")
def tagger(labelled_corpus):
    return train_tagger(labelled_stems([labelled_corpus], "train"), epochs=300)


def test_the_descriptor_does_not_hear_level():
    rng = np.random.default_rng(0)
    mel = rng.uniform(-90, -30, size=(64, 200)).astype(np.float32)
    assert np.allclose(describe(mel), describe(mel - 17.0), atol=1e-4)


def test_the_tagger_names_the_roles_of_songs_it_never_heard(labelled_corpus, tagger):
    held_out = labelled_stems([labelled_corpus], "test")
    assert len(held_out.roles) >= 12 and set(held_out.source) == {"midi"}
    report = tagger_accuracy(tagger, held_out, threshold=0.5)
    assert report["all"]["accuracy"] >= 0.75, report
    # A threshold nobody reaches tags nothing: every stem is "other".
    mel = np.load(labelled_corpus / "features" / f"{sorted(load_manifest(labelled_corpus)['sessions'])[-1]}.npz")["mel"]
    assert {role for role, _ in tagger.tag(mel.astype(np.float32), threshold=1.01)} == {"other"}


def test_the_tagger_survives_its_file(tagger, tmp_path, labelled_corpus):
    path = tagger.save(tmp_path / "roles.safetensors", 0.8, {"test": {}})
    loaded, threshold, report = RoleTagger.load(path)
    assert threshold == 0.8 and report == {"test": {}} and loaded.roles == tagger.roles
    mel = np.random.default_rng(1).uniform(-90, -30, size=(3, 64, 100)).astype(np.float32)
    assert loaded.tag(mel, 0.0) == tagger.tag(mel, 0.0)
    with pytest.raises(ValueError, match="anchormix train --tagger"):
        RoleTagger.load(tmp_path / "none.safetensors")


def test_unnamed_module_stems_are_tagged_and_a_tagged_bass_becomes_the_anchor(labelled_corpus, tagger, tmp_path):
    root = tmp_path / "mods"
    shutil.copytree(labelled_corpus, root)
    manifest = load_manifest(root)
    song = sorted(e["id"] for e in manifest["sessions"].values() if e["split"] == "test")[0]
    meta = json.loads((root / song / "session.json").read_text())
    not_bass = next(n for n, r in meta["roles"].items() if r == "keys")
    meta["reference_lu"] = {n: v - meta["reference_lu"][not_bass] for n, v in meta["reference_lu"].items()}
    bass_lu = meta["reference_lu"]["bass"]
    meta["anchor"], meta["roles"] = not_bass, {n: "other" for n in meta["roles"]}
    (root / song / "session.json").write_text(json.dumps(meta))
    manifest["sessions"][song].update(kind="module", anchor=not_bass, anchor_rule="lowest sustained stem",
                                      role_sources={n: "unknown" for n in meta["roles"]})
    write_manifest(root, manifest)
    counts = tag_unnamed(root, tagger, threshold=0.5)
    tagged = json.loads((root / song / "session.json").read_text())
    entry = load_manifest(root)["sessions"][song]
    assert counts["stems tagged"] >= len(meta["roles"]) - 2 and tagged["roles"]["bass"] == "bass"
    assert tagged["anchor"] == entry["anchor"] == "bass" and entry["anchor_rule"] == "bass by tag"
    assert tagged["reference_lu"]["bass"] == 0.0
    assert tagged["reference_lu"][not_bass] == pytest.approx(-bass_lu, abs=0.01)  # re-referenced to the bass
    assert entry["role_sources"]["bass"].startswith("tagged by ear (p=")
