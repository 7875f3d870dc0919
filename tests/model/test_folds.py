"""Leave one group out (``eval --folds``): every song scored once, by predictors that never learnt from its group."""

import json
from pathlib import Path

import pytest

from anchormix.cli import main
from anchormix.model.corpus import build_procedural_session, find_sessions, write_manifest
from anchormix.model.evaluation.baselines import conventions_table, make_constant, mean_offset, predict_by, predict_none
from anchormix.model.evaluation.evaluate import run_protocol, summarise
from anchormix.model.evaluation.peak_fit import fit_peak_rule, fitted_peak_planner, session_peak_rows
from anchormix.model.evaluation.folds import folds, run_folds, song_group

GROUPS = {"a": ("pop", "edm"), "b": ("hiphop", "ballad"), "c": ("pop", "ballad")}


@pytest.fixture(scope="module")
def grouped(tmp_path_factory):
    """Six generated songs in three packages of two (the module corpus's unit), every one in the train split."""
    root = tmp_path_factory.mktemp("grouped")
    entries = {}
    for seed, (package, genres) in enumerate(GROUPS.items()):
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

    def predictors_for(_group, train):
        return {"constant": make_constant(conventions_table(grouped, train)), "none": predict_none}

    merged, by_group = run_folds(sessions, predictors_for, "package", draws=1, seed=0, protocol="flat")
    assert merged.sessions == 6 and merged.planners == ["constant", "none"]
    alone = run_protocol(sessions, {"none": predict_none}, draws=1, seed=0, protocol="flat")
    assert sorted(merged.errors["none"]) == pytest.approx(sorted(alone.errors["none"]))  # nothing lost, nothing twice
    assert sum(len(e) for e in by_group["constant"].values()) == len(merged.errors["constant"])
    constants = []
    for group, train, held in folds(sessions, "package"):
        constant = mean_offset(conventions_table(grouped, train))
        levels = [level for _, level in run_protocol(held, predictors_for(group, train), draws=1, seed=0,
                                                      protocol="flat").levels["constant"]]
        assert levels == pytest.approx([constant] * len(levels), abs=0.01)
        constants.append(constant)
    assert max(constants) - min(constants) > 0.01


def test_eval_folds_prints_and_writes_each_groups_mae(grouped, tmp_path, capsys):
    out = tmp_path / "folds.json"
    assert main(["eval", "--sessions", str(grouped), "--split", "all", "--folds", "package", "--protocol", "flat",
                 "--planner", "none,constant,rules,peaks-fitted", "--json", str(out)]) == 0
    body = json.loads(out.read_text())
    assert body["folds"] == "package" and body["sessions"] == 6
    assert set(body["by_package"]["constant"]) == {"a", "b", "c"}
    # peaks-fitted in a fold is the peak planner with the numbers that fit the other packages' songs
    group, train, held = folds(find_sessions(grouped, None), "package")[0]
    best = fit_peak_rule(session_peak_rows(train)[None])[0]
    planner = fitted_peak_planner(train)
    assert (planner.weight, planner.offset_db) == (best.weight, pytest.approx(best.offset_db))
    assert body["peaks_fitted"][f"{group} left out"] == {"weight": planner.weight, "offset_db": round(planner.offset_db, 2)}
    assert len(body["peaks_fitted"]) == 3
    alone = run_protocol(held, {"p": predict_by(planner)}, draws=1, seed=0, protocol="flat")
    assert body["by_package"]["peaks-fitted"][group]["mae_db"] == pytest.approx(summarise(alone.errors["p"])["mae_db"])
    assert "MAE (dB) by package" in capsys.readouterr().out
    table = tmp_path / "table.json"
    table.write_text(json.dumps(conventions_table(grouped, find_sessions(grouped, None))))
    assert main(["eval", "--sessions", str(grouped), "--folds", "package", "--conventions", str(table)]) == 2
    assert "drop --conventions" in capsys.readouterr().err


def test_the_peak_planner_fitted_against_the_kick_keeps_the_weight_and_refits_the_offset(grouped):
    sessions = find_sessions(grouped, None)
    on_bass, on_kick = fitted_peak_planner(sessions), fitted_peak_planner(sessions, "kick")
    rows = session_peak_rows(sessions, anchor_roles=("kick",))["kick"]
    assert on_kick.weight == on_bass.weight
    assert on_kick.offset_db == pytest.approx(fit_peak_rule(rows, (on_bass.weight,))[0].offset_db)
    assert on_kick.offset_db != pytest.approx(on_bass.offset_db, abs=0.1)


def test_the_readme_table_of_the_twelve_songs_is_the_committed_evaluation():
    """README, "Twelve songs, each producer left out": every row is docs/eval/lmms-folds.json and -kick.json."""
    root = Path(__file__).resolve().parents[2]
    readme = root.joinpath("README.md").read_text(encoding="utf-8")
    section = readme.split("**Twelve songs, each producer left out**", 1)[1].split("**Scoring LMMS projects", 1)[0]
    rows = {cells[0].strip("* ").replace(" (default)", ""): [c.strip("* ").replace("−", "-") for c in cells[1:]]
            for cells in (line.strip("|").split("|") for line in section.splitlines() if line.startswith("| "))
            if cells[0].strip() != "planner"}
    bodies = [json.loads(root.joinpath("docs", "eval", f"lmms-folds{tail}.json").read_text()) for tail in ("", "-kick")]
    assert set(rows) == set(bodies[0]["flat"]["overall"]) and all(b["flat"]["folds"] == "producer" for b in bodies)
    for planner, cells in rows.items():
        expected = []
        for body in bodies:
            flat = body["flat"]["overall"][planner]
            expected += [f"{body['perturb']['overall'][planner]['mae_db']:.2f}", f"{flat['mae_db']:.2f}",
                         f"{flat['spread_db']:.1f}", "-" if "correlation" not in flat else f"{flat['correlation']:.2f}",
                         f"{flat['mae_after_anchor_move_db']:.2f}"]
        assert [c.strip() for c in cells] == expected, planner


def test_without_folds_peaks_fitted_fits_the_train_split(grouped, tmp_path):
    out = tmp_path / "fitted.json"
    assert main(["eval", "--sessions", str(grouped), "--split", "all", "--protocol", "flat", "--planner",
                 "peaks-fitted", "--json", str(out)]) == 0
    planner = fitted_peak_planner(find_sessions(grouped, "train"))
    assert json.loads(out.read_text())["peaks_fitted"] == {
        "train split": {"weight": planner.weight, "offset_db": round(planner.offset_db, 2)}}
