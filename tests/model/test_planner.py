"""The ALM planner with a scripted language model: its JSON calls are resolved, validated and traced.

The fake model's head puts every stem at a fixed level against the anchor; its "LM" writes the scripted
texts in turn, so each case checks what the planner and the graph do with one kind of model output.
"""

import re

import torch

from anchormix.agent import run_balance, start_state
from anchormix.model.alm.network import ALMConfig
from anchormix.model.alm.planner import ALMBalancer, ALMPlanner
from anchormix.tools import ToolContext, load_session


class ScriptedALM:
    calls_from_numbers = False  # an LM that writes its calls (the shipped call head reads numbers: see below)

    def __init__(self, texts, target_lu=-3.0):
        self.cfg = ALMConfig(frames=64, plans=True)
        self.texts, self.target_lu, self.histories, self.proposals = list(texts), target_lu, [], []
        self.genres = []
        self.listener = None  # no listener: the balancer hears the busiest window only

    def _targets(self, stems):
        return torch.tensor([0.0 if s.is_anchor else self.target_lu for s in stems])

    def __call__(self, mel, stems, target_ids=None, history=None, proposal=None, genre="unknown", listened=None):
        self.genres.append(genre)
        return self._targets(stems), None

    def plan_step(self, mel, stems, history, propose, genre="unknown", listened=None):
        self.genres.append(genre)
        self.histories.append(list(history))
        self.proposals.append(propose(self._targets(stems)))
        return self._targets(stems), (self.texts.pop(0) if self.texts else '{"tool": "finish"}')


def balance(session_dir, texts, max_steps=8, genre=None):
    ctx = ToolContext.of(load_session(session_dir))
    balancer = ALMBalancer.__new__(ALMBalancer)
    balancer.alm, balancer._session, balancer._mel = ScriptedALM(texts), None, None
    balancer.intervals = {"pooled": 3.0, "roles": {"vocals": 2.5}}
    balancer.ranges = {"roles": {"pad": {"min": -20.0, "max": -8.0, "count": 40}}}  # -3 LU is no pad's place
    start = start_state("t", ctx.session.anchor, "alm", {n: 0.0 for n in ctx.session.names})
    state = run_balance(ALMPlanner(balancer, genre=genre), ctx, start, max_steps=max_steps)
    return ctx, balancer.alm, state


def test_the_model_checks_masking_on_the_stem_it_names_then_applies_its_head_moves(demo_session_dir):
    texts = ['{"tool": "measure_masking", "arguments": {"target": "stem 2"}}', '{"tool": "apply_gains"}',
             '{"tool": "finish"}']
    ctx, model, state = balance(demo_session_dir, texts)
    acts = [r for r in state["trace"] if r["node"] == "act"]
    names = [n for n in ctx.session.names if ctx.session.active[n]]
    assert acts[0]["tool"] == "measure_masking" and acts[0]["arguments"] == {"target": names[1]}
    assert acts[1]["tool"] == "apply_gains" and acts[1]["error"] is None
    # The model heard its own history: nothing, then the masking check (by prompt index), then the move.
    assert model.histories == [[], ["measure_masking stem 2"], ["measure_masking stem 2", "apply_gains"]]
    # ... and read its head's proposal in the prompt: the moves it then applied; after the move, nothing left.
    def parsed(proposal):
        return {names[int(i) - 1]: float(v) for i, v in re.findall(r"stem (\d+) ([+-]\d+\.\d) dB", proposal)}

    changes = acts[1]["arguments"]["changes_db"]
    assert model.proposals[0] == model.proposals[1]
    assert parsed(model.proposals[0]) == {n: changes.get(n, 0.0) for n in names if n != ctx.session.anchor}
    assert all(abs(v) <= 0.1 for v in parsed(model.proposals[2]).values())
    # The head's moves: every stem to -3 LU against the anchor, the anchor untouched.
    anchor_lufs = ctx.measurements.lufs[ctx.session.anchor]
    for name, change in acts[1]["arguments"]["changes_db"].items():
        assert abs(ctx.measurements.lufs[name] + change - anchor_lufs - (-3.0)) <= 0.06
    assert state["status"] == "converged" and state["trace"][-1]["rationale"].startswith("model: finish")


def test_text_that_is_not_a_call_is_recorded_never_run_and_the_head_takes_over(demo_session_dir):
    ctx, model, state = balance(demo_session_dir, ["apply some gain to the vocals please"])
    invalid = [r for r in state["trace"] if r["tool"] == "invalid_call"]
    assert len(invalid) == 1 and "not a JSON tool call" in invalid[0]["error"]
    assert invalid[0]["arguments"]["text"] == "apply some gain to the vocals please"
    applied = [r for r in state["trace"] if r["node"] == "act" and r["tool"] == "apply_gains"]
    assert applied and applied[0]["rationale"].startswith("model (head only)")
    assert len(model.histories) == 2  # the LM was asked again after the fallback move, and said finish


def test_a_stem_the_session_does_not_have_is_an_invalid_call(demo_session_dir):
    texts = ['{"tool": "measure_masking", "arguments": {"target": "stem 99"}}'] * 3
    ctx, model, state = balance(demo_session_dir, texts)
    invalid = [r for r in state["trace"] if r["tool"] == "invalid_call"]
    assert invalid and "unknown stem 'stem 99'" in invalid[0]["error"]
    assert not [r for r in state["trace"] if r["node"] == "act" and r["tool"] == "measure_masking"]


def test_the_model_hears_the_sessions_genre_or_the_one_the_user_set(demo_session_dir):
    ctx, model, _ = balance(demo_session_dir, ['{"tool": "finish"}'])
    assert model.genres and set(model.genres) == {ctx.session.genre}
    _, model, _ = balance(demo_session_dir, ['{"tool": "finish"}'], genre="ballad")
    assert set(model.genres) == {"ballad"}


def test_the_model_listens_where_most_stems_play():
    import numpy as np

    from anchormix.model.features import busiest_window

    mel = np.full((3, 8, 300), -120.0, dtype=np.float32)
    mel[0] = -40.0  # plays throughout
    mel[1, :, 200:] = -50.0  # enters late
    mel[2, :, 180:260] = -60.0
    start = busiest_window(mel, 64)
    assert 196 <= start <= 200 and start + 64 <= 260  # the window where all three play
    assert busiest_window(np.full((2, 8, 300), -40.0, dtype=np.float32), 64) == 118  # all equal: the middle
    assert busiest_window(mel[:, :, :50], 64) == 0


def test_the_model_hears_every_part_of_the_session_and_the_busiest_first():
    import numpy as np

    from anchormix.model.features import busiest_window, listening_windows

    mel = np.full((2, 8, 600), -120.0, dtype=np.float32)
    mel[0] = -40.0
    mel[1, :, 450:] = -50.0  # plays only in the last part
    starts = listening_windows(mel, 64)
    assert starts[0] == busiest_window(mel, 64) and starts[0] >= 450
    assert len(starts) == 3 and min(starts) < 200 and any(200 <= s < 400 for s in starts)  # every third heard once
    assert all(abs(a - b) >= 32 for i, a in enumerate(starts) for b in starts[i + 1:])
    assert listening_windows(mel[:, :, :50], 64) == [0]


def test_the_listeners_windows_combine_per_stem_over_the_windows_where_it_plays():
    from anchormix.model.prompt import StemPrompt

    class Listening:
        listener = object()

        def hear(self, mel, stems, genre):  # the estimate is the window's loudest bin, per stem
            return None, mel.amax(dim=(1, 2))

    balancer = ALMBalancer.__new__(ALMBalancer)
    balancer.alm = Listening()
    mel = torch.full((3, 2, 4, 8), -120.0)
    mel[:, 0] = torch.tensor([-10.0, -20.0, -30.0])[:, None, None]  # stem 1 plays everywhere
    mel[2, 1] = -5.0  # stem 2 plays in the third window only
    prompts = [StemPrompt(1, "bass", 0.0, True), StemPrompt(2, "pad", -3.0, False)]
    assert balancer.listened(mel, prompts, "pop").tolist() == [-20.0, -5.0]  # the median; the window it plays in


def test_each_move_says_how_sure_the_model_is(demo_session_dir):
    """The reasons carry the 80 % interval of the stem's role (the pooled one for a role without its own)."""
    ctx, model, state = balance(demo_session_dir, ['{"tool": "apply_gains"}', '{"tool": "finish"}'])
    reasons = state["reasons"]
    assert reasons and all("80 % interval" in r for r in reasons.values())
    for name, reason in reasons.items():
        assert f"(±{2.5 if ctx.session.roles[name] == 'vocals' else 3.0:.1f} dB, 80 % interval)" in reason


def test_intervals_are_conformal_quantiles_per_role_and_coverage_counts_inside():
    from anchormix.model.intervals import coverage, fit_intervals, half_width

    errors = {"bass": [float(e) for e in range(1, 31)], "pad": [-1.0, 2.0, 9.0]}  # pad: too few for its own
    intervals = fit_intervals(errors)
    assert intervals["roles"] == {"bass": 25.0}  # the ceil(31 * 0.8) = 25th smallest |e|
    assert half_width(intervals, "pad") == intervals["pooled"] == 25.0  # the 28th (ceil(34 * 0.8)) of the pooled 33
    assert coverage(intervals, {"bass": [24.0, -25.0, 26.0, 30.0]}) == 0.5


def test_a_move_unlike_anything_in_the_corpus_is_flagged_in_the_advice(demo_session_dir):
    ctx, model, state = balance(demo_session_dir, ['{"tool": "apply_gains"}', '{"tool": "finish"}'])
    pad = next(n for n in ctx.session.names if ctx.session.roles[n] == "pad")
    assert set(state["flags"]) == {pad}  # the head puts every stem at -3 LU; only the pad's range excludes it
    assert "outside what the corpus has for a pad against the bass (-20.0 to -8.0 LU over 40 stems)" in state["flags"][pad]
    assert f"**Check by ear:** -3.0 LU is outside" in state["advice"]


def test_after_its_move_the_model_does_not_chase_a_second_opinion(demo_session_dir):
    """A head whose answer drifts when it hears the moved stems (+2 LU each time it listens) still ends at its first
    answer: the targets are fixed at the first listen, so the next proposal is what is left to them, nothing."""
    class Drifting(ScriptedALM):
        def _targets(self, stems):  # one more listen, two more LU (histories grows once per planning step)
            drift = 2.0 * (len(self.histories) - 1)
            return torch.tensor([0.0 if s.is_anchor else self.target_lu + drift for s in stems])

    ctx = ToolContext.of(load_session(demo_session_dir))
    balancer = ALMBalancer.__new__(ALMBalancer)
    balancer.alm, balancer._session, balancer._mel = Drifting(['{"tool": "apply_gains"}'] * 4), None, None
    balancer.intervals = balancer.ranges = None
    start = start_state("t", ctx.session.anchor, "alm", {n: 0.0 for n in ctx.session.names})
    state = run_balance(ALMPlanner(balancer), ctx, start, max_steps=8)
    applies = [r for r in state["trace"] if r["node"] == "act" and r["tool"] == "apply_gains"]
    assert len(applies) == 1 and state["status"] == "converged"
    levels = state["measurements"]["loudness"]["stems"]
    assert all(abs(levels[n]["lu_vs_anchor"] + 3.0) <= 0.06 for n in levels if n != ctx.session.anchor)


def test_a_call_head_on_numbers_alone_decides_without_a_pass_over_the_stems_once_nothing_new_is_heard(demo_session_dir):
    """The shipped call head reads the proposal's numbers only. After a masking check (nothing moved: the same
    gains, prompt and genre) and once a move is applied (the targets held), nothing the listener or the LM would
    hear is read, so neither runs: the head's first answer and the calls so far decide."""
    class NumbersOnly(ScriptedALM):
        calls_from_numbers = True

        def __init__(self, texts, calls):
            super().__init__(texts)
            self.calls, self.chosen = list(calls), []

        def choose_call(self, proposal, history, state=None):
            self.chosen.append((list(history), proposal))
            return self.calls.pop(0)

    ctx = ToolContext.of(load_session(demo_session_dir))
    balancer = ALMBalancer.__new__(ALMBalancer)
    balancer.alm = NumbersOnly(['{"tool": "measure_masking", "arguments": {"target": "stem 2"}}'],
                               ['{"tool": "apply_gains"}', '{"tool": "finish"}'])
    balancer._session, balancer._mel, balancer.intervals, balancer.ranges = None, None, None, None
    start = start_state("t", ctx.session.anchor, "alm", {n: 0.0 for n in ctx.session.names})
    state = run_balance(ALMPlanner(balancer), ctx, start, max_steps=8)
    model = balancer.alm
    assert model.histories == [[]] and len(model.genres) == 1  # one pass over the stems, at the first step
    assert [h for h, _ in model.chosen] == [["measure_masking stem 2"], ["measure_masking stem 2", "apply_gains"]]
    assert model.chosen[0][1] == model.proposals[0]  # after the check: the first answer's proposal, unchanged
    applied = [r for r in state["trace"] if r["node"] == "act" and r["tool"] == "apply_gains"]
    names = [n for n in ctx.session.names if ctx.session.active[n]]
    moves = {names[int(i) - 1]: float(v) for i, v in re.findall(r"stem (\d+) ([+-]\d+\.\d) dB", model.proposals[0])}
    assert applied and applied[0]["arguments"]["changes_db"] == {n: v for n, v in moves.items() if v}
    assert all(abs(float(v)) <= 0.1 for v in re.findall(r"stem \d+ ([+-]\d+\.\d) dB", model.chosen[1][1]))
    assert state["status"] == "converged" and state["trace"][-1]["rationale"].startswith("model: finish")
