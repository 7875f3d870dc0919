"""The call head: the planner's next call from the LM's state and the proposal, fitted on oracle states."""

import numpy as np
import pytest
import torch

from anchormix.model.alm.network import ALMConfig
from anchormix.model.alm.call_head import (CALLS, CallHead, call_accuracy, fit_call_head, masking_target, proposal_numbers,
                                       train_call_head)
from anchormix.model.alm.build import build_alm, load_checkpoint, save_checkpoint
from anchormix.model.draws import make_plan_draw
from anchormix.model.features import load_corpus
from anchormix.model.prompt import read_call


def test_the_proposal_is_read_as_numbers_and_the_masking_check_is_of_its_largest_raise():
    numbers = proposal_numbers("stem 3 +7.2 dB, stem 1 +0.4 dB, stem 2 -9.0 dB", ["apply_gains"])
    assert numbers.tolist() == pytest.approx([0.72, 0.9, 1 / 3, 0.0])
    assert proposal_numbers("none", ["measure_masking stem 3"]).tolist() == pytest.approx([0.0, 0.0, 1 / 3, 1.0])
    assert masking_target("stem 3 +7.2 dB, stem 1 +0.4 dB") == 3 and masking_target("none") is None


def test_a_head_learns_the_oracles_rule_from_the_numbers():
    """Numbers drawn like the oracle's states; labels by its rule: finish under 0.5 dB, check masking first when
    a stem would rise 6 dB or more, else apply."""
    rng = np.random.default_rng(0)
    rows, labels = [], []
    for _ in range(600):
        raise_db, calls = float(rng.uniform(-3, 14)), int(rng.integers(0, 3))
        largest = max(abs(raise_db), float(rng.uniform(0, 12))) if rng.random() < 0.8 else float(rng.uniform(0, 0.6))
        raise_db = min(raise_db, largest)
        label = 1 if largest < 0.5 else 2 if calls == 0 and raise_db >= 6 else 0
        rows.append([raise_db / 10, largest / 10, calls / 3, 0.0])
        labels.append(label)
    data = (torch.zeros(600, 8), torch.tensor(rows, dtype=torch.float32), torch.tensor(labels))
    head = CallHead(8)
    train_call_head(head, data, "numbers", epochs=600, lr=1e-2)
    result = call_accuracy(head, data, "numbers")
    assert result["call_accuracy"] > 0.9 and result["call_accuracy_measure_masking"] > 0.8, result


def test_fitting_on_oracle_states_gives_a_checkpoint_whose_planner_answers_with_a_call(tiny_corpus, tmp_path):
    alm = build_alm(ALMConfig(frames=64))
    sessions = load_corpus(tiny_corpus)
    report = fit_call_head(alm, sessions, sessions, count=12, max_stems=5, log=lambda _: None, valid_count=6)
    assert set(report["valid"]) == {"both", "state", "numbers"} and report["valid_states"] == 6
    assert alm.cfg.call_head and alm.cfg.call_inputs in report["valid"]
    save_checkpoint(alm, tmp_path, {})
    loaded = load_checkpoint(tmp_path / "alm.safetensors")
    assert loaded.call_head is not None
    assert torch.equal(loaded.call_head.mlp[0].weight, alm.call_head.mlp[0].weight)
    plan = make_plan_draw(sessions[0], np.random.default_rng(3), frames=64, max_stems=5)
    _, text = loaded.plan_step(torch.from_numpy(plan.draw.mel), plan.draw.stems, plan.history, lambda _: plan.proposal)
    tool, index = read_call(text)  # always a well-formed call: no tokens are generated
    assert tool in CALLS and (index == masking_target(plan.proposal) if tool == "measure_masking" else index is None)
