"""The audio-language model: audio encoder -> soft tokens -> SmolLM2 (+LoRA) -> gain head.

Per stem, a log-mel excerpt ``(n_mels, frames)`` at the stem's *current* level
goes through a small conv + attention-pooling encoder into ``audio_tokens``
soft tokens, projected into the LLM's embedding space (576 for SmolLM2-135M).
The prompt (its text is model/prompt.py's) has one line per stem followed by
that stem's audio tokens. The gain head reads
the last hidden states at the stem's audio tokens and predicts where the stem
should sit against the anchor (LU); the move is that minus the measured level,
so the network never has to do the subtraction the meter already did.

Two switches make the model genre-aware and give it a listener (both off in
older checkpoints, whose configs lack them): ``genre_in_prompt`` names the
session's genre in the prompt, and ``listener`` adds a direct audio path, a
small MLP over the stem's and the anchor's pooled audio embeddings, their roles,
the genre and the measured level, whose estimate the head over the LLM's hidden
states corrects. The listener and the encoder are pre-trained together on many
cheap draws before the LLM joins (model/alm/train.py, ``listener_steps``).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, fields
from typing import Callable

import torch
from torch import nn

from anchormix.tools.conventions import GENRES, ROLES

from anchormix.model.alm.call_head import CALLS, CallHead, call_inputs, masking_target, proposal_numbers
from anchormix.model.prompt import END_OF_TURN, StemPrompt, call_text, plan_suffix, prompt_prefix, stem_line

__all__ = ["ALMConfig", "AudioEncoder", "Listener", "ALM", "ROLE_VOCAB", "GENRE_VOCAB"]


@dataclass
class ALMConfig:
    """Model hyper-parameters (unknown keys are an error, see :meth:`from_dict`)."""

    n_mels: int = 64  # log-mel bands of the features (model/features.py)
    frames: int = 128  # mel frames per stem fed to the encoder (~6 s at 22.05 kHz)
    audio_tokens: int = 2  # K soft tokens per stem
    encoder_dim: int = 128  # width of the audio encoder
    lora_r: int = 8  # LoRA rank on the attention projections
    lora_alpha: int = 16
    lora_dropout: float = 0.05
    use_audio: bool = True  # ablation: False drops the audio tokens and the listener's audio (names + measurements only)
    mark_anchor: bool = True  # ablation: False hides which stem is the anchor
    plans: bool = False  # trained on oracle planning states: the LM chooses the planner's tool calls
    genre_in_prompt: bool = False  # the prompt names the session's genre ("unknown" when nobody said)
    listener: bool = False  # a direct audio path whose estimate the hidden-state head corrects (see above)
    level_blind: bool = False  # ablation: each stem's excerpt level is subtracted before the encoder (shape only)
    call_head: bool = False  # the planner's call comes from a classifier (model/alm/call_head.py) ...
    call_inputs: str = "both"  # ... over the LM's state and the proposal's numbers, or one of them ("state", "numbers")

    @classmethod
    def from_dict(cls, data: dict) -> "ALMConfig":
        known = {f.name for f in fields(cls)}
        unknown = sorted(set(data) - known)
        if unknown:
            raise ValueError(f"unknown model config keys {unknown}; known: {sorted(known)}")
        return cls(**data)

    def to_dict(self) -> dict:
        return asdict(self)


class AudioEncoder(nn.Module):
    """``(S, n_mels, T)`` dB -> ``(S, K, encoder_dim)``: strided convs, then K learned queries attend over time."""

    def __init__(self, cfg: ALMConfig) -> None:
        super().__init__()
        d = cfg.encoder_dim
        self.convs = nn.Sequential(
            nn.Conv1d(cfg.n_mels, d, 5, stride=2, padding=2), nn.GELU(),
            nn.Conv1d(d, d, 5, stride=2, padding=2), nn.GELU(),
            nn.Conv1d(d, d, 3, stride=2, padding=1), nn.GELU(),
        )
        self.queries = nn.Parameter(torch.randn(cfg.audio_tokens, d) * 0.02)
        self.attend = nn.MultiheadAttention(d, num_heads=4, batch_first=True)
        self.norm = nn.LayerNorm(d)
        self.level_blind = cfg.level_blind

    def forward(self, mel: torch.Tensor) -> torch.Tensor:
        if self.level_blind:  # the ablation: every stem at the same excerpt level (silence stays quieter)
            level = 10.0 * torch.log10(torch.pow(10.0, mel / 10.0).mean(dim=(1, 2), keepdim=True) + 1e-20)
            mel = mel - level.clamp(min=-100.0) - 30.0
        # Fixed affine scaling keeps absolute level audible: -60 dB -> 0, every 20 dB -> 1.
        x = self.convs((mel + 60.0) / 20.0)  # (S, d, T/8)
        x = x.transpose(1, 2)  # (S, T/8, d)
        q = self.queries.unsqueeze(0).expand(x.shape[0], -1, -1)  # (S, K, d)
        pooled, _ = self.attend(q, x, x)
        return self.norm(pooled + q)  # (S, K, d)


# Fixed vocabularies of the listener's embeddings (anything else reads as "other" / "unknown"); their order is
# part of the shipped weights.
ROLE_VOCAB = ROLES
GENRE_VOCAB = ("unknown",) + GENRES


class Listener(nn.Module):
    """Per stem: pooled audio embedding of the stem and of the anchor, both roles, the genre and the measured
    LU against the anchor -> where the stem should sit against the anchor (LU)."""

    def __init__(self, cfg: ALMConfig) -> None:
        super().__init__()
        d = cfg.encoder_dim
        self.role = nn.Embedding(len(ROLE_VOCAB), 16)
        self.genre = nn.Embedding(len(GENRE_VOCAB), 8)
        self.mlp = nn.Sequential(nn.Linear(2 * d + 2 * 16 + 8 + 1, 256), nn.GELU(), nn.Linear(256, 256), nn.GELU(),
                                 nn.Linear(256, 1))

    def forward(self, audio: torch.Tensor, stems: list["StemPrompt"], genre: str) -> torch.Tensor:
        """``audio`` ``(S, K, d)`` from the encoder -> ``(S,)``."""
        pooled = audio.mean(dim=1)
        anchor = next((k for k, s in enumerate(stems) if s.is_anchor), 0)
        roles = torch.tensor([ROLE_VOCAB.index(s.role) if s.role in ROLE_VOCAB else ROLE_VOCAB.index("other")
                              for s in stems])
        g = torch.tensor([GENRE_VOCAB.index(genre) if genre in GENRE_VOCAB else 0] * len(stems))
        measured = torch.tensor([[s.lu_vs_anchor / 10.0] for s in stems], dtype=pooled.dtype)
        x = torch.cat([pooled, pooled[anchor].expand_as(pooled), self.role(roles), self.role(roles[anchor]).expand(
            len(stems), -1), self.genre(g), measured], dim=1)
        return self.mlp(x).squeeze(-1)


class ALM(nn.Module):
    """Encoder + projector + (LoRA-wrapped) causal LM + gain head."""

    def __init__(self, cfg: ALMConfig, llm: nn.Module, tokenizer) -> None:
        super().__init__()
        self.cfg, self.llm, self.tokenizer = cfg, llm, tokenizer
        hidden = llm.get_input_embeddings().weight.shape[1]
        self.encoder = AudioEncoder(cfg)
        self.projector = nn.Linear(cfg.encoder_dim, hidden)
        self.head = nn.Sequential(nn.Linear(hidden, 256), nn.GELU(), nn.Linear(256, 1))
        self.listener = Listener(cfg) if cfg.listener else None
        self.call_head = CallHead(hidden) if cfg.call_head else None
        if self.listener is not None:  # the head starts as "no correction" on top of the pre-trained listener
            nn.init.zeros_(self.head[-1].weight)
            nn.init.zeros_(self.head[-1].bias)
        self._text_cache: dict[str, list[int]] = {}

    # ----- prompt --------------------------------------------------------------------------------
    def _ids(self, text: str) -> list[int]:
        if text not in self._text_cache:
            self._text_cache[text] = self.tokenizer(text, add_special_tokens=False)["input_ids"]
        return self._text_cache[text]

    def layout(self, stems: list[StemPrompt], history: list[str] | None = None,
               proposal: str | None = None, genre: str = "unknown") -> tuple[list[int], list[list[int]]]:
        """Token ids with placeholders (-1) for audio tokens, and each stem's audio-token positions.

        Without ``history`` the prompt asks for the balance (the advice text); with it, a list of the
        calls made so far (possibly empty), it asks for the next tool call (model/draws.py), after
        ``proposal``: the moves its head proposes in this state, as text (model/prompt.py).
        """
        ids = list(self._ids(prompt_prefix(genre if self.cfg.genre_in_prompt else None)))
        positions = []
        for stem in stems:
            ids += self._ids(stem_line(stem, self.cfg.mark_anchor))
            k = self.cfg.audio_tokens if self.cfg.use_audio else 1
            positions.append(list(range(len(ids), len(ids) + k)))
            ids += [-1] * k if self.cfg.use_audio else self._ids(" .")
        if history is not None:
            ids += self._ids(plan_suffix(history, proposal))
        ids += self._ids(END_OF_TURN)
        return ids, positions

    # ----- forward -------------------------------------------------------------------------------
    def embed(self, audio: torch.Tensor | None, ids: list[int]) -> torch.Tensor:
        """Token embeddings ``(1, L, H)`` with the stems' audio tokens (``audio``: the encoder's output) in the
        placeholder (-1) slots."""
        token_ids = torch.tensor([max(i, 0) for i in ids], dtype=torch.long)
        x = self.llm.get_input_embeddings()(token_ids).unsqueeze(0)
        if self.cfg.use_audio:
            tokens = self.projector(audio)  # (S, K, H)
            mask = torch.tensor([i == -1 for i in ids])
            x = x.clone()
            x[0, mask] = tokens.reshape(-1, tokens.shape[-1]).to(x.dtype)
        return x

    def hear(self, mel: torch.Tensor, stems: list[StemPrompt], genre: str) -> tuple[torch.Tensor, torch.Tensor]:
        """The encoder's output ``(S, K, d)`` and the listener's estimate ``(S,)`` (zeros without a listener)."""
        audio = self.encoder(mel)
        return audio, self.listener_estimate(audio, stems, genre)

    def listener_estimate(self, audio: torch.Tensor, stems: list[StemPrompt], genre: str) -> torch.Tensor:
        """The listener's estimate ``(S,)`` from the encoder's output (zeros without a listener; the audio
        withheld from it in the no-audio ablation)."""
        if self.listener is None:
            return torch.zeros(len(stems))
        return self.listener(audio if self.cfg.use_audio else torch.zeros_like(audio), stems, genre)

    def forward(self, mel: torch.Tensor, stems: list[StemPrompt], target_ids: list[int] | None = None,
                history: list[str] | None = None, proposal: str | None = None, genre: str = "unknown",
                listened: torch.Tensor | None = None):
        """Predicted LU against the anchor per stem ``(S,)``, and the LM loss on ``target_ids`` (or None).

        mel: ``(S, n_mels, frames)`` at the stems' current levels; ``history``: see :meth:`layout`;
        ``listened``: the listener's estimate to correct (default: its estimate from ``mel``; the planner gives
        one combined over several windows of the session).
        """
        ids, positions = self.layout(stems, history, proposal, genre)
        prompt_len = len(ids)
        if target_ids:
            ids = ids + list(target_ids)
        audio, heard = self.hear(mel, stems, genre)
        listened = heard if listened is None else listened
        x = self.embed(audio, ids)
        labels = None
        if target_ids:
            labels = torch.full((1, len(ids)), -100, dtype=torch.long)
            labels[0, prompt_len:] = torch.tensor(target_ids)
        out = self.llm(inputs_embeds=x, labels=labels, output_hidden_states=True)
        return self._head(out, positions) + listened, (out.loss if target_ids else None)

    def _head(self, out, positions: list[list[int]]) -> torch.Tensor:
        """The gain head over each stem's audio-token hidden states (last layer, mean over its K tokens): ``(S,)``."""
        hidden = out.hidden_states[-1][0]  # (L, H)
        return self.head(torch.stack([hidden[p].mean(dim=0) for p in positions])).squeeze(-1)

    @torch.no_grad()
    def generate(self, mel: torch.Tensor, stems: list[StemPrompt], max_new_tokens: int = 64,
                 on_token: Callable[[str], None] | None = None, genre: str = "unknown") -> str:
        """Greedy advice text after the prompt (KV-cached), streamed piece by piece to ``on_token``."""
        ids, _ = self.layout(stems, genre=genre)
        out = self.llm(inputs_embeds=self.embed(self.encoder(mel), ids), use_cache=True, logits_to_keep=1)
        return self._decode(out, max_new_tokens, on_token)

    @torch.no_grad()
    def plan_step(self, mel: torch.Tensor, stems: list[StemPrompt], history: list[str],
                  propose: Callable[[torch.Tensor], str], max_new_tokens: int = 40,
                  genre: str = "unknown", listened: torch.Tensor | None = None) -> tuple[torch.Tensor, str]:
        """One planning step: the head's LU per stem, then the next tool call: the call head's choice, or (a
        checkpoint without one) the JSON the LM writes, greedily.

        The stems' part of the prompt is run once: its hidden states feed the head, ``propose`` turns the
        head's numbers into the proposal text, and the planning suffix continues from the same KV cache (not
        run when the call head reads the proposal's numbers alone, as the shipped one does).
        ``listened``: as in :meth:`forward`.
        """
        ids, positions = self.layout(stems, genre=genre)
        end = len(self._ids(END_OF_TURN))
        ids = ids[:-end]  # the stems' part, without the balance prompt's end of turn
        audio, heard = self.hear(mel, stems, genre)
        listened = heard if listened is None else listened
        out = self.llm(inputs_embeds=self.embed(audio, ids), use_cache=True, output_hidden_states=True, logits_to_keep=1)
        predicted = self._head(out, positions) + listened
        proposal = propose(predicted)
        if self.calls_from_numbers:  # the LM's state unread: no suffix pass
            return predicted, self.choose_call(proposal, history)
        suffix = self._ids(plan_suffix(history, proposal)) + self._ids(END_OF_TURN)
        embedded = self.llm.get_input_embeddings()(torch.tensor([suffix]))
        out = self.llm(inputs_embeds=embedded, cache=out.cache, use_cache=True, logits_to_keep=1,
                       output_hidden_states=self.call_head is not None)
        if self.call_head is None:
            return predicted, self._decode(out, max_new_tokens, None)
        return predicted, self.choose_call(proposal, history, out.hidden_states[-1][0, -1])

    @property
    def calls_from_numbers(self) -> bool:
        """Whether the call head reads the proposal's numbers alone (the shipped one), not the LM's state."""
        return self.call_head is not None and self.cfg.call_inputs == "numbers"

    @torch.no_grad()
    def choose_call(self, proposal: str, history: list[str], state: torch.Tensor | None = None) -> str:
        """The call head's choice as a JSON call, from the proposal's numbers and (``state``) the LM's hidden state
        at the end of the planning prompt, zeros where the head does not read it."""
        if state is None:
            state = torch.zeros(self.llm.get_input_embeddings().embedding_dim)
        inputs = call_inputs(state, proposal_numbers(proposal, history), self.cfg.call_inputs)
        call = CALLS[int(self.call_head(*inputs).argmax())]
        return call_text(call, masking_target(proposal) if call == "measure_masking" else None)

    def _decode(self, out, max_new_tokens: int, on_token: Callable[[str], None] | None) -> str:
        """Greedy continuation of a prompt pass ``out`` until the end of the turn."""
        end = self.tokenizer.convert_tokens_to_ids("<|im_end|>")
        generated: list[int] = []
        text = ""
        for _ in range(max_new_tokens):
            token = int(out.logits[0, -1].argmax())
            if token in (end, self.tokenizer.eos_token_id):
                break
            generated.append(token)
            full = self.tokenizer.decode(generated)
            if on_token and len(full) > len(text):
                on_token(full[len(text):])
            text = full
            step = self.llm.get_input_embeddings()(torch.tensor([[token]]))
            out = self.llm(inputs_embeds=step, cache=out.cache, use_cache=True)
        return text.strip()

    def trainable_state(self) -> dict[str, torch.Tensor]:
        """What ships: LoRA weights, encoder, projector and head (the base LLM stays the GGUF's)."""
        state = {f"encoder.{k}": v for k, v in self.encoder.state_dict().items()}
        state.update({f"projector.{k}": v for k, v in self.projector.state_dict().items()})
        state.update({f"head.{k}": v for k, v in self.head.state_dict().items()})
        for part in ("listener", "call_head"):
            if getattr(self, part) is not None:
                state.update({f"{part}.{k}": v for k, v in getattr(self, part).state_dict().items()})
        state.update({f"llm.{k}": v for k, v in self.llm.state_dict().items() if "lora_" in k})
        return {k: v.detach().contiguous() for k, v in state.items()}
