"""The AnchorBalance protocol: sign conventions, determinism, and the baselines' order."""


import numpy as np
import pytest

from anchormix.agent import RulePlanner

from anchormix.model.evaluation.baselines import (conventions_table, make_constant, make_conventions, mean_offset,
                                                  predict_by, predict_loudness, predict_none)
from anchormix.model.corpus import build_procedural_session, find_sessions, write_manifest
from anchormix.model.evaluation.evaluate import level_spread, run_protocol, summarise
from anchormix.model.features import cached_features, log_mel
from anchormix.tools import load_session


@pytest.fixture(scope="module")
def corpus(tmp_path_factory):
    """Eight procedural songs with a manifest: enough for a train and a test split."""
    root = tmp_path_factory.mktemp("corpus")
    entries = [build_procedural_session(root, genre, seed, seconds=3.0)
               for seed, genre in enumerate(["pop", "edm", "hiphop", "ballad"] * 2)]
    manifest = {"sessions": {e["id"]: e for e in entries}, "skipped": {}}
    for e in entries:  # force both splits to exist whatever the hash says
        e["split"] = "test" if e["id"].endswith(("0", "1")) else "train"
    write_manifest(root, manifest)
    return root


def test_splits_come_from_the_manifest(corpus):
    test = find_sessions(corpus, "test")
    assert {s for _, s in test} == {"test"} and len(test) == 2
    assert len(find_sessions(corpus, None)) == 8


class Oracle:
    """Recovers the perturbation from the audio it is given (level vs. the unperturbed session), then leaves every
    stem but the anchor ``over_db`` over the reference."""

    def __init__(self, sessions, over_db: float = 0.0):
        self.base = {f.name: load_session(f) for f, _ in sessions}
        self.over_db = over_db

    def __call__(self, ctx):
        original = self.base[ctx.session.path.name]
        return {n: -20 * np.log10(np.abs(ctx.session.stems[n]).max() / np.abs(original.stems[n]).max())
                + (0.0 if n == ctx.session.anchor else self.over_db) for n in ctx.session.names}


def test_an_oracle_scores_zero_and_doing_nothing_scores_about_8_db(corpus):
    sessions = find_sessions(corpus, None)
    result = run_protocol(sessions, {"oracle": Oracle(sessions), "none": predict_none}, draws=6, seed=1)
    assert summarise(result.errors["oracle"])["mae_db"] < 1e-3
    # |p_i - p_a| for two independent U(-12, 12): mean 8 dB.
    assert summarise(result.errors["none"])["mae_db"] == pytest.approx(8.0, abs=1.0)


def test_a_planner_off_by_one_song_wide_amount_is_one_anchor_move_from_right(corpus):
    """Every stem 5 dB over the reference: MAE 5, and nothing left once the anchor's fader has moved 5 dB; a planner
    that tells stems apart no better (doing nothing) keeps most of its error after that move."""
    sessions = find_sessions(corpus, "test")
    result = run_protocol(sessions, {"five over": Oracle(sessions, over_db=5.0), "none": predict_none}, draws=3, seed=2)
    assert summarise(result.errors["five over"])["mae_db"] == pytest.approx(5.0, abs=1e-3)
    assert summarise(result.errors["five over"])["bias_db"] == pytest.approx(5.0, abs=1e-3)  # louder: a + bias
    assert summarise([-3.0, -1.0, 2.0])["bias_db"] == -1.0 and summarise([-3.0, -1.0, 2.0])["mae_db"] == 2.0
    assert summarise(result.after_anchor_move["five over"])["mae_db"] < 1e-3
    by_source = result.after_anchor_move_by_source["none"]
    assert sorted(e for errors in by_source.values() for e in errors) == sorted(result.after_anchor_move["none"])
    none, moved = summarise(result.errors["none"])["mae_db"], summarise(result.after_anchor_move["none"])["mae_db"]
    assert 2.0 < moved < none


def test_draws_are_seeded_and_shared_by_planners(corpus):
    sessions = find_sessions(corpus, "test")
    a = run_protocol(sessions, {"none": predict_none}, draws=2, seed=3)
    b = run_protocol(sessions, {"none": predict_none, "loudness": predict_loudness}, draws=2, seed=3)
    c = run_protocol(sessions, {"none": predict_none}, draws=2, seed=4)
    assert a.errors["none"] == b.errors["none"] and a.errors["none"] != c.errors["none"]


def test_conventions_learned_on_train_beat_loudness_and_none(corpus):
    table = conventions_table(corpus)
    assert table["vocals"]["count"] == 6 and table["vocals"]["mean"] > table["hats"]["mean"]
    sessions = find_sessions(corpus, "test")
    result = run_protocol(sessions, {"none": predict_none, "loudness": predict_loudness,
                                     "conventions": make_conventions(table), "rules": predict_by(RulePlanner())}, draws=3, seed=0)
    mae = {p: summarise(e)["mae_db"] for p, e in result.errors.items()}
    assert mae["conventions"] < mae["loudness"] < mae["none"]
    assert mae["rules"] < mae["none"]
    assert set(result.by_role["none"]) >= {"vocals", "kick", "hats"}
    assert set(result.by_genre["none"]) <= {"pop", "edm", "hiphop", "ballad"}


def test_the_constant_puts_every_stem_at_the_train_splits_mean_offset_and_shows_no_spread(corpus):
    """Issue 28: the constant baseline, and the spread and correlation that show a planner moving every stem alike."""
    table = conventions_table(corpus)
    offsets = [v["mean"] * v["count"] for r, v in table.items() if r != "bass"]
    constant = mean_offset(table)
    assert constant == pytest.approx(sum(offsets) / sum(v["count"] for r, v in table.items() if r != "bass"))
    sessions = find_sessions(corpus, "test")
    result = run_protocol(sessions, {"constant": make_constant(table), "conventions": make_conventions(table),
                                     "none": predict_none}, draws=2, seed=0, protocol="flat")
    after = [level for _, level in result.levels["constant"]]
    assert after == pytest.approx([constant] * len(after), abs=0.01)  # every stem at the constant, whatever it is
    spread = {p: level_spread(result.levels[p]) for p in result.levels}
    assert spread["constant"]["spread_db"] < 0.01 and spread["none"]["spread_db"] < 0.01  # a flat start: all alike
    assert spread["conventions"]["spread_db"] > 1.0 and spread["conventions"]["correlation"] > 0.5
    assert spread["constant"]["reference_spread_db"] == spread["conventions"]["reference_spread_db"] > 1.0
    mae = {p: summarise(e)["mae_db"] for p, e in result.errors.items()}
    assert mae["conventions"] < mae["constant"] < mae["none"]


def test_a_folder_without_manifest_is_evaluated_whole(tmp_path, demo_session_dir):
    import shutil

    from anchormix.cli import main

    shutil.copytree(demo_session_dir, tmp_path / "song")
    assert [s for _, s in find_sessions(tmp_path, "test")] == ["all"]  # no splits: every session, whatever is asked
    assert [s for _, s in find_sessions(tmp_path, None)] == ["all"]
    assert main(["eval", "--sessions", str(tmp_path), "--planner", "none,loudness", "--draws", "1"]) == 0


def test_features_keep_level_and_are_cached(demo_session_dir, tmp_path):
    session = load_session(demo_session_dir)
    mel = cached_features(session, tmp_path)
    assert mel.shape[:2] == (len(session.names), 64)
    louder = log_mel(session.array() * np.float32(10 ** (6 / 20)), session.sample_rate)
    loud = mel > -100  # away from the floor, +6 dB of gain is +6 dB of feature
    assert np.allclose((louder - log_mel(session.array(), session.sample_rate))[loud], 6.0, atol=0.01)
    again = cached_features(session, tmp_path)  # second call reads the cache (float16)
    assert np.allclose(again, mel, atol=0.1)
    assert (tmp_path / f"{demo_session_dir.name}.npz").exists()


def test_the_agent_protocol_reports_iterations_convergence_and_tool_calls(corpus, tmp_path):
    from anchormix.cli import main
    from anchormix.model.evaluation.evaluate import run_agent_protocol
    from anchormix.planners import planner_factory

    sessions = find_sessions(corpus, "test")
    result = run_agent_protocol(sessions, {"rules": planner_factory("rules")}, draws=2, seed=0, max_steps=16)
    runs = result.runs["rules"]
    assert len(runs) == 4 and all(r["converged"] and 1 <= r["iterations"] <= 16 for r in runs)
    assert all(r["tool_calls"] >= 1 and r["invalid_calls"] == 0 for r in runs)
    # The rules check masking before their largest moves, and those checks are counted apart.
    assert all(1 <= r["masking_checks"] < r["tool_calls"] for r in runs)
    # The loop's final gains score like the one-shot rule predictor on the same draws.
    one_shot = run_protocol(sessions, {"rules": predict_by(RulePlanner())}, draws=2, seed=0)
    assert result.summary("rules")["mae_db"] == pytest.approx(summarise(one_shot.errors["rules"])["mae_db"], abs=0.05)

    out = tmp_path / "agent.json"
    assert main(["eval", "--agent", "--sessions", str(corpus), "--planner", "rules", "--draws", "1",
                 "--json", str(out)]) == 0
    assert out.exists()
    assert main(["eval", "--agent", "--sessions", str(corpus), "--planner", "loudness"]) == 2


def test_a_flat_start_puts_every_stem_at_the_anchor_and_scores_against_the_reference(corpus):
    from anchormix.model.evaluation.evaluate import protocol_draws

    sessions = find_sessions(corpus, "test")
    draws = list(protocol_draws(sessions, draws=5, seed=0, protocol="flat"))
    assert len(draws) == len(sessions)  # one flat start per session, whatever --draws says
    for d in draws:
        levels = d.measurements.shifted(d.offsets_db).lufs
        assert all(abs(levels[n] - levels[d.session.anchor]) < 1e-6 for n in d.scored)
        assert d.source == "procedural"
    result = run_protocol(sessions, {"none": predict_none, "loudness": predict_loudness}, draws=5, seed=0,
                          protocol="flat")
    # Nothing can be read off flat start levels: bringing every stem to the anchor's loudness is doing nothing.
    assert result.errors["loudness"] == pytest.approx(result.errors["none"], abs=1e-6)
    # ... and "none" misses each stem by exactly its reference level against the anchor.
    expected = [abs(load_session(f).reference_lu[n]) for f, _ in sessions for n in load_session(f).names
                if n != load_session(f).anchor]
    assert sorted(abs(e) for e in result.errors["none"]) == pytest.approx(sorted(expected), abs=0.05)
    assert set(result.by_source["none"]) == {"procedural"}


def test_an_anchor_role_rebalances_against_the_loudest_stem_of_that_role(corpus):
    """Issue 28 asks for both anchors: --anchor-role kick scores every stem against the kick instead of the bass."""
    sessions = find_sessions(corpus, "test")
    on_bass = run_protocol(sessions, {"none": predict_none}, draws=1, seed=0, protocol="flat")
    on_kick = run_protocol(sessions, {"none": predict_none}, draws=1, seed=0, protocol="flat", anchor_role="kick")
    assert set(on_kick.by_role["none"]) == set(on_bass.by_role["none"]) - {"kick"} | {"bass"}
    assert run_protocol(sessions, {"none": predict_none}, draws=1, seed=0, anchor_role="brass").sessions == 0


def test_eval_against_a_role_no_session_has_says_so(corpus, capsys):
    from anchormix.cli import main

    assert main(["eval", "--sessions", str(corpus), "--split", "test", "--planner", "none", "--anchor-role", "brass"]) == 2  # a bad argument
    out = capsys.readouterr()
    assert "--anchor-role brass: no session of" in out.out + out.err
