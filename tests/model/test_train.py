"""One real training step of the ALM on generated audio, then a save/load round trip."""

import numpy as np
import pytest
import torch

from anchormix.model.alm import ALMConfig
from anchormix.model.data import load_corpus, make_draw
from anchormix.model.train import TrainConfig, build_alm, load_checkpoint, train


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


def test_unknown_config_keys_are_rejected(tmp_path):
    bad = tmp_path / "c.yaml"
    bad.write_text("steps: 3\nlearning_rate: 1\n")
    with pytest.raises(ValueError, match=r"unknown keys \['learning_rate'\]"):
        TrainConfig.from_yaml(bad)
    bad.write_text("model:\n  layers: 3\n")
    with pytest.raises(ValueError, match=r"unknown model config keys \['layers'\]"):
        TrainConfig.from_yaml(bad)


def test_the_alm_drives_the_agent_loop_and_the_eval(tiny_corpus, tmp_path, demo_session_dir):
    from anchormix.agent import build_graph
    from anchormix.model.evaluate import find_sessions, make_alm, run_protocol, summarise
    from anchormix.model.planner import ALMPlanner
    from anchormix.tools import ToolContext, load_session

    cfg = ALMConfig(frames=64)
    config = TrainConfig(corpus=str(tiny_corpus), out=str(tmp_path / "ckpt"), steps=1, draws_per_step=1,
                         max_stems=4, valid_every=1, valid_draws=1, model=cfg.to_dict())
    train(config, log=lambda _: None)
    checkpoint = tmp_path / "ckpt" / "alm.safetensors"

    ctx = ToolContext(load_session(demo_session_dir))
    planner = ALMPlanner(ctx, checkpoint)
    state = build_graph(planner, ctx, max_steps=4).invoke(
        {"session_id": "t", "anchor": ctx.session.anchor, "planner": "alm", "gains_db": {n: 0.0 for n in ctx.session.names},
         "iteration": 0, "step": 0, "status": "running", "reasons": {}, "messages": [], "trace": []},
        {"recursion_limit": 40})
    applied = [r for r in state["trace"] if r["node"] == "act" and r["tool"] == "apply_gains"]
    assert applied and applied[0]["error"] is None  # the model's moves went through the registry
    assert state["gains_db"][ctx.session.anchor] == 0.0 and state["status"] in ("converged", "step cap")

    result = run_protocol(find_sessions(tiny_corpus, None)[:1], {"alm": make_alm(checkpoint)}, draws=1, seed=0)
    assert np.isfinite(summarise(result.errors["alm"])["mae_db"])


def test_a_planning_step_trains_on_oracle_calls_and_the_checkpoint_says_it_plans(tiny_corpus, tmp_path):
    from anchormix.model.trajectories import make_plan_draw

    cfg = ALMConfig(frames=64)
    alm = build_alm(cfg)
    before = {k: v.clone() for k, v in alm.trainable_state().items() if "lora_" in k}
    config = TrainConfig(corpus=str(tiny_corpus), out=str(tmp_path / "plans"), steps=1, draws_per_step=2,
                         max_stems=5, valid_every=1, valid_draws=2, plan_share=1.0, model=cfg.to_dict())
    summary = train(config, log=lambda _: None, alm=alm)
    record = summary["history"][-1]
    assert np.isfinite(record["train_mae_db"]) and 0.0 <= record["valid_call_accuracy"] <= 1.0
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
