"""The advice writer's constrained decoding: the figures it writes are the facts', the move exactly."""

import re

import numpy as np
import pytest
import torch

from anchormix.agent.grounding import StemFacts, check_sentence
from anchormix.model.advice.writer import AdviceWriter
from anchormix.model.advice.sentences import reference_segments, train_writer

MASKING = {"masked_share": 0.42, "worst_range": "500 Hz-1.25 kHz", "maskers": [{"stem": "gtr 2", "share": 0.3}]}


@pytest.fixture(scope="module")
def writer():
    return AdviceWriter(checkpoint=None)  # fresh LoRA: the base LLM's wording, the decoder's constraints


def facts():
    return [StemFacts("lead vox", "vocals", "bass", 6.8, -5.1, 1.5, MASKING, 1.7),
            StemFacts("pad 3", "pad", "bass", -11.3, 2.0, None, None, None, "beyond the corpus"),
            StemFacts("kick", "kick", "bass", 1.0, -1.4)]


def test_the_first_signed_figure_is_the_move_and_every_figure_is_a_facts(writer):
    written = writer.write(facts(), max_new_tokens=40)
    assert len(written) == 3
    for text, f in zip(written, facts()):
        moves = re.findall(r"[+-]\d+\.\d dB", text)
        assert moves and moves[0] == f"{f.move_db:+.1f} dB", text  # parsed back: the head's number, exactly
        literals = f.literals.values()
        for figure in re.findall(r"\d+(?:\.\d+)?", text):  # no figure that is not in one of its literals
            assert any(figure in lit for lit in literals), (figure, text)


def test_one_training_step_on_reference_sentences_lowers_the_loss(writer):
    rng = np.random.default_rng(0)
    examples = [(f, reference_segments(f, rng)) for f in facts()]
    with torch.no_grad():
        before = float(writer.loss(examples))
    trained, summary = train_writer(examples, steps=3, batch=3, lr=3e-3, writer=writer, log=lambda _: None)
    with torch.no_grad():
        assert float(trained.loss(examples)) < before and summary["steps"] == 3
    vox = facts()[0]
    text = trained.write([vox], max_new_tokens=60)[0]
    assert check_sentence(text, vox, ["lead vox", "gtr 2", "bass"]).number_ok, text


def test_reference_sentences_say_only_what_the_facts_back():
    rng = np.random.default_rng(1)
    for f in facts():
        for _ in range(5):
            text = "".join(t for t, _ in reference_segments(f, rng))
            check = check_sentence(text, f, ["lead vox", "gtr 2", "pad 3", "kick", "bass"])
            assert check.number_ok and check.grounded == check.claims, (text, check.problems)
            assert check.explained == (f.masking is not None or f.typical_lu is not None), text


def test_drafted_decoding_writes_what_token_by_token_decoding_writes_in_fewer_passes():
    shipped = AdviceWriter()  # the trained LoRA: it mostly says what its phrasebook says, so drafts are kept
    passes = []
    forward = shipped.llm.forward
    shipped.llm.forward = lambda *a, **k: passes.append(k["input_ids"].shape) or forward(*a, **k)
    one_by_one = shipped.write(facts(), draft_tokens=0)
    stepped = len(passes)
    passes.clear()
    drafted = shipped.write(facts())
    assert drafted == one_by_one
    assert len(passes) < stepped / 2, (len(passes), stepped)
    assert sum(s[1] - 1 for s in passes[2:]) > 0  # drafted tokens were fed (the first two passes: the prompts)


def test_each_sentence_is_what_its_facts_alone_write_when_finished_rows_leave_the_batch():
    shipped = AdviceWriter()
    many = facts() + [StemFacts(f"Audio {k:02d}", "keys", "bass", 0.5 * k - 3, -4.0 - k) for k in range(9, 14)]
    assert shipped.write(many) == [shipped.write([f])[0] for f in many]


def test_a_sentence_cut_by_the_token_budget_ends_at_its_last_whole_clause():
    from anchormix.model.advice.writer import _finished

    assert _finished(": it sat at -5.1 LU; the corpus puts a vocals part at", False) == ": it sat at -5.1 LU."
    assert _finished(": it sat at -5.1 LU.", True) == ": it sat at -5.1 LU."
    assert _finished(" but then", False) == "."
