"""The advice check: every claim in a sentence must be backed by the trace (agent/grounding.py)."""

from anchormix.agent.grounding import advice_checks, advice_summary, check_sentence, keep_grounded, stem_facts

MASKING = {"target": "vocals", "masker": "rest of mix", "masked_share": 0.65, "worst_range": "2-4 kHz",
           "maskers": [{"stem": "guitar", "share": 0.5}]}
RANGES = {"roles": {"vocals": {"min": -10.0, "max": 12.0, "mean": 1.7, "count": 40}}}


def balance(masking=True):
    """A finished balance: vocals raised 6.8 dB after a masking check, keys lowered 3 dB, hats nudged."""
    messages = [{"tool": "measure_masking", "arguments": {"target": "vocals"}, "result": MASKING, "error": None}] \
        if masking else []
    return {"anchor": "bass", "applied_gains_db": {"bass": 0.0, "vocals": 6.8, "keys": -3.0, "hats": 0.4, "guitar": 0.0},
            "initial_lu_vs_anchor": {"vocals": -5.1, "keys": -1.0, "hats": -9.0, "guitar": -2.0},
            "intervals": {"vocals": 1.5, "keys": 2.0}, "messages": messages,
            "reasons": {"vocals": "was -5.1 LU against the bass", "keys": "was -1.0 LU against the bass"}}


ROLES = {"bass": "bass", "vocals": "vocals", "keys": "keys", "hats": "hats", "guitar": "guitar"}
STEMS = list(ROLES)


def test_facts_are_the_moves_of_1_db_or_more_with_what_the_trace_backs():
    facts = stem_facts(balance(), ROLES, RANGES)
    assert [f.name for f in facts] == ["vocals", "keys"]  # hats moved 0.4 dB: no sentence
    vocals = facts[0]
    assert vocals.literals["move"] == "+6.8 dB" and vocals.literals["interval"] == "(±1.5 dB)"
    assert vocals.literals["share"] == "65 %" and vocals.literals["range"] == "2-4 kHz"
    assert vocals.literals["masker1"] == "guitar"
    assert vocals.typical_lu == 1.7  # -5.1 + 6.8 = +1.7 LU: the move goes towards the corpus's mean
    assert facts[1].masking is None and facts[1].typical_lu is None  # no check of the keys; no keys row


def test_a_grounded_sentence_passes_and_explains_the_move():
    vocals = stem_facts(balance(), ROLES, RANGES)[0]
    text = ("Raise the vocals +6.8 dB (±1.5 dB) against the bass: the guitar masks it 65 % of the time at 2-4 kHz; "
            "a vocals part sits +1.7 LU against a bass on average, and it sat at -5.1 LU.")
    check = check_sentence(text, vocals, STEMS)
    assert check.number_ok and check.claims == 3 and check.grounded == 3 and check.explained, check.problems


def test_a_false_masking_claim_is_caught():
    """The keys were never checked for masking: a sentence saying they are masked fails the check."""
    keys = stem_facts(balance(), ROLES, RANGES)[1]
    check = check_sentence("Lower the keys -3.0 dB against the bass: the guitar masks it 65 % of the time at 2-4 kHz.",
                           keys, STEMS)
    assert check.number_ok and check.claims == 1 and check.grounded == 0 and not check.explained
    assert "masking claim" in check.problems[0]


def test_masking_claims_must_match_the_check_band_share_and_maskers():
    vocals = stem_facts(balance(), ROLES, RANGES)[0]
    for wrong in ("the guitar masks it 65 % of the time at 500 Hz-1 kHz",  # another band
                  "the guitar masks it 80 % of the time at 2-4 kHz",  # another share
                  "the keys mask it 65 % of the time at 2-4 kHz"):  # a stem the check did not name
        check = check_sentence(f"Raise the vocals +6.8 dB against the bass: {wrong}.", vocals, STEMS)
        assert check.grounded == 0 and check.problems, wrong


def test_wrong_figures_are_caught():
    vocals = stem_facts(balance(), ROLES, RANGES)[0]
    assert not check_sentence("Raise the vocals +6.0 dB against the bass.", vocals, STEMS).number_ok
    assert not check_sentence("Raise the vocals +6.8 dB (±3.0 dB) against the bass.", vocals, STEMS).number_ok
    level = check_sentence("Raise the vocals +6.8 dB against the bass: it sat at -9.0 LU.", vocals, STEMS)
    assert level.claims == 1 and level.grounded == 0
    convention = check_sentence("Raise the vocals +6.8 dB: a vocals part sits +4.0 LU against a bass on average.",
                                vocals, STEMS)
    assert convention.grounded == 0 and not convention.explained


def test_summary_compares_the_writer_with_the_template():
    state = balance()
    state["written"] = {"vocals": "Raise the vocals +6.8 dB (±1.5 dB) against the bass: the guitar masks it 65 % of "
                                  "the time at 2-4 kHz.", "keys": "Lower the keys -3.0 dB against the bass."}
    found = advice_checks(state, ROLES, RANGES)
    model, template = advice_summary(found["model"]), advice_summary(found["template"])
    assert model["moves"] == template["moves"] == 2
    assert model["explained"] == 0.5 and model["numbers_applied"] == 1.0 and model["grounded"] == 1.0
    assert template["explained"] == 0.0 and template["grounded"] == 1.0  # its level claims hold, none says why


def test_keep_grounded_drops_only_the_clauses_the_trace_does_not_back():
    keys = stem_facts(balance(), ROLES, RANGES)[1]
    text = ("Lower the keys -3.0 dB against the bass: the guitar masks it 65 % of the time at 2-4 kHz; "
            "it sat at -1.0 LU.")
    kept = keep_grounded(text, keys, STEMS)
    assert kept == "Lower the keys -3.0 dB against the bass: it sat at -1.0 LU."
    check = check_sentence(kept, keys, STEMS)
    assert check.grounded == check.claims == 1
    vocals = stem_facts(balance(), ROLES, RANGES)[0]
    good = "Raise the vocals +6.8 dB against the bass: the guitar masks it 65 % of the time at 2-4 kHz."
    assert keep_grounded(good, vocals, STEMS) == good
