"""SmolLM2's forward pass in plain torch: the backbone at inference without transformers or peft (issue 25).

Importing transformers and peft costs seconds and memory before a single weight
is read (its model loader alone pulls in sympy, scipy.optimize and torch._dynamo;
``benchmarks/alm.py`` measures the difference: ~4.5 s of load, ~140 MB of peak).
A balance only runs the backbone forward, so it runs this instead: the same
Llama decoder (RMSNorm, rotary positions, grouped-query attention, SiLU MLP,
tied embeddings) over the same float32 weights, with PEFT's LoRA
(``W x + B A x · alpha / r``) on the projections a learner names, its modules
named as PEFT names them so that a checkpoint's adapter weights load unchanged.
Attention goes through ``torch``'s SDPA with the masks and kernel choices
transformers makes for the same call (no mask where causality alone decides,
the key/value heads shared in the kernel or packed for one query), so both give
the same logits to float rounding and the same greedy words
(tests/model/test_llama.py compares them). Training stays on transformers + peft.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import torch
import torch.nn.functional as F
from torch import nn

__all__ = ["LlamaConfig", "KVCache", "LlamaOutput", "PlainLlama", "with_lora"]


@dataclass
class LlamaConfig:
    """The Llama fields the forward needs, as a Hugging Face ``config.json`` spells them."""

    vocab_size: int
    hidden_size: int
    intermediate_size: int
    num_hidden_layers: int
    num_attention_heads: int
    num_key_value_heads: int
    rms_norm_eps: float
    rope_theta: float
    head_dim: int

    @classmethod
    def from_json(cls, config: dict) -> "LlamaConfig":
        if config.get("model_type") != "llama" or config.get("hidden_act", "silu") != "silu":
            raise ValueError(f"not a SiLU Llama config ({config.get('model_type')}): load it with transformers")
        rope = config.get("rope_parameters") or {"rope_theta": config.get("rope_theta", 10000.0), "rope_type": "default"}
        if rope.get("rope_type", "default") != "default":
            raise ValueError(f"rope type {rope['rope_type']!r}: load it with transformers")
        heads = config["num_attention_heads"]
        return cls(config["vocab_size"], config["hidden_size"], config["intermediate_size"], config["num_hidden_layers"],
                   heads, config.get("num_key_value_heads", heads), config["rms_norm_eps"], float(rope["rope_theta"]),
                   config.get("head_dim") or config["hidden_size"] // heads)


@dataclass
class KVCache:
    """Each layer's keys and values so far, ``(batch, kv_heads, positions, head_dim)``."""

    keys: list = field(default_factory=list)
    values: list = field(default_factory=list)

    def get_seq_length(self) -> int:
        return self.keys[0].shape[-2] if self.keys else 0

    def update(self, layer: int, k: torch.Tensor, v: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        if layer == len(self.keys):
            self.keys.append(k)
            self.values.append(v)
        else:
            self.keys[layer] = torch.cat([self.keys[layer], k], dim=-2)
            self.values[layer] = torch.cat([self.values[layer], v], dim=-2)
        return self.keys[layer], self.values[layer]

    def batch_select_indices(self, rows: torch.Tensor) -> None:
        """Keep only the batch rows ``rows`` (a batch whose finished rows leave it; transformers' name for it)."""
        self.keys = [k[rows] for k in self.keys]
        self.values = [v[rows] for v in self.values]

    def batch_repeat_interleave(self, repeats: int) -> None:
        """Every row ``repeats`` times (a shared prompt start, then a batch of continuations)."""
        self.keys = [k.repeat_interleave(repeats, dim=0) for k in self.keys]
        self.values = [v.repeat_interleave(repeats, dim=0) for v in self.values]


@dataclass
class LlamaOutput:
    logits: torch.Tensor
    cache: KVCache | None = None
    hidden_states: tuple | None = None


class RMSNorm(nn.Module):
    def __init__(self, weight: torch.Tensor, eps: float) -> None:
        super().__init__()
        self.weight, self.eps = nn.Parameter(weight, requires_grad=False), eps

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.weight * (x * torch.rsqrt(x.pow(2).mean(-1, keepdim=True) + self.eps))


class FrozenLinear(nn.Linear):
    """A bias-free ``nn.Linear`` over a given weight, built without initialising one first (an init on the meta
    device imports torch._dynamo: 1.8 s of a load)."""

    def __init__(self, weight: torch.Tensor) -> None:  # not nn.Linear.__init__, which would allocate and fill
        nn.Module.__init__(self)
        self.out_features, self.in_features = weight.shape
        self.weight = nn.Parameter(weight, requires_grad=False)
        self.bias = None


class LoraLinear(nn.Module):
    """A frozen projection plus PEFT's LoRA, named as PEFT names it (``base_layer``, ``lora_A.default``, ...)."""

    def __init__(self, base: nn.Linear, r: int, alpha: float) -> None:
        super().__init__()
        self.base_layer, self.scaling = base, alpha / r
        self.lora_A = nn.ModuleDict({"default": nn.Linear(base.in_features, r, bias=False)})
        self.lora_B = nn.ModuleDict({"default": nn.Linear(r, base.out_features, bias=False)})
        nn.init.zeros_(self.lora_B["default"].weight)  # as PEFT starts it: no change until trained or loaded

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.base_layer(x) + self.lora_B["default"](self.lora_A["default"](x)) * self.scaling


class Attention(nn.Module):
    def __init__(self, weights: dict, prefix: str, cfg: LlamaConfig) -> None:
        super().__init__()
        for name in ("q_proj", "k_proj", "v_proj", "o_proj"):
            setattr(self, name, FrozenLinear(weights[f"{prefix}.{name}.weight"]))
        self.cfg, self.groups = cfg, cfg.num_attention_heads // cfg.num_key_value_heads

    def forward(self, x, cos, sin, mask, layer: int, cache: KVCache | None) -> torch.Tensor:
        batch, length, _ = x.shape
        shape = (batch, length, -1, self.cfg.head_dim)
        q, k, v = (proj(x).view(shape).transpose(1, 2) for proj in (self.q_proj, self.k_proj, self.v_proj))
        q, k = q * cos + _rotate_half(q) * sin, k * cos + _rotate_half(k) * sin
        if cache is not None:
            k, v = cache.update(layer, k, v)
        out = _attend(q, k, v, mask, self.groups, self.cfg.head_dim ** -0.5)
        return self.o_proj(out.transpose(1, 2).reshape(batch, length, -1))


def _rotate_half(x: torch.Tensor) -> torch.Tensor:
    half = x.shape[-1] // 2
    return torch.cat((-x[..., half:], x[..., :half]), dim=-1)


def _attend(q, k, v, mask, groups: int, scale: float) -> torch.Tensor:
    """SDPA as transformers calls it: with no mask the kernel shares the key/value heads (causal for a prompt);
    with a mask, one query's heads are packed onto their key/value head, several queries get the heads repeated."""
    length = q.shape[2]
    if mask is None:
        return F.scaled_dot_product_attention(q, k, v, scale=scale, is_causal=length > 1, enable_gqa=True)
    if length == 1:
        batch, heads, _, dim = q.shape
        out = F.scaled_dot_product_attention(q.reshape(batch, heads // groups, groups, dim), k, v, attn_mask=mask,
                                             scale=scale)
        return out.reshape(batch, heads, 1, dim)
    k, v = (t.repeat_interleave(groups, dim=1) for t in (k, v))
    return F.scaled_dot_product_attention(q, k, v, attn_mask=mask, scale=scale)


class DecoderLayer(nn.Module):
    def __init__(self, weights: dict, i: int, cfg: LlamaConfig) -> None:
        super().__init__()
        prefix = f"model.layers.{i}"
        self.self_attn = Attention(weights, f"{prefix}.self_attn", cfg)
        self.mlp = nn.Module()
        for name in ("gate_proj", "up_proj", "down_proj"):
            setattr(self.mlp, name, FrozenLinear(weights[f"{prefix}.mlp.{name}.weight"]))
        self.input_layernorm = RMSNorm(weights[f"{prefix}.input_layernorm.weight"], cfg.rms_norm_eps)
        self.post_attention_layernorm = RMSNorm(weights[f"{prefix}.post_attention_layernorm.weight"], cfg.rms_norm_eps)
        self.index = i

    def forward(self, x, cos, sin, mask, cache) -> torch.Tensor:
        x = x + self.self_attn(self.input_layernorm(x), cos, sin, mask, self.index, cache)
        h = self.post_attention_layernorm(x)
        return x + self.mlp.down_proj(F.silu(self.mlp.gate_proj(h)) * self.mlp.up_proj(h))


class Decoder(nn.Module):
    """``model.*`` of a Hugging Face Llama checkpoint: embeddings, layers, final norm."""

    def __init__(self, weights: dict, cfg: LlamaConfig) -> None:
        super().__init__()
        embed = weights.get("model.embed_tokens.weight", weights.get("lm_head.weight"))  # tied: either name
        self.embed_tokens = nn.Embedding(cfg.vocab_size, cfg.hidden_size, _weight=embed, _freeze=True)
        self.layers = nn.ModuleList(DecoderLayer(weights, i, cfg) for i in range(cfg.num_hidden_layers))
        self.norm = RMSNorm(weights["model.norm.weight"], cfg.rms_norm_eps)
        dim = cfg.head_dim
        self.inv_freq = 1.0 / (cfg.rope_theta ** (torch.arange(0, dim, 2, dtype=torch.float) / dim))

    def forward(self, x: torch.Tensor, positions: torch.Tensor, mask, cache, keep_all: bool) -> list[torch.Tensor]:
        """Every layer's output (the last normed), or the normed last alone."""
        freqs = positions[..., None].float() * self.inv_freq
        angles = torch.cat((freqs, freqs), dim=-1)
        cos, sin = angles.cos().unsqueeze(1), angles.sin().unsqueeze(1)
        states = [x]
        for layer in self.layers:
            x = layer(x, cos, sin, mask, cache)
            if keep_all:
                states.append(x)
        states[-1] = self.norm(x)
        return states


class PlainLlama(nn.Module):
    """A Llama causal LM over shared float32 weights (a Hugging Face state dict), tied embeddings, inference only."""

    def __init__(self, weights: dict[str, torch.Tensor], cfg: LlamaConfig) -> None:
        super().__init__()
        self.model, self.cfg = Decoder(weights, cfg), cfg
        self.lm_head = FrozenLinear(self.model.embed_tokens.weight)  # tied embeddings

    def get_input_embeddings(self) -> nn.Embedding:
        return self.model.embed_tokens

    @torch.no_grad()
    def forward(self, input_ids=None, attention_mask=None, position_ids=None, cache: KVCache | None = None,
                inputs_embeds=None, use_cache: bool = False, output_hidden_states: bool = False,
                logits_to_keep: int = 0, labels=None) -> LlamaOutput:
        if labels is not None:
            raise ValueError("PlainLlama is the backbone at inference; training runs on transformers + peft")
        x = self.model.embed_tokens(input_ids) if inputs_embeds is None else inputs_embeds
        if use_cache and cache is None:
            cache = KVCache()
        past = cache.get_seq_length() if cache is not None else 0
        batch, length = x.shape[:2]
        if position_ids is None:
            position_ids = torch.arange(past, past + length).unsqueeze(0)
        mask = _causal_mask(attention_mask, batch, length, past)
        states = self.model(x, position_ids, mask, cache if use_cache else None, output_hidden_states)
        last = states[-1] if not logits_to_keep else states[-1][:, -logits_to_keep:]
        return LlamaOutput(self.lm_head(last), cache if use_cache else None,
                           tuple(states) if output_hidden_states else None)


def _causal_mask(padding: torch.Tensor | None, batch: int, length: int, past: int) -> torch.Tensor | None:
    """``(batch, 1, length, past + length)``, True where a query may look; None where causality alone decides (no
    padding, and one query or no past), as transformers leaves it to SDPA's ``is_causal``."""
    if padding is not None and bool(padding.all()):
        padding = None
    if padding is None and (length == 1 or past == 0):
        return None
    causal = torch.arange(past + length)[None, :] <= (past + torch.arange(length))[:, None]
    if padding is None:
        return causal[None, None].expand(batch, 1, -1, -1)
    return causal[None, None] & padding[:, -(past + length):].bool()[:, None, None, :]


class LoraModel(nn.Module):
    """A :class:`PlainLlama` with LoRA adapters, named as ``peft.get_peft_model`` names them (``base_model.model.*``),
    so ``state_dict()`` and ``load_state_dict(strict=False)`` read and write a PEFT checkpoint's adapter keys."""

    def __init__(self, llm: PlainLlama) -> None:
        super().__init__()
        self.base_model = nn.Module()
        self.base_model.model = llm

    def get_input_embeddings(self) -> nn.Embedding:
        return self.base_model.model.get_input_embeddings()

    def forward(self, *args, **kwargs) -> LlamaOutput:
        return self.base_model.model(*args, **kwargs)


def with_lora(llm: PlainLlama, r: int, alpha: float, targets: list[str]) -> LoraModel:
    """``llm`` (the caller's own module tree) with LoRA on every attention projection in ``targets``."""
    for layer in llm.model.layers:
        for name in targets:
            setattr(layer.self_attn, name, LoraLinear(getattr(layer.self_attn, name), r, alpha))
    return LoraModel(llm)
