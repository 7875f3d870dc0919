"""Conversation: each intent in several phrasings reaches the right action; undo/redo; resume; nothing lost."""

import pytest

from anchormix.agent.chat import Conversation
from anchormix.agent.chat.request_rules import parse_intent
from tests.conftest import tree_hash

NAMES = ["kick", "snare", "hats", "bass", "keys", "pad", "lead", "vocals"]
ROLES = {n: n for n in NAMES}

PHRASINGS = [
    # (intent, phrasings, expected slots)
    ("balance", ["balance everything against the anchor", "can you balance the mix?", "auto-balance this please",
                 "fix the levels"], {}),
    ("anchor", ["use the kick as anchor", "make the kick the anchor", "switch the reference to the kick",
                "anchor on the kick please"], {"value": "kick"}),
    ("nudge", ["vocals a bit louder", "a little more vocal", "bring the vocals up 1 dB", "vox +1 dB"],
     {"stems": ["vocals"], "amount_db": 1.0}),
    ("nudge", ["bring the guitars down 2 dB", "guitars -2 dB", "cut the guitar by 2 dB", "lower the gtrs 2 decibels"],
     {"stems": ["guitar"], "amount_db": -2.0}),
    ("why", ["why did you cut the keys?", "explain the keys move", "what's the reason for the keys change?",
             "how come the keys went down?"], {"stems": ["keys"]}),
    ("masking", ["what's masking the vocal?", "what is the vocal fighting with?", "is anything burying the vocals?",
                 "which stems clash with the vocal"], {"stems": ["vocals"]}),
    ("undo", ["undo", "undo that", "take that back", "scratch that, revert"], {}),
    ("redo", ["redo", "redo that please", "put it back"], {}),
    ("genre", ["set the genre to edm", "this is electronic", "treat it as dance music", "genre: edm"], {"value": "edm"}),
    ("levels", ["show the levels", "how loud is everything?", "show me the meters", "where do the stems sit?"], {}),
    ("export", ["export the mix", "bounce it", "save the mix to disk", "render a mix file"], {}),
    ("apply", ["apply", "yes, do it", "apply the proposal", "ok go ahead"], {"share": 1.0, "stems": []}),
    ("apply", ["apply half of it", "apply 50 % of the moves", "ok, apply half"], {"share": 0.5, "stems": []}),
    ("apply", ["just the vocals", "only the vocals please", "apply the vocals only"],
     {"share": 1.0, "stems": ["vocals"], "exclude": False}),
    ("apply", ["apply all but the pad", "apply everything except the pad", "yes, but not the pad"],
     {"stems": ["pad"], "exclude": True}),
    ("help", ["add some reverb to the vocals", "what's the weather", "compress the drums"], {}),
]


@pytest.mark.parametrize("kind, text, slots", [(k, t, s) for k, ts, s in PHRASINGS for t in ts])
def test_each_phrasing_reaches_its_intent(kind, text, slots):
    names, roles = NAMES + ["guitar"], {**ROLES, "guitar": "guitar"}
    intent = parse_intent(text, names, roles)
    assert intent.kind == kind, intent
    for key, value in slots.items():
        assert getattr(intent, key) == value, intent


def test_the_stems_after_against_are_not_moved():
    intent = parse_intent("vocals up 2 dB against the bass", NAMES, ROLES)
    assert intent.kind == "nudge" and intent.stems == ["vocals"] and intent.amount_db == 2.0


def test_a_conversation_balances_explains_nudges_undoes_and_exports(demo_session_dir, tmp_path):
    before = tree_hash(demo_session_dir)
    chat = Conversation(demo_session_dir, tmp_path / "out")
    reply = chat.handle("balance everything against the bass")
    assert reply.intent.kind == "balance" and chat.state.proposal and not reply.changed
    assert "vocals" in chat.state.proposal and chat.state.proposal["vocals"] > 3  # the fixture pulled the vocals down 6 dB
    assert any(r["tool"] == "apply_gains" for r in reply.trace)  # the loop's own records
    assert chat.handle("apply").changed and chat.state.gains["vocals"] > 3 and not chat.state.proposal

    why = chat.handle("why did you turn the vocals up?").text
    assert "vocals: moved +" in why and "LU against the bass" in why

    masking = chat.handle("what's masking the vocal?")
    assert "mask" in masking.text and [r["tool"] for r in masking.trace].count("measure_masking") == len(NAMES)

    vocals = chat.state.gains["vocals"]
    assert chat.handle("vocals a bit louder").changed and chat.state.gains["vocals"] == pytest.approx(vocals + 1.0)
    chat.handle("undo")
    assert chat.state.gains["vocals"] == pytest.approx(vocals)
    chat.handle("redo")
    assert chat.state.gains["vocals"] == pytest.approx(vocals + 1.0)

    assert chat.handle("use the kick as anchor").changed and chat.anchor == "kick"
    assert "against the kick" in chat.handle("show the levels").text
    chat.handle("undo")
    assert chat.anchor == "bass"

    assert "don't do reverb" in chat.handle("add reverb to the vocals").text
    assert "ballad" in chat.handle("it's a ballad").text and chat.state.genre == "ballad"

    exported = chat.handle("export the mix")
    mix = tmp_path / "out" / chat.id / "mix.wav"
    assert mix.exists() and str(mix) in exported.text and (mix.parent / "gains.json").exists()
    assert not (mix.parent / f"{chat.id}.RPP").exists()  # a DAW session only when asked
    assert "REAPER" in chat.handle("export it for reaper").text and (mix.parent / f"{chat.id}.RPP").exists()
    assert tree_hash(demo_session_dir) == before  # the sources are untouched


def test_a_chat_on_a_reaper_project_starts_from_its_faders_and_exports_it_back(demo_session_dir, tmp_path):
    from anchormix.tools import load_session
    from anchormix.tools.daw import daw_stems, read_project, write_reaper_project

    session = load_session(demo_session_dir)
    rough = write_reaper_project(tmp_path / "rough" / "Rough.RPP",
                                 daw_stems(session, {"vocals": -4.0}, {}, tmp_path / "x"), session.sample_rate)
    before = tree_hash(rough.parent)
    chat = Conversation(rough, tmp_path / "out")
    assert chat.session.faders_db["vocals"] == pytest.approx(-4.0) and chat.state.gains["vocals"] == 0.0  # their mix: the start
    chat.handle("bring the vocals up 2 dB")
    assert "REAPER" in chat.handle("export the mix").text  # their project back, always
    back = {t.name: t.fader_db for t in read_project(tmp_path / "out" / chat.id / "Rough.RPP").tracks}
    assert back["vocals"] == pytest.approx(-2.0) and tree_hash(rough.parent) == before


def test_reopening_resumes_and_a_corrupt_checkpoint_starts_fresh(demo_session_dir, tmp_path):
    chat = Conversation(demo_session_dir, tmp_path)
    chat.handle("bring the hats down 3 dB")
    again = Conversation(demo_session_dir, tmp_path)
    assert again.state.gains["hats"] == -3.0 and "resumed" in again.notice and len(again.state.transcript) == 2
    again.handle("undo")
    assert again.state.gains["hats"] == 0.0

    db = tmp_path / chat.id / "checkpoint.sqlite"
    db.write_bytes(b"this is not a database" * 100)
    fresh = Conversation(demo_session_dir, tmp_path)
    assert "unreadable checkpoint" in fresh.notice and fresh.state.gains["hats"] == 0.0
    assert list(db.parent.glob("checkpoint.sqlite.unreadable-*"))  # moved aside, not deleted
    fresh.handle("hats down 1 dB")
    assert Conversation(demo_session_dir, tmp_path).state.gains["hats"] == -1.0


def test_part_of_a_proposal_is_applied_and_the_rest_stays_proposed(demo_session_dir, tmp_path):
    chat = Conversation(demo_session_dir, tmp_path / "out")
    chat.handle("balance")
    proposal = dict(chat.state.proposal)
    assert len(proposal) >= 3 and "vocals" in proposal
    reply = chat.handle("apply half of it")
    applied = next(r for r in reply.trace if r["tool"] == "apply_gains")
    assert applied["arguments"]["changes_db"] == {n: round(v / 2, 1) for n, v in proposal.items() if round(v / 2, 1)}
    assert applied["rationale"] == "apply 50% of the proposal" and "Still proposed" in reply.text
    reply = chat.handle("just the vocals")
    assert next(r for r in reply.trace if r["tool"] == "apply_gains")["arguments"]["changes_db"] == {
        "vocals": round(proposal["vocals"] - round(proposal["vocals"] / 2, 1), 1)}
    assert "vocals" not in chat.state.proposal
    other = next(n for n in chat.state.proposal)
    reply = chat.handle(f"apply all but the {other}")
    assert set(next(r for r in reply.trace if r["tool"] == "apply_gains")["arguments"]["changes_db"]) == \
        set(proposal) - {"vocals", other}
    assert set(chat.state.proposal) == {other}
    for name, gain in chat.state.gains.items():  # the parts add up to the proposal; the one left out got its first half
        expected = round(proposal[other] / 2, 1) if name == other else proposal.get(name, 0.0)
        assert gain == pytest.approx(expected, abs=0.11)


def test_a_flagged_move_waits_until_it_is_named(demo_session_dir, tmp_path):
    from anchormix.agent import ScriptedPlanner

    flagged = {"tool": "apply_gains", "arguments": {"changes_db": {"pad": 12.0, "vocals": 3.0}},
               "rationale": "scripted", "reasons": {"pad": "a test", "vocals": "a test"},
               "flags": {"pad": "+2.0 LU is outside what the corpus has for a pad against the bass"},
               "intervals": {"pad": 6.2, "vocals": 3.8}}
    chat = Conversation(demo_session_dir, tmp_path / "out", planner=lambda genre: ScriptedPlanner([flagged]))
    reply = chat.handle("balance")
    assert "check it by ear: +2.0 LU is outside" in reply.text and chat.state.flags == {"pad": flagged["flags"]["pad"]}
    assert chat.state.intervals == {"pad": 6.2, "vocals": 3.8}  # what the chat app's stems table shows beside each move
    reply = chat.handle("apply")
    assert chat.state.gains["vocals"] == 3.0 and chat.state.gains["pad"] == 0.0 and chat.state.proposal == {"pad": 12.0}
    assert "Held back until you name it: pad" in reply.text
    assert not chat.handle("apply").changed  # still waiting: a plain apply does not confirm it
    assert chat.handle("apply the pad").changed and chat.state.gains["pad"] == 12.0 and not chat.state.proposal


class WritingPlanner:
    """The rule planner's moves, and a sentence per move as the ALM's advice writer would hand them back."""

    name = "writing"

    def __init__(self, genre=None):
        from anchormix.agent import RulePlanner

        self.rules = RulePlanner(genre=genre)

    def plan(self, state, ctx):
        return self.rules.plan(state, ctx)

    def write_advice(self, state, ctx):
        gains = state["gains_db"]
        written = {n: f"Raise the {n} {gains[n] - gains['bass']:+.1f} dB against the bass: it sat low."
                   for n in ("vocals",) if abs(gains[n] - gains["bass"]) >= 1.0}
        return written, written


def test_why_answers_from_the_models_written_sentence(demo_session_dir, tmp_path):
    chat = Conversation(demo_session_dir, tmp_path / "out", planner=WritingPlanner)
    proposed = chat.handle("balance everything against the bass")
    sentence = chat.state.written["vocals"]
    assert sentence in proposed.text  # the proposal quotes the model's sentence for its move
    why = chat.handle("why did you turn the vocals up?")
    assert why.intent.kind == "why" and sentence in why.text
    other = next(n for n in chat.state.proposal if n != "vocals")
    plain = chat.handle(f"why did you move the {other}?")  # no sentence written: the move's reason, as before
    assert "because it" in plain.text
    reopened = Conversation(demo_session_dir, tmp_path / "out", planner=WritingPlanner)
    assert reopened.state.written == chat.state.written  # kept with the conversation


def test_a_failing_writer_never_loses_the_balance(demo_session_dir, tmp_path):
    from anchormix.agent import run_balance, start_state
    from anchormix.tools import ToolContext, load_session

    class Broken(WritingPlanner):
        def write_advice(self, state, ctx):
            raise RuntimeError("out of memory")

    ctx = ToolContext.of(load_session(demo_session_dir))
    final = run_balance(Broken(), ctx, start_state("s", "bass", "broken", {n: 0.0 for n in ctx.session.names}))
    assert final["status"] == "converged" and final["written"] == {}
    assert "advice writer failed, RuntimeError: out of memory" in final["advice"]
    assert "- **vocals" in final["advice"]  # the moves are still there, with their reasons
