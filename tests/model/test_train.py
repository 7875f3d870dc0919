"""One real training step of the ALM on generated audio, then a save/load round trip."""

import json

import numpy as np
import pytest
import torch

from anchormix.model.alm.network import ALMConfig
from anchormix.model.draws import make_draw
from anchormix.model.features import load_corpus
from anchormix.model.alm.build import build_alm, load_checkpoint
from anchormix.model.alm.train import TrainConfig, train


def test_draws_shift_features_by_the_perturbation_and_target_the_reference(tiny_corpus):
    session = load_corpus(tiny_corpus)[0]
    draw = make_draw(session, np.random.default_rng(0), frames=64, max_stems=6)
    a = draw.anchor
    assert draw.stems[a].is_anchor and draw.target_lu[a] == 0.0 and draw.measured_lu[a] == pytest.approx(0.0)
    assert 2 <= len(draw.stems) <= 6 and draw.mel.shape[1:] == (64, 64)
    assert np.abs(draw.measured_lu - draw.target_lu).max() > 0.5  # perturbed away from the reference


def test_one_training_step_learns_and_the_checkpoint_round_trips(tiny_corpus, tmp_path):
    cfg = ALMConfig(frames=64)
    alm = build_alm(cfg)
    before = {k: v.clone() for k, v in alm.trainable_state().items()}
    config = TrainConfig(corpus=str(tiny_corpus), out=str(tmp_path / "ckpt"), steps=1, draws_per_step=2,
                         max_stems=5, valid_every=1, valid_draws=2, model=cfg.to_dict())
    summary = train(config, log=lambda _: None, alm=alm)
    assert np.isfinite(summary["history"][0]["train_mae_db"])
    after = alm.trainable_state()
    changed = [k for k in before if not torch.equal(before[k], after[k])]
    assert any(k.startswith("encoder.") for k in changed) and any("lora_" in k for k in changed)
    assert any(k.startswith("head.") for k in changed)

    path = tmp_path / "ckpt" / "alm.safetensors"
    assert path.exists() and path.stat().st_size < 20 * 2**20
    loaded = load_checkpoint(path)
    draw = make_draw(load_corpus(tiny_corpus)[0], np.random.default_rng(1), frames=64)
    with torch.no_grad():
        alm.eval()
        expected, _ = alm(torch.from_numpy(draw.mel), draw.stems)
        got, _ = loaded(torch.from_numpy(draw.mel), draw.stems)
    assert torch.allclose(expected, got, atol=1e-4)


def test_silence_stays_at_the_floor_so_a_draw_does_not_give_its_perturbation_away(tiny_corpus):
    from anchormix.model.features import FLOOR_DB

    session = load_corpus(tiny_corpus)[0]
    session.mel[:, :, :10] = FLOOR_DB  # some silence in every stem
    for seed in range(5):
        draw = make_draw(session, np.random.default_rng(seed), frames=session.mel.shape[-1], max_stems=6)
        assert (draw.mel[:, :, :10] == FLOOR_DB).all()  # as analysing the moved audio gives
        loud = draw.mel[:, :, 10:] > FLOOR_DB + 30
        assert loud.any()


def test_the_model_hears_moved_audio_as_analysing_it_would(demo_session_dir):
    from anchormix.model.features import log_mel, shift_mel
    from anchormix.tools import load_session

    session = load_session(demo_session_dir)
    x = session.array()[:, :, : session.sample_rate * 2]
    gains = np.linspace(-12.0, 12.0, len(x)).astype(np.float32)
    moved = log_mel(x * (10 ** (gains / 20))[:, None, None], session.sample_rate)
    shifted = shift_mel(log_mel(x, session.sample_rate), gains)
    audible = shifted > -100.0
    assert np.abs(moved - shifted)[audible].max() < 0.05
    assert np.abs(moved - shifted).mean() < 0.5


def test_draws_name_the_genre_except_in_the_dropped_share(tiny_corpus):
    session = load_corpus(tiny_corpus)[0]
    rng = np.random.default_rng(0)
    assert make_draw(session, rng, frames=64, genre_drop=0.0).genre == session.genre != "unknown"
    assert make_draw(session, rng, frames=64, genre_drop=1.0).genre == "unknown"


def test_the_listener_stage_then_the_llm_stage_train_and_round_trip(tiny_corpus, tmp_path):
    cfg = ALMConfig(frames=64, listener=True, genre_in_prompt=True)
    first = tmp_path / "first"
    train(TrainConfig(corpus=str(tiny_corpus), out=str(first), steps=1, draws_per_step=1, max_stems=4, valid_every=1,
                      valid_draws=1, model=ALMConfig(frames=64).to_dict()), log=lambda _: None)
    alm = build_alm(cfg)
    assert not alm.head[-1].weight.detach().any()  # the hidden-state head starts as "no correction"
    before = {k: v.clone() for k, v in alm.trainable_state().items()}
    config = TrainConfig(corpus=str(tiny_corpus), out=str(tmp_path / "ckpt"), steps=1, draws_per_step=2,
                         max_stems=5, valid_every=1, valid_draws=2, listener_steps=3, listener_batch=2,
                         init_adapters=str(first / "alm.safetensors"), model=cfg.to_dict())
    logged = []
    summary = train(config, log=logged.append, alm=alm)
    stages = [r for r in summary["history"] if "listener_step" in r]
    assert stages and np.isfinite(stages[-1]["valid_mae_db"]) and np.isfinite(summary["history"][-1]["train_mae_db"])
    after = alm.trainable_state()
    changed = {k.split(".")[0] for k in before if not torch.equal(before[k], after[k])}
    assert {"listener", "encoder", "head", "projector"} <= changed

    loaded = load_checkpoint(tmp_path / "ckpt" / "alm.safetensors")
    assert loaded.cfg.listener and loaded.cfg.genre_in_prompt
    draw = make_draw(load_corpus(tiny_corpus)[0], np.random.default_rng(1), frames=64)
    ids, _ = loaded.layout(draw.stems, genre="edm")
    assert "Genre: edm." in loaded.tokenizer.decode([i for i in ids if i >= 0])
    with torch.no_grad():
        alm.eval()
        expected, _ = alm(torch.from_numpy(draw.mel), draw.stems, genre="pop")
        got, _ = loaded(torch.from_numpy(draw.mel), draw.stems, genre="pop")
        other, _ = loaded(torch.from_numpy(draw.mel), draw.stems, genre="ballad")
    assert torch.allclose(expected, got, atol=1e-4)
    assert not torch.allclose(got, other)  # the genre reaches the prediction

    from anchormix.model.corpus import find_sessions
    from anchormix.model.evaluation.evaluate import run_protocol, summarise
    from anchormix.planners import make_predictor

    checkpoint = tmp_path / "ckpt" / "alm.safetensors"
    predictors = {n: make_predictor(n, tiny_corpus, checkpoint=checkpoint) for n in ("alm-listener", "alm-nogenre")}
    result = run_protocol(find_sessions(tiny_corpus, None)[:1], predictors, draws=1, seed=0)
    assert all(np.isfinite(summarise(result.errors[n])["mae_db"]) for n in predictors)
    with pytest.raises(ValueError, match="no listener"):
        make_predictor("alm-listener", tiny_corpus, checkpoint=first / "alm.safetensors")


def test_init_adapters_takes_only_the_lora_weights(tiny_corpus, tmp_path):
    from anchormix.model.alm.build import load_adapters

    source = build_alm(ALMConfig(frames=64))
    with torch.no_grad():
        for name, p in source.llm.named_parameters():
            if "lora_B" in name:
                p.add_(0.01)
    from anchormix.model.alm.build import save_checkpoint

    save_checkpoint(source, tmp_path, {})
    target = build_alm(ALMConfig(frames=64, listener=True))
    load_adapters(target, tmp_path / "alm.safetensors")
    lora = {k: v for k, v in source.trainable_state().items() if "lora_" in k}
    assert all(torch.equal(v, target.trainable_state()[k]) for k, v in lora.items())
    assert not torch.equal(source.trainable_state()["encoder.queries"], target.trainable_state()["encoder.queries"])
    wrong = build_alm(ALMConfig(frames=64, lora_r=4))
    with pytest.raises(ValueError, match="do not fit"):
        load_adapters(wrong, tmp_path / "alm.safetensors")


def test_unknown_config_keys_are_rejected(tmp_path):
    bad = tmp_path / "c.yaml"
    bad.write_text("steps: 3\nlearning_rate: 1\n")
    with pytest.raises(ValueError, match=r"unknown keys \['learning_rate'\]"):
        TrainConfig.from_yaml(bad)
    bad.write_text("model:\n  layers: 3\n")
    with pytest.raises(ValueError, match=r"unknown model config keys \['layers'\]"):
        TrainConfig.from_yaml(bad)
    bad.write_text("listener_steps: 10\nmodel:\n  frames: 64\n")
    with pytest.raises(ValueError, match="listener_steps needs model.listener"):
        TrainConfig.from_yaml(bad)


def test_the_alm_drives_the_agent_loop_and_the_eval(tiny_corpus, tmp_path, demo_session_dir):
    from anchormix.agent import run_balance, start_state
    from anchormix.model.corpus import find_sessions
    from anchormix.model.evaluation.evaluate import run_protocol, summarise
    from anchormix.planners import make_planner, make_predictor
    from anchormix.tools import ToolContext, load_session

    cfg = ALMConfig(frames=64)
    config = TrainConfig(corpus=str(tiny_corpus), out=str(tmp_path / "ckpt"), steps=1, draws_per_step=1,
                         max_stems=4, valid_every=1, valid_draws=1, model=cfg.to_dict())
    train(config, log=lambda _: None)
    checkpoint = tmp_path / "ckpt" / "alm.safetensors"

    ctx = ToolContext.of(load_session(demo_session_dir))
    start = start_state("t", ctx.session.anchor, "alm", {n: 0.0 for n in ctx.session.names})
    state = run_balance(make_planner("alm", checkpoint=checkpoint), ctx, start, max_steps=4)
    applied = [r for r in state["trace"] if r["node"] == "act" and r["tool"] == "apply_gains"]
    assert applied and applied[0]["error"] is None  # the model's moves went through the registry
    assert state["gains_db"][ctx.session.anchor] == 0.0 and state["status"] in ("converged", "step cap")

    alm = make_predictor("alm", tiny_corpus, checkpoint=checkpoint)
    result = run_protocol(find_sessions(tiny_corpus, None)[:1], {"alm": alm}, draws=1, seed=0)
    assert np.isfinite(summarise(result.errors["alm"])["mae_db"])

    # Its 80 % intervals: fitted on one split by the eval command, written beside the checkpoint, then checked.
    from anchormix.cli import main

    fitted = tmp_path / "ckpt" / "intervals.json"
    eval_args = ["eval", "--sessions", str(tiny_corpus), "--split", "train", "--planner", "alm", "--draws", "2",
                 "--checkpoint", str(checkpoint), "--protocol", "both"]
    assert main(eval_args + ["--fit-intervals", str(fitted)]) == 0
    intervals = json.loads(fitted.read_text())
    assert intervals["coverage"] == 0.8 and intervals["pooled"] > 0 and "split=train" in intervals["fitted_on"]
    plot = tmp_path / "calibration.svg"
    assert main(eval_args + ["--json", str(tmp_path / "m.json"), "--calibration-plot", str(plot)]) == 0
    inside = json.loads((tmp_path / "m.json").read_text())["perturb"]["overall"]["alm"]["inside_80_interval"]
    assert 0.5 <= inside <= 1.0  # the same songs: at least about the 80 % it was fitted to
    assert f"{100 * inside:.0f} % (n=" in plot.read_text()  # the figure is drawn from the same numbers


def test_a_planning_step_trains_on_oracle_calls_and_the_checkpoint_says_it_plans(tiny_corpus, tmp_path):
    from anchormix.model.draws import make_plan_draw

    cfg = ALMConfig(frames=64)
    alm = build_alm(cfg)
    before = {k: v.clone() for k, v in alm.trainable_state().items() if "lora_" in k}
    config = TrainConfig(corpus=str(tiny_corpus), out=str(tmp_path / "plans"), steps=1, draws_per_step=2,
                         max_stems=5, valid_every=1, valid_draws=2, plan_share=1.0, model=cfg.to_dict())
    summary = train(config, log=lambda _: None, alm=alm)
    record = summary["history"][-1]
    assert np.isfinite(record["train_mae_db"]) and "valid_call_accuracy" in record
    assert any(not torch.equal(before[k], v) for k, v in alm.trainable_state().items() if k in before)

    loaded = load_checkpoint(tmp_path / "plans" / "alm.safetensors")
    assert loaded.cfg.plans  # the planner will ask this model for its calls
    plan = make_plan_draw(load_corpus(tiny_corpus)[0], np.random.default_rng(2), frames=64, max_stems=5)
    predicted, text = loaded.plan_step(torch.from_numpy(plan.draw.mel), plan.draw.stems, plan.history,
                                       lambda _: plan.proposal, max_new_tokens=8)
    assert predicted.shape == (len(plan.draw.stems),) and isinstance(text, str)


def test_init_and_a_model_block_are_exclusive(tmp_path):
    bad = tmp_path / "c.yaml"
    bad.write_text("init: model/checkpoints/alm/alm.safetensors\nmodel:\n  frames: 64\n")
    with pytest.raises(ValueError, match="either init"):
        TrainConfig.from_yaml(bad)
    bad.write_text("plan_share: 1.5\n")
    with pytest.raises(ValueError, match="plan_share must be within 0..1"):
        TrainConfig.from_yaml(bad)


def test_the_level_blind_ablation_hears_shape_but_not_level():
    from anchormix.model.alm.network import AudioEncoder

    torch.manual_seed(0)
    mel = torch.randn(2, 64, 64) * 10.0 - 40.0
    blind, normal = AudioEncoder(ALMConfig(frames=64, level_blind=True)), AudioEncoder(ALMConfig(frames=64))
    assert torch.allclose(blind(mel), blind(mel + 6.0), atol=1e-4)
    assert not torch.allclose(normal(mel), normal(mel + 6.0), atol=1e-2)
    assert not torch.allclose(blind(mel), blind(mel.flip(1)), atol=1e-2)  # the spectral shape still reaches it


def test_flat_draws_start_every_stem_at_the_anchor_and_the_sampler_keeps_the_source_shares(tiny_corpus):
    from anchormix.model.draws import SessionSampler

    sessions = load_corpus(tiny_corpus)
    rng = np.random.default_rng(4)
    draw = make_draw(sessions[0], rng, frames=64, flat_share=1.0)
    assert np.allclose(draw.measured_lu, 0.0, atol=1e-5) and np.abs(draw.target_lu).max() > 1.0
    sessions[1].source = "midi"
    sample = SessionSampler(sessions, {"procedural": 3.0, "midi": 1.0})
    assert sample.shares() == {"midi": 0.25, "procedural": 0.75}
    picked = [sample(rng).source for _ in range(400)]
    assert 0.15 < picked.count("midi") / 400 < 0.35
    with pytest.raises(ValueError, match="no training sessions from \\['module'\\]"):
        SessionSampler(sessions, {"module": 1.0})
