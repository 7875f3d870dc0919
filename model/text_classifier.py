"""A short text -> one of a few labels, read by SmolLM2: the intent model's and the name reader's common learner.

The text goes through a chat prompt into the backbone (LoRA adapters on its
attention projections); the mean of the last layer's hidden states over the
text's last tokens feeds a linear head over the labels. Training has two
stages: the head alone on the frozen backbone's features (standardised, then
folded into the head), then adapters and head together, a few shuffled passes.
Every hyper-parameter is a :class:`ClassifierConfig` field (each learner's YAML
in model/conf/ holds its values).
"""

from __future__ import annotations

import json
import random
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import ClassVar

import numpy as np
import torch
from torch import nn

from anchormix.model.backbone import add_lora, load_backbone
from anchormix.model.config import FromYaml, strict_fields
from anchormix.model.weights import load_weights, save_weights

__all__ = ["ClassifierConfig", "TextClassifier", "accuracy", "label_loss", "train_head", "fine_tune"]


@dataclass
class ClassifierConfig(FromYaml):
    """What every LoRA text classifier is tuned by (a learner's config adds its data's own fields)."""

    seed: int = 0
    pool_tokens: int = 12  # the text's last tokens whose hidden states are averaged
    lora_r: int = 4  # LoRA rank on q_proj and v_proj (alpha = 2 r)
    lora_dropout: float = 0.05
    head_epochs: int = 300  # stage 1: the head alone on the frozen backbone's features
    head_lr: float = 1e-2
    lora_epochs: int = 3  # stage 2: adapters and head together
    batch: int = 8
    lora_lr: float = 5e-4
    lora_head_lr: float = 1e-4
    weight_decay: float = 1e-2


class TextClassifier(nn.Module):
    """SmolLM2 with LoRA adapters on its attention projections, mean pooling, and a linear head over ``LABELS``.
    A learner subclasses it with its labels, its prompt (``{text}`` filled in), its config class and what its
    checkpoint's metadata calls the labels."""

    LABELS: ClassVar[tuple[str, ...]] = ()
    PROMPT: ClassVar[str] = "{text}"
    CONFIG: ClassVar[type[ClassifierConfig]] = ClassifierConfig
    LABELS_KEY: ClassVar[str] = "labels"
    MISSING: ClassVar[str] = "no checkpoint"

    def __init__(self, llm=None, tokenizer=None, config: ClassifierConfig | None = None, inference: bool = False) -> None:
        super().__init__()
        self.config = config or self.CONFIG()
        if llm is None:
            llm, tokenizer = load_backbone(inference=inference)
        for p in llm.parameters():
            p.requires_grad_(False)
        r = self.config.lora_r
        self.llm = add_lora(llm, r, 2 * r, self.config.lora_dropout, ["q_proj", "v_proj"]).eval()
        self.tokenizer = tokenizer
        hidden = llm.get_input_embeddings().weight.shape[1]
        self.head = nn.Linear(hidden, len(self.LABELS))

    def logits(self, features: torch.Tensor) -> torch.Tensor:
        return self.head(features)

    def prompt(self, text: str) -> str:
        """What the backbone reads for ``text``."""
        return self.PROMPT.format(text=text.strip()[:500])

    def pooled(self, text: str) -> torch.Tensor:
        """``(hidden,)``: mean of the last hidden states over the text's last (``pool_tokens``) tokens."""
        ids = self.tokenizer(self.prompt(text), return_tensors="pt")["input_ids"]
        hidden = self.llm(input_ids=ids, output_hidden_states=True).hidden_states[-1][0]
        k = self.config.pool_tokens
        return hidden[-k:].mean(dim=0) if hidden.shape[0] > k else hidden.mean(dim=0)

    @torch.no_grad()
    def features(self, texts: list[str], batch: int = 32) -> torch.Tensor:
        """``(N, hidden)`` pooled features, no gradients: :meth:`pooled` of each text. Each distinct text is read
        once, ``batch`` texts a forward in order of length (little padding), padded on the left, the padding masked
        and the positions counted from each text's first token, so each row is its text's own forward to float
        rounding (one forward per name cost 0.25 s on 2 cores; a session's "Audio 09" ... "Audio 48" all read
        "Audio" bare once)."""
        distinct = list(dict.fromkeys(texts))
        ids = [self.tokenizer(self.prompt(t))["input_ids"] for t in distinct]
        order = sorted(range(len(ids)), key=lambda k: len(ids[k]))
        pooled: list[torch.Tensor | None] = [None] * len(ids)
        for first in range(0, len(order), batch):
            rows = [ids[k] for k in order[first : first + batch]]
            width = max(map(len, rows))
            mask = torch.tensor([[0] * (width - len(i)) + [1] * len(i) for i in rows])
            padded = torch.tensor([[0] * (width - len(i)) + i for i in rows])
            positions = (mask.cumsum(dim=1) - 1).clamp(min=0)
            hidden = self.llm(input_ids=padded, attention_mask=mask, position_ids=positions,
                              output_hidden_states=True).hidden_states[-1]
            k = self.config.pool_tokens
            for row, (index, i) in enumerate(zip(order[first : first + batch], rows)):
                pooled[index] = hidden[row, -min(k, len(i)):].mean(dim=0)
        where = {text: k for k, text in enumerate(distinct)}
        return torch.stack([pooled[where[t]] for t in texts])

    @torch.no_grad()
    def probabilities(self, texts: list[str]) -> torch.Tensor:
        """``(N, labels)``: the softmax of each text's logits."""
        return torch.softmax(self.logits(self.features(texts)), dim=1)

    def predict(self, text: str) -> str:
        with torch.no_grad():
            return self.LABELS[int(self.logits(self.features([text])).argmax())]

    def lora_state(self) -> dict[str, torch.Tensor]:
        return {k: v.detach().contiguous() for k, v in self.llm.state_dict().items() if "lora_" in k}

    def save(self, path: Path, meta: dict) -> None:
        state = {**self.head.state_dict(), **{f"llm.{k}": v for k, v in self.lora_state().items()}}
        save_weights(path, state, {self.LABELS_KEY: json.dumps(list(self.LABELS)), "meta": json.dumps(meta),
                                   "config": json.dumps(asdict(self.config))})

    @classmethod
    def load(cls, path: str | Path, llm=None, tokenizer=None):
        """The model saved at ``path`` with the config it was trained with (older checkpoints: the defaults)."""
        state, metadata = load_weights(path, cls.MISSING)
        if json.loads(metadata[cls.LABELS_KEY]) != list(cls.LABELS):
            raise ValueError(f"{path}: trained for other {cls.LABELS_KEY} than {cls.LABELS}; retrain it")
        saved = json.loads(metadata.get("config") or "{}")
        model = cls(llm, tokenizer, strict_fields(cls.CONFIG, saved, str(path)), inference=True)
        model.head.load_state_dict({k: v for k, v in state.items() if not k.startswith("llm.")})
        lora = {k[len("llm."):]: v for k, v in state.items() if k.startswith("llm.")}
        unknown = sorted(set(lora) - set(model.lora_state()))
        if unknown:
            raise ValueError(f"{path}: LoRA weights do not fit the backbone ({unknown[:3]} ...)")
        model.llm.load_state_dict(lora, strict=False)
        model.meta = json.loads(metadata.get("meta") or "{}")
        return model


def accuracy(model: TextClassifier, examples: list[tuple[str, str]]) -> tuple[float, dict[str, str]]:
    """Share read right, and what the model read for each text."""
    with torch.no_grad():
        found = model.logits(model.features([t for t, _ in examples])).argmax(1)
    read = {t: model.LABELS[int(p)] for (t, _), p in zip(examples, found)}
    return sum(read[t] == label for t, label in examples) / len(examples), read


def label_loss(logits: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    """Mean loss over a batch. ``y`` is each text's label index ``(N,)`` (cross-entropy), or ``(N, labels)`` of the
    labels each may be read as: minus the log of the probability the model puts on any of them (a synthesizer
    named "Synth 3" is right as keys, pad or lead; with one label allowed this is the cross-entropy)."""
    if y.dim() == 1:
        return nn.functional.cross_entropy(logits, y)
    allowed = logits.masked_fill(~y.bool(), float("-inf"))
    return (torch.logsumexp(logits, dim=1) - torch.logsumexp(allowed, dim=1)).mean()


def train_head(model: TextClassifier, texts: list[str], y: torch.Tensor, config: ClassifierConfig) -> None:
    """Stage 1: the head alone on the frozen backbone's features (standardised, then folded into the head); ``y``
    as :func:`label_loss` takes it."""
    x = model.features(texts)
    mean, std = x.mean(0), x.std(0) + 1e-5
    optimiser = torch.optim.AdamW(model.head.parameters(), lr=config.head_lr, weight_decay=config.weight_decay)
    for _ in range(config.head_epochs):
        loss = label_loss(model.logits((x - mean) / std), y)
        optimiser.zero_grad()
        loss.backward()
        optimiser.step()
    with torch.no_grad():  # fold the standardisation into the head: inference needs only the raw features
        model.head.bias.sub_((model.head.weight / std) @ mean)
        model.head.weight.div_(std)


def fine_tune(model: TextClassifier, texts: list[str], y: torch.Tensor, config: ClassifierConfig, log) -> None:
    """Stage 2: the LoRA adapters and the head together, ``lora_epochs`` shuffled passes in batches (``y`` as
    :func:`label_loss` takes it)."""
    lora = [p for p in model.llm.parameters() if p.requires_grad]
    optimiser = torch.optim.AdamW([{"params": lora, "lr": config.lora_lr},
                                   {"params": model.head.parameters(), "lr": config.lora_head_lr}],
                                  weight_decay=config.weight_decay)
    rng = random.Random(config.seed)
    model.llm.train()
    for epoch in range(config.lora_epochs):
        order = list(range(len(texts)))
        rng.shuffle(order)
        losses = []
        for start in range(0, len(order), config.batch):
            batch = order[start : start + config.batch]
            logits = model.logits(torch.stack([model.pooled(texts[i]) for i in batch]))
            loss = label_loss(logits, y[batch])
            optimiser.zero_grad()
            loss.backward()
            optimiser.step()
            losses.append(float(loss.detach()))
        log(f"  LoRA epoch {epoch + 1}/{config.lora_epochs}: loss {np.mean(losses):.3f}")
    model.llm.eval()
