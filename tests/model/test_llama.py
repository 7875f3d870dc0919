"""The plain-torch backbone (model/llama.py) against transformers + peft: the same numbers for every call the
learners make, the same tokens, and a balance that never imports transformers."""

from __future__ import annotations

import subprocess
import sys

import pytest
import torch

from anchormix.model.backbone import add_lora, load_backbone
from anchormix.model.llama import PlainLlama

TARGETS = ["q_proj", "k_proj", "v_proj", "o_proj"]
TEXTS = ["Mixing session track name: Kin (kin)\n", "<|im_start|>system\nYou write mixing advice.<|im_end|>\n",
         "vocals +2.5 dB ±0.3 against the bass; the guitars mask it at 2–4 kHz"]


@pytest.fixture(scope="module")
def pair():
    """(transformers + peft, plain) with the same random LoRA weights, and the two tokenizers."""
    hf, hf_tokens = load_backbone()
    plain, plain_tokens = load_backbone(inference=True)
    assert isinstance(plain, PlainLlama) and not isinstance(hf, PlainLlama)
    hf, plain = add_lora(hf, 8, 16, 0.0, TARGETS).eval(), add_lora(plain, 8, 16, 0.0, TARGETS).eval()
    lora = {k: v for k, v in hf.state_dict().items() if "lora_" in k}
    assert set(lora) == {k for k in plain.state_dict() if "lora_" in k}  # PEFT's names: checkpoints load as saved
    torch.manual_seed(0)
    trained = {k: 0.02 * torch.randn_like(v) for k, v in lora.items()}  # B is zero when fresh: make it matter
    hf.load_state_dict(trained, strict=False)
    plain.load_state_dict(trained, strict=False)
    return hf, plain, hf_tokens, plain_tokens


def close(a: torch.Tensor, b: torch.Tensor) -> bool:
    return a.shape == b.shape and float((a - b).abs().max()) <= 1e-5


@torch.no_grad()
def test_a_prompt_its_hidden_states_and_a_kv_cached_continuation_match(pair):
    hf, plain, _, tokens = pair
    ids = torch.tensor([tokens(TEXTS[0])["input_ids"]])
    a, b = hf(input_ids=ids, output_hidden_states=True), plain(input_ids=ids, output_hidden_states=True)
    assert close(a.logits, b.logits) and len(a.hidden_states) == len(b.hidden_states) == 31
    assert all(close(x, y) for x, y in zip(a.hidden_states, b.hidden_states))
    embedded = plain.get_input_embeddings()(ids)  # the ALM feeds embeddings (its audio tokens among them)
    a = hf(inputs_embeds=embedded, use_cache=True, logits_to_keep=1)
    b = plain(inputs_embeds=embedded, use_cache=True, logits_to_keep=1)
    assert close(a.logits, b.logits) and b.logits.shape[1] == 1
    for step in ([[5, 6, 7]], [[9]]):  # a planning suffix, then one token at a time
        more = plain.get_input_embeddings()(torch.tensor(step))
        a = hf(inputs_embeds=more, cache=a.cache, use_cache=True, output_hidden_states=True, logits_to_keep=1)
        b = plain(inputs_embeds=more, cache=b.cache, use_cache=True, output_hidden_states=True, logits_to_keep=1)
        assert close(a.logits, b.logits) and close(a.hidden_states[-1], b.hidden_states[-1])


@torch.no_grad()
def test_the_writers_padded_batch_on_a_shared_start_matches(pair):
    """A shared start repeated per row, right-padded rests with explicit positions, then drafted spans with a row
    finished (its new columns masked): model/advice/writer.py's calls."""
    hf, plain, _, tokens = pair
    head = tokens(TEXTS[1], add_special_tokens=False)["input_ids"]
    caches = [m(input_ids=torch.tensor([head]), use_cache=True, logits_to_keep=1).cache for m in (hf, plain)]
    for cache in caches:
        cache.batch_repeat_interleave(3)
    rests = [[10, 11, 12, 13], [20, 21], [30, 31, 32]]
    width = max(map(len, rests)) - 1
    ids = torch.tensor([r[:-1] + [2] * (width + 1 - len(r)) for r in rests])
    mask = torch.tensor([[1] * (len(head) + len(r) - 1) + [0] * (width + 1 - len(r)) for r in rests])
    positions = len(head) + torch.arange(width).expand(3, -1)
    outs = [m(input_ids=ids, attention_mask=mask, position_ids=positions, cache=c, use_cache=True, logits_to_keep=1)
            for m, c in zip((hf, plain), caches)]
    assert close(outs[0].logits, outs[1].logits)
    position = torch.tensor([len(head) + len(r) - 1 for r in rests])
    for span, live in ((1, [1, 1, 1]), (4, [1, 1, 0])):
        ids = torch.arange(100, 100 + 3 * span).view(3, span)
        mask = torch.cat([mask, torch.tensor(live)[:, None].expand(-1, span)], dim=1)
        outs = [m(input_ids=ids, attention_mask=mask, position_ids=position[:, None] + torch.arange(span),
                  cache=o.cache, use_cache=True) for m, o in zip((hf, plain), outs)]
        assert close(outs[0].logits, outs[1].logits)
        position += span


@torch.no_grad()
def test_a_left_padded_batch_of_names_matches(pair):
    """model/text_classifier.py's batch: left padding masked, positions from each text's first token."""
    hf, plain, _, tokens = pair
    ids = [tokens(t)["input_ids"] for t in TEXTS]
    width = max(map(len, ids))
    mask = torch.tensor([[0] * (width - len(i)) + [1] * len(i) for i in ids])
    padded = torch.tensor([[0] * (width - len(i)) + i for i in ids])
    positions = (mask.cumsum(dim=1) - 1).clamp(min=0)
    a, b = (m(input_ids=padded, attention_mask=mask, position_ids=positions, output_hidden_states=True).hidden_states[-1]
            for m in (hf, plain))
    assert close(a[mask.bool()], b[mask.bool()])


def test_the_tokenizer_reads_and_writes_the_same_tokens(pair):
    _, _, hf_tokens, tokens = pair
    for text in TEXTS:
        for special in (True, False):
            assert tokens(text, add_special_tokens=special)["input_ids"] == hf_tokens(text, add_special_tokens=special)["input_ids"]
        ids = tokens(text)["input_ids"]
        assert tokens.decode(ids) == hf_tokens.decode(ids) == text
    assert torch.equal(tokens(TEXTS[0], return_tensors="pt")["input_ids"], hf_tokens(TEXTS[0], return_tensors="pt")["input_ids"])
    assert len(tokens) == len(hf_tokens) and tokens.eos_token_id == hf_tokens.eos_token_id
    assert tokens.convert_tokens_to_ids("<|im_end|>") == hf_tokens.convert_tokens_to_ids("<|im_end|>")
    assert tokens.convert_ids_to_tokens(list(range(len(tokens)))) == hf_tokens.convert_ids_to_tokens(list(range(len(hf_tokens))))


def test_learners_share_one_copy_of_the_weights_and_keep_their_own_adapters():
    first, _ = load_backbone(inference=True)
    second, _ = load_backbone(inference=True)
    assert first.lm_head.weight.data_ptr() == second.model.embed_tokens.weight.data_ptr()  # tied, and shared
    assert first.model.layers[3].mlp.up_proj.weight.data_ptr() == second.model.layers[3].mlp.up_proj.weight.data_ptr()
    adapted = add_lora(first, 4, 8, 0.0, ["q_proj"])
    assert any("lora_A" in k for k in adapted.state_dict()) and not any("lora_" in k for k in second.state_dict())
    with pytest.raises(ValueError, match="training runs on transformers"):
        second(input_ids=torch.tensor([[1, 2]]), labels=torch.tensor([[1, 2]]))


def test_a_balance_with_the_alm_never_imports_transformers_or_peft(pair, demo_session_dir):
    """The shipped ALM, its advice writer and the name reader, loaded and run in a fresh process (once the cached
    backbone exists: ``pair`` loads it; on a machine without it, the first load dequantises with transformers)."""
    code = ("import sys\n"
            "from anchormix.model.alm.planner import ALMBalancer\n"
            "from anchormix.model.advice.writer import shared_writer\n"
            "from anchormix.model.names.role_reader import RoleReader\n"
            "from anchormix.tools import ToolContext, load_session\n"
            f"ctx = ToolContext.of(load_session({str(demo_session_dir)!r}))\n"
            "assert ALMBalancer().gains(ctx)\n"
            "shared_writer()\n"
            "assert RoleReader.load().read_names(['Kick In'])[0].role == 'kick'\n"
            "print(sorted(m for m in ('transformers', 'peft') if m in sys.modules))\n")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert done.returncode == 0, done.stderr[-2000:]
    assert done.stdout.strip().splitlines()[-1] == "[]"
