"""How advice is phrased: a move's opening, and the reference grammar the advice writer learned to speak.

:func:`opening` is the sentence's forced start, the move ("Raise the vocals +6.8 dB
(±1.5 dB) against the bass"). :func:`reference_segments` says a move's facts as an
engineer would, in a wording drawn at random per sentence; which facts it says is
decided by the facts (a masking check that found the stem buried, a corpus mean
the move goes towards, a flag). The writer learns from these sentences
(model/advice/sentences.py) and drafts from them when it decodes (model/advice/writer.py).
"""

from __future__ import annotations

import numpy as np

from anchormix.agent.grounding import StemFacts

__all__ = ["Segments", "RAISE", "LOWER", "opening", "reference_segments"]

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


def reference_segments(facts: StemFacts, rng: np.random.Generator) -> Segments:
    """One sentence of advice saying ``facts`` (literals marked), its wording drawn with ``rng``."""
    lit = facts.literals

    def pick(*options: str) -> str:
        return options[int(rng.integers(len(options)))]

    out = opening(facts, pick(*(RAISE if facts.move_db > 0 else LOWER)))
    reasons: list[Segments] = []
    if facts.masking:
        maskers = [lit[k] for k in sorted(lit) if k.startswith("masker")]
        who: Segments = [(" the rest of the mix", False)] if not maskers else \
            [(" the", False), (" " + maskers[0], True)] + ([(" and the", False), (" " + maskers[1], True)] if len(maskers) > 1 else [])
        verb_mask = " masks" if len(maskers) == 1 else " mask" if maskers else " masks"
        reasons.append(who + [(verb_mask + " it", False), (" " + lit["share"], True), (pick(" of the time at", " of the time around"), False),
                              (" " + lit["range"], True)])
    if "typical" in lit:
        reasons.append([(pick(" a " + facts.role + " part sits", " the corpus puts a " + facts.role + " part at"), False),
                        (" " + lit["typical"], True), (" against a bass on average", False)])
    if "before" in lit:
        reasons.append([(pick(" it sat at", " it was", " it started at"), False), (" " + lit["before"], True)])
    order = list(rng.permutation(len(reasons))) if rng.random() < 0.3 else list(range(len(reasons)))
    for k, i in enumerate(order):
        out.append((":" if k == 0 else pick(";", ", and", ";"), False))
        out += reasons[i]
    if facts.flag:
        out.append(("; that is beyond what the corpus has for it, so check it by ear", False))
    out.append((".", False))
    return out
