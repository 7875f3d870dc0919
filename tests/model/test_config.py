"""Configs: a base YAML plus small overlays (``include:``), read into strict dataclasses."""

from pathlib import Path

import pytest

from anchormix.model.alm.network import ALMConfig
from anchormix.model.config import read_config
from anchormix.model.intent.intent_model import IntentConfig
from anchormix.model.alm.train import TrainConfig

CONF = Path(__file__).resolve().parents[2] / "model" / "conf"


# the other learners (the name reader's runs: names*.yaml); the rest are the ALM's
LEARNERS = ("intent.yaml", "writer.yaml", "call_head.yaml", "tagger.yaml")
NAME_READER_RUNS = sorted(CONF.glob("names*.yaml"))


@pytest.mark.parametrize("path", sorted(p for p in CONF.glob("*.yaml") if p.name not in LEARNERS
                                        and p not in NAME_READER_RUNS), ids=lambda p: p.name)
def test_every_shipped_training_config_reads(path):
    config = TrainConfig.from_yaml(path)
    assert {str(c) for c in config.corpora} <= {"corpus", "modules", "lmms"} and config.out.startswith("runs/")


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


def test_every_learners_hyperparameters_are_in_model_conf():
    """Issue 27: the writer, the call head and the tagger read theirs from model/conf/ (no literals in the CLI); the
    shipped files hold the values the shipped weights were trained with (the dataclasses' defaults)."""
    from anchormix.model.advice.sentences import WriterConfig
    from anchormix.model.alm.call_head import CallHeadConfig
    from anchormix.model.intent.intent_model import IntentConfig
    from anchormix.model.tagger.role_tagger import TaggerConfig

    for config in (WriterConfig, CallHeadConfig, TaggerConfig):
        assert config.from_yaml() == config(), config.__name__
    assert IntentConfig.from_yaml().lora_r == 4


def test_a_learners_config_with_an_unknown_key_is_named(tmp_path):
    from anchormix.model.advice.sentences import WriterConfig

    (tmp_path / "writer.yaml").write_text("steps: 10\nstepz: 20\n")
    with pytest.raises(ValueError, match="writer.yaml: unknown keys \\['stepz'\\]"):
        WriterConfig.from_yaml(tmp_path / "writer.yaml")


def test_the_name_readers_hyperparameters_are_its_config():
    from anchormix.model.names.name_reader import NameConfig, NameReader

    config = NameConfig.from_yaml()
    assert config.per_role == 300 and config.lora_epochs == 1 and config.lora_r == 8 and config.glued == 0.15
    assert config.ms21_dev and config.every_role and config.generated_repeats == 1
    before = NameConfig.from_yaml(CONF / "names_generated.yaml")  # the reader shipped before: generated names only
    assert before.per_role == 150 and before.lora_epochs == 2 and not (before.ms21_dev or before.every_role)
    assert before.glued == 0 and before.generated_repeats == 1
    assert NameReader.load().config == config  # the shipped checkpoint was trained with it


@pytest.mark.parametrize("path", NAME_READER_RUNS, ids=lambda p: p.name)
def test_every_name_reader_run_reads_as_its_config(path):
    from anchormix.model.names.name_reader import NameConfig

    config = NameConfig.from_yaml(path)
    assert config.per_role >= 150 and config.generated_repeats >= 1 and (config.ms21_dev or not config.every_role)
