"""The shipped intent head: SmolLM2 features + a linear head, combined with the rule reader."""

import pytest

from anchormix.agent.chat import Conversation
from anchormix.agent.chat.request_rules import combine, parse_intent
from anchormix.model.intent.intent_model import DEFAULT_INTENT_CHECKPOINT, EVAL_ROLES, HELD_OUT, IntentModel, paraphrases


@pytest.fixture(scope="module")
def model():
    assert DEFAULT_INTENT_CHECKPOINT.exists() and DEFAULT_INTENT_CHECKPOINT.stat().st_size < 1 << 20
    return IntentModel.load()


def test_held_out_phrasings_are_read_better_with_the_model_than_by_rules_alone(model):
    held = paraphrases(HELD_OUT, seed=1)
    names = list(EVAL_ROLES)
    rules = [parse_intent(t, names, EVAL_ROLES) for t, _ in held]
    both = [combine(r, model(t)) for r, (t, _) in zip(rules, held)]
    rules_acc = sum(r.kind == i for r, (_, i) in zip(rules, held)) / len(held)
    both_acc = sum(r.kind == i for r, (_, i) in zip(both, held)) / len(held)
    # README: the rules alone read 91.3 % of the 46, rules + model 100 % (one miss allowed for CPU nondeterminism)
    assert len(held) == 46 and rules_acc == pytest.approx(42 / 46) and both_acc >= 45 / 46


def test_the_model_reads_what_the_rules_miss_in_a_conversation(model, demo_session_dir, tmp_path):
    chat = Conversation(demo_session_dir, tmp_path, intent_model=model)
    assert parse_intent("justify the vocals", chat.session.names, chat.session.roles).kind == "help"
    chat.handle("balance")
    chat.handle("apply")
    reply = chat.handle("justify the vocals")
    assert reply.intent.kind == "why" and "vocals: moved +" in reply.text
    assert chat.handle("add reverb to the vocals").intent.kind == "help"  # the rules' honest no stands


def test_a_checkpoint_for_other_intents_is_refused(tmp_path):
    from safetensors.torch import save_file
    import torch

    bad = tmp_path / "intent.safetensors"
    save_file({"weight": torch.zeros(3, 576), "bias": torch.zeros(3)}, str(bad), metadata={"intents": '["a","b","c"]'})
    with pytest.raises(ValueError, match="other intents"):
        IntentModel.load(bad)


def test_the_fine_tuned_adapters_ship_and_load_with_the_head(tmp_path):
    import torch

    model = IntentModel()  # fresh adapters (the identity) on its own backbone
    lora = model.lora_state()
    assert lora and all("lora_" in k for k in lora)
    with torch.no_grad():
        for name, param in model.llm.named_parameters():
            if "lora_B" in name:
                param.add_(0.01)  # adapters that change the features
    path = tmp_path / "intent.safetensors"
    model.save(path, {"test": True})
    loaded = IntentModel.load(path)
    assert all(torch.equal(v, loaded.lora_state()[k]) for k, v in model.lora_state().items())
    text = "bring the guitars down 2 dB"
    assert torch.allclose(model.features([text]), loaded.features([text]), atol=1e-4)
    assert not torch.allclose(IntentModel().features([text]), loaded.features([text]), atol=1e-3)
