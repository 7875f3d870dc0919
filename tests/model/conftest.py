"""Model fixtures: a tiny corpus of generated sessions with cached features."""

import pytest

from anchormix.model.corpus import build_procedural_session, write_manifest


@pytest.fixture(scope="session")
def tiny_corpus(tmp_path_factory):
    from anchormix.cli import main

    root = tmp_path_factory.mktemp("tiny")
    entries = [build_procedural_session(root, g, i, seconds=3.0) for i, g in enumerate(["pop", "edm", "ballad"])]
    for e in entries:
        e["split"] = "train"
    write_manifest(root, {"sessions": {e["id"]: e for e in entries}, "skipped": {}})
    assert main(["data", "features", "--sessions", str(root)]) == 0
    return root
