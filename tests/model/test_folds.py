"""Leave one group out (``eval --folds``): every song scored once, by baselines that never learnt from its group."""

import json

import pytest

from anchormix.cli import main
from anchormix.model.corpus import build_procedural_session, find_sessions, write_manifest
from anchormix.model.evaluation.baselines import conventions_table, make_constant, mean_offset, predict_none
from anchormix.model.evaluation.evaluate import run_protocol
from anchormix.model.evaluation.folds import folds, run_folds, song_group

GROUPS = {"a": ("pop", "edm"), "b": ("hiphop", "ballad"), "c": ("pop", "ballad")}


@pytest.fixture(scope="module")
def grouped(tmp_path_factory):
    """Six generated songs in three packages of two (the module corpus's unit), every one in the train split."""
    root = tmp_path_factory.mktemp("grouped")
    entries = {}
    for seed, (package, genres) in enumerate((p, g) for p, gs in GROUPS.items() for g in [gs]):
        for offset, genre in enumerate(genres):
            entry = build_procedural_session(root, genre, 2 * seed + offset, seconds=2.0)
            entries[entry["id"]] = {**entry, "split": "train", "package": package}
    write_manifest(root, {"sessions": entries, "skipped": {}})
    return root


def test_an_lmms_song_belongs_to_its_producer_and_a_module_to_its_package():
    assert song_group({"kind": "lmms", "title": "CapDan-ReggaeTry", "package": "lmms-common"}, "producer") == "CapDan"
    assert song_group({"kind": "lmms", "title": "CapDan-ReggaeTry", "package": "lmms-common"}, "package") == "lmms-common"
    assert song_group({"kind": "module", "package": "ironseed-data"}, "producer") == "ironseed-data"


def test_each_group_is_held_out_once_and_learnt_from_by_the_others(grouped):
    sessions = find_sessions(grouped, None)
    found = folds(sessions, "package")
    assert [g for g, _, _ in found] == ["a", "b", "c"]
    held = [f for _, _, h in found for f, _ in h]
    assert sorted(held) == sorted(f for f, _ in sessions)  # every song scored exactly once
    for _, train, h in found:
        assert len(h) == 2 and len(train) == 4 and not {f for f, _ in train} & {f for f, _ in h}
    with pytest.raises(ValueError, match="nothing to leave out"):
        folds(found[0][2], "package")  # one package's songs alone


def test_the_constant_of_a_fold_is_the_other_groups_mean_offset(grouped):
    """From a flat start the constant leaves every stem of a held-out song at the mean offset of the other groups'
    songs: learnt without the song's own group, and so different per fold."""
    sessions = find_sessions(grouped, None)

    def predictors_for(train):
        return {"constant": make_constant(conventions_table(grouped, train)), "none": predict_none}

    merged, by_group = run_folds(sessions, predictors_for, "package", draws=1, seed=0, protocol="flat")
    assert merged.sessions == 6 and merged.planners == ["constant", "none"]
    alone = run_protocol(sessions, {"none": predict_none}, draws=1, seed=0, protocol="flat")
    assert sorted(merged.errors["none"]) == pytest.approx(sorted(alone.errors["none"]))  # nothing lost, nothing twice
    assert sum(len(e) for e in by_group["constant"].values()) == len(merged.errors["constant"])
    constants = []
    for group, train, held in folds(sessions, "package"):
        constant = mean_offset(conventions_table(grouped, train))
        levels = [level for _, level in run_protocol(held, predictors_for(train), draws=1, seed=0,
                                                      protocol="flat").levels["constant"]]
        assert levels == pytest.approx([constant] * len(levels), abs=0.01)
        constants.append(constant)
    assert max(constants) - min(constants) > 0.01


def test_eval_folds_prints_and_writes_each_groups_mae(grouped, tmp_path, capsys):
    out = tmp_path / "folds.json"
    assert main(["eval", "--sessions", str(grouped), "--split", "all", "--folds", "package", "--protocol", "flat",
                 "--planner", "none,constant,rules", "--json", str(out)]) == 0
    body = json.loads(out.read_text())
    assert body["folds"] == "package" and body["sessions"] == 6
    assert set(body["by_package"]["constant"]) == {"a", "b", "c"}
    assert "MAE (dB) by package" in capsys.readouterr().out
    table = tmp_path / "table.json"
    table.write_text(json.dumps(conventions_table(grouped, find_sessions(grouped, None))))
    assert main(["eval", "--sessions", str(grouped), "--folds", "package", "--conventions", str(table)]) == 2
    assert "drop --conventions" in capsys.readouterr().err
