"""Configs: a base YAML plus small overlays (``include:``), read into strict dataclasses."""

from pathlib import Path

import pytest

from anchormix.model.alm import ALMConfig
from anchormix.model.config import read_config
from anchormix.model.intent_model import IntentConfig
from anchormix.model.train import TrainConfig

CONF = Path(__file__).resolve().parents[2] / "model" / "conf"


@pytest.mark.parametrize("path", sorted(p for p in CONF.glob("*.yaml") if p.name != "intent.yaml"), ids=lambda p: p.name)
def test_every_shipped_training_config_reads(path):
    config = TrainConfig.from_yaml(path)
    assert {str(c) for c in config.corpora} <= {"corpus", "modules"} and config.out.startswith("runs/")


def test_an_overlay_merges_over_its_base_key_by_key():
    shipped = TrainConfig.from_yaml(CONF / "alm_listener.yaml")
    assert shipped.steps == 240 and shipped.seed == 2 and shipped.lora_lr == 0.0002  # the last from base.yaml
    model = ALMConfig.from_dict(shipped.model)
    assert model.listener and model.plans and model.frames == 128 and model.lora_r == 8  # model: merged, not replaced
    blind = ALMConfig.from_dict(TrainConfig.from_yaml(CONF / "ablation_listener_level_blind.yaml").model)
    assert blind.level_blind and blind.listener and blind.genre_in_prompt  # two includes deep
    plans = TrainConfig.from_yaml(CONF / "alm_plans.yaml")
    assert plans.model == {} and plans.init  # `model: null` removed the base's block: the init checkpoint's is used


def test_overlays_are_checked_like_whole_files(tmp_path):
    (tmp_path / "base.yaml").write_text("steps: 3\nmodel:\n  frames: 64\n")
    (tmp_path / "typo.yaml").write_text("include: base.yaml\nstep: 4\n")
    with pytest.raises(ValueError, match=r"typo.yaml: unknown keys \['step'\]"):
        TrainConfig.from_yaml(tmp_path / "typo.yaml")
    (tmp_path / "loop.yaml").write_text("include: loop.yaml\n")
    with pytest.raises(ValueError, match="deeper"):
        read_config(tmp_path / "loop.yaml")
    (tmp_path / "missing.yaml").write_text("include: nowhere.yaml\n")
    with pytest.raises(ValueError, match="nowhere.yaml: cannot read config"):
        read_config(tmp_path / "missing.yaml")


def test_the_intent_models_hyperparameters_are_its_config():
    assert IntentConfig.from_yaml() == IntentConfig()  # the file holds the shipped values, the defaults agree
    with pytest.raises(ValueError, match="unknown keys"):
        IntentConfig.from_yaml(CONF / "base.yaml")
