"""What advice may say about a move, and the check that it said nothing else.

A finished balance's trace holds, per moved stem, the facts a sentence of advice
can rest on (:class:`StemFacts`): the move applied against the anchor, its 80 %
interval, where the stem sat before, a masking check's share, band range and
maskers, the corpus's mean level for the role against a bass, and a flag. Each
fact has one spelling, its *literal* ("+6.8 dB", "(±1.5 dB)", "65 %",
"2-4 kHz"): the model's writer copies literals in by constrained decoding
(model/advice/writer.py), and :func:`check_sentence` reads them back.

The check (``anchormix eval --advice``): a sentence's first signed dB figure must
be the move applied; every claim it makes must be backed by a fact — a level
claim ("sat -8.2 LU") by where the stem sat, a masking claim by a masking check
of that stem in the trace (its share, its range, and only stems that check named
as maskers), a convention claim ("on average") by the corpus's mean for the role,
and only when the move goes towards it. A move is *explained* when a masking or
convention claim backs it (where the stem sat is context, not a reason).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

__all__ = ["StemFacts", "stem_facts", "SentenceCheck", "check_sentence", "keep_grounded", "advice_checks", "advice_summary", "EXPLAIN_MIN_DB",
           "MASKING_CLAIM_SHARE"]

EXPLAIN_MIN_DB = 1.0  # moves this large get a sentence (and are scored on being explained)
MASKING_CLAIM_SHARE = 0.2  # a masking check this bad is worth saying (agent/planning.masking_reason's bar)
LEVEL_TOLERANCE_LU = 0.15  # a level claim rounds where the stem sat (or lands) to 0.1 LU


@dataclass
class StemFacts:
    """What the trace backs about one stem's move (``None``: the trace has no such fact)."""

    name: str
    role: str
    anchor: str
    move_db: float  # applied, against the anchor
    before_lu: float | None = None  # where it sat against the anchor before the balance
    interval_db: float | None = None  # half-width of the move's 80 % interval
    masking: dict[str, Any] | None = None  # a measure_masking result on it (rest of the mix) that found it buried
    typical_lu: float | None = None  # the corpus's mean for the role against a bass, when that supports the move
    flag: str | None = None  # why the move needs a person's ear

    @property
    def literals(self) -> dict[str, str]:
        """Each fact as the one spelling advice may use."""
        found = {"stem": self.name, "anchor": self.anchor, "move": f"{self.move_db:+.1f} dB"}
        if self.interval_db is not None:
            found["interval"] = f"(±{self.interval_db:.1f} dB)"
        if self.before_lu is not None:
            found["before"] = f"{self.before_lu:+.1f} LU"
        if self.masking:
            found["share"] = f"{round(100 * self.masking['masked_share'])} %"
            found["range"] = self.masking["worst_range"]
            for k, masker in enumerate(self.masking.get("maskers") or []):
                found[f"masker{k + 1}"] = masker["stem"]
        if self.typical_lu is not None:
            found["typical"] = f"{self.typical_lu:+.1f} LU"
        return found


def stem_facts(state: dict[str, Any], roles: dict[str, str], ranges: dict | None = None) -> list[StemFacts]:
    """The facts of every move of at least :data:`EXPLAIN_MIN_DB` in a finished balance, largest first
    (``ranges``: the corpus's per-role table against a bass, model/checkpoints/alm/ranges.json)."""
    anchor = state["anchor"]
    gains = state.get("applied_gains_db") or state.get("gains_db", {})
    before = state.get("initial_lu_vs_anchor") or {}
    masking = {}
    for message in state.get("messages", []):
        if message.get("tool") == "measure_masking" and message.get("error") is None \
                and message["arguments"].get("masker") in (None, "rest of mix"):
            masking[message["arguments"]["target"]] = message["result"]
    facts = []
    for name, gain in gains.items():
        move = round(gain - gains.get(anchor, 0.0), 1)
        if name == anchor or abs(move) < EXPLAIN_MIN_DB:
            continue
        seen = masking.get(name)
        buried = seen if seen and seen.get("worst_range") and seen["masked_share"] >= MASKING_CLAIM_SHARE else None
        facts.append(StemFacts(name, roles.get(name, "other"), anchor, move, before.get(name),
                               (state.get("intervals") or {}).get(name), buried,
                               _typical(ranges, roles.get(name, "other"), roles.get(anchor), before.get(name), move),
                               (state.get("flags") or {}).get(name)))
    return sorted(facts, key=lambda f: -abs(f.move_db))


def _typical(ranges: dict | None, role: str, anchor_role: str | None, before: float | None, move: float) -> float | None:
    """The corpus's mean for ``role`` against a bass, when the move takes the stem towards it (else None)."""
    row = (ranges or {}).get("roles", {}).get(role)
    if row is None or "mean" not in row or anchor_role != "bass" or role in ("other", "bass") or before is None:
        return None
    typical = round(row["mean"], 1)
    return typical if abs(before + move - typical) < abs(before - typical) else None


_SIGNED_DB = re.compile(r"([+-]\d+\.\d) dB")
_LEVEL = re.compile(r"([+-]\d+\.\d) LU")
_SHARE = re.compile(r"(\d+) %")
_INTERVAL = re.compile(r"±(\d+\.\d) dB")
_CLAUSE = re.compile(r"[;:]|, and |, but ")


@dataclass
class SentenceCheck:
    """One sentence about one move, checked against its facts."""

    stem: str
    text: str
    number_ok: bool  # its first signed dB figure is the move applied
    claims: int = 0  # claims made (level, masking, convention)
    grounded: int = 0  # of those, backed by the facts
    explained: bool = False  # a grounded masking or convention claim says why it moves
    problems: list[str] = field(default_factory=list)


def check_sentence(text: str, facts: StemFacts, stems: list[str]) -> SentenceCheck:
    """Check ``text`` (advice about ``facts.name``) against ``facts``; ``stems``: every stem of the session (a
    masking claim may name only the maskers its check found)."""
    lit = facts.literals
    signed = _SIGNED_DB.findall(text)
    check = SentenceCheck(facts.name, text, number_ok=bool(signed) and f"{signed[0]} dB" == lit["move"])
    if not check.number_ok:
        check.problems.append(f"move {signed[0] if signed else 'missing'} dB, applied {lit['move']}")
    for value in _INTERVAL.findall(text):
        if f"(±{value} dB)" != lit.get("interval"):
            check.problems.append(f"interval ±{value} dB is not the move's ({lit.get('interval', 'none')})")
            check.number_ok = False
    for clause in _CLAUSE.split(text):  # one claim per clause: masking, convention, or where the stem sat
        _check_clause(clause, facts, stems, check)
    return check


def _check_clause(clause: str, facts: StemFacts, stems: list[str], check: SentenceCheck) -> None:
    """The claim ``clause`` makes, if any, counted into ``check``."""
    lit, lowered, levels = facts.literals, clause.lower(), _LEVEL.findall(clause)
    if "mask" in lowered:
        named = [s for s in stems if s != facts.name and re.search(rf"\b{re.escape(s)}\b", clause)]
        maskers = {lit[k] for k in lit if k.startswith("masker")}
        ok = (facts.masking is not None and lit["range"] in clause and set(named) <= maskers
              and all(f"{v} %" == lit["share"] for v in _SHARE.findall(clause)))
        _claim(check, ok, True, "masking claim the trace does not back" + (f" (names {named})" if named else ""))
    elif "on average" in lowered or "typical" in lowered:
        value = levels[0] if levels else None
        _claim(check, value is not None and f"{value} LU" == lit.get("typical"), True,
               f"convention claim {value} LU is not the corpus's mean towards which it moves")
    else:
        sat = [] if facts.before_lu is None else [facts.before_lu, facts.before_lu + facts.move_db]
        for value in levels:
            _claim(check, any(abs(float(value) - v) <= LEVEL_TOLERANCE_LU for v in sat), False,
                   f"level {value} LU is neither where it sat nor where the move takes it")


def keep_grounded(text: str, facts: StemFacts, stems: list[str]) -> str:
    """``text`` without the clauses after its opening that the trace does not back (what a person reads)."""
    pieces = re.split(f"({_CLAUSE.pattern})", text.rstrip(". "))
    kept = [pieces[0]]
    for separator, clause in zip(pieces[1::2], pieces[2::2]):
        check = SentenceCheck(facts.name, clause, True)
        _check_clause(clause, facts, stems, check)
        if check.grounded == check.claims and clause.strip():
            kept += [":" if len(kept) == 1 else separator, clause]
    return "".join(kept) + "."


def _claim(check: SentenceCheck, grounded: bool, explains: bool, problem: str) -> None:
    check.claims += 1
    check.grounded += grounded
    check.explained = check.explained or (grounded and explains)
    if not grounded:
        check.problems.append(problem)


def advice_checks(state: dict[str, Any], roles: dict[str, str], ranges: dict | None) -> dict[str, list[SentenceCheck]]:
    """Every move of at least 1 dB in a finished balance, its advice checked as the model wrote it (``written``)
    and as the template says it (the move's reason): ``{"model": [...], "template": [...]}``."""
    stems, anchor = list(state.get("applied_gains_db") or state.get("gains_db", {})), state["anchor"]
    found: dict[str, list[SentenceCheck]] = {"model": [], "template": []}
    for facts in stem_facts(state, roles, ranges):
        reason = state.get("reasons", {}).get(facts.name)
        said = {"template": f"{facts.name} {facts.move_db:+.1f} dB against the {anchor}" + (f": {reason}." if reason else "."),
                "model": (state.get("written") or {}).get(facts.name)}
        for source, text in said.items():
            if text is not None:
                found[source].append(check_sentence(text, facts, stems))
    return found


def advice_summary(checked: list[SentenceCheck]) -> dict[str, float]:
    """Shares over moves of at least 1 dB: explained, claims grounded, move figure = applied; words per move."""
    if not checked:
        return {"moves": 0}
    claims = sum(c.claims for c in checked)
    return {"moves": len(checked), "explained": sum(c.explained for c in checked) / len(checked),
            "grounded": sum(c.grounded for c in checked) / claims if claims else 1.0, "claims": claims,
            "numbers_applied": sum(c.number_ok for c in checked) / len(checked),
            "words": sum(len(c.text.split()) for c in checked) / len(checked)}
