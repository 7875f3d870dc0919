"""Properties (hypothesis): the registry and the loop never crash on any input; gains and loudness stay exact."""

import numpy as np
import pyloudnorm
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from anchormix.agent import ScriptedPlanner, run_balance, start_state
from anchormix.tools import REGISTRY, ToolContext, ToolError, load_session, mix_down, true_peak_dbtp
from anchormix.tools.loudness import integrated_loudness
from anchormix.tools.render import CEILING_DBTP

SETTINGS = settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])

json_values = st.recursive(
    st.none() | st.booleans() | st.integers(-10**6, 10**6) | st.floats(allow_nan=True, allow_infinity=True)
    | st.text(max_size=12),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=10), inner, max_size=4),
    max_leaves=12,
)
tool_names = st.sampled_from([t.name for t in REGISTRY] + ["finish", "nope", ""])


@pytest.fixture(scope="module")
def session(demo_session_dir):
    return load_session(demo_session_dir)


def arguments_for(session):
    """Arguments near the schemas (real stem names, numbers) mixed with anything JSON can say."""
    stems = st.sampled_from(session.names + ["ghost"])
    near = st.fixed_dictionaries({}, optional={
        "changes_db": st.dictionaries(stems, st.floats(-40, 40) | json_values, max_size=4),
        "target": stems | json_values, "masker": stems | st.none(), "stems": st.lists(stems, max_size=3),
        "margin_db": st.floats(-10, 30) | json_values, "write_stems": st.booleans() | json_values,
    })
    return near | json_values


@SETTINGS
@given(data=st.data())
def test_any_json_arguments_validate_or_are_rejected_with_a_message(session, data):
    ctx = ToolContext.of(session)  # no output folder: render must refuse, not write
    name = data.draw(tool_names)
    arguments = data.draw(arguments_for(session))
    result = None
    try:
        result = REGISTRY.call(name, arguments, ctx)
    except ToolError as err:
        assert str(err)  # a message, never an empty error
    if name == "apply_gains" and result is not None:
        assert all(np.isfinite(g) and abs(g) <= 24.0 for g in result["gains_db"].values())
    assert dict(ctx.gains_db) == {}  # no call changes the context it was given


@SETTINGS
@given(data=st.data())
def test_no_exception_escapes_the_agent_loop(session, data):
    action = st.fixed_dictionaries({"tool": tool_names, "arguments": arguments_for(session)},
                                   optional={"rationale": st.text(max_size=20)})
    raw = st.text(max_size=40) | st.builds(lambda a: __import__("json").dumps(a, default=str), action)
    script = data.draw(st.lists(action | raw, max_size=6))
    start = start_state("p", session.anchor, "scripted", {n: 0.0 for n in session.names})
    state = run_balance(ScriptedPlanner(script), ToolContext.of(session), start, max_steps=8)
    assert state["status"] in ("converged", "step cap", "stuck", "invalid tool calls", "planner error")
    assert set(state["gains_db"]) == set(session.names)
    assert all(np.isfinite(g) for g in state["gains_db"].values())


@settings(max_examples=15, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(moves=st.lists(st.dictionaries(st.sampled_from(["kick", "snare", "hats", "bass", "keys", "pad", "lead", "vocals"]),
                                      st.floats(-24, 24), min_size=1, max_size=8), min_size=1, max_size=6))
def test_any_sequence_of_applied_gains_keeps_the_ceiling_and_the_balance(session, moves):
    ctx = ToolContext.of(session)
    for changes in moves:
        ctx = ctx.at(REGISTRY.call("apply_gains", {"changes_db": changes}, ctx)["gains_db"])
    mix = mix_down(session, dict(ctx.gains_db))
    assert true_peak_dbtp(mix.audio, session.sample_rate) <= CEILING_DBTP + 0.01
    # Relative balance is exactly what the gains say: every stem is scaled by its gain and one shared trim.
    factor = np.float32(10 ** (mix.trim_db / 20))
    expected = sum(session.stems[n] * np.float32(10 ** (ctx.gain(n) / 20)) for n in session.names) * factor
    assert np.allclose(mix.audio, expected, atol=1e-5)
    for name in ("vocals", "kick"):
        if abs(ctx.gain(name) + mix.trim_db) > 20:
            continue  # far enough down, quiet blocks fall under BS.1770's -70 LKFS absolute gate: not a shift
        moved = session.stems[name] * np.float32(10 ** ((ctx.gain(name) + mix.trim_db) / 20))
        shift = integrated_loudness(moved, session.sample_rate) - integrated_loudness(session.stems[name], session.sample_rate)
        assert shift == pytest.approx(ctx.gain(name) + mix.trim_db, abs=0.01)


@settings(max_examples=20, deadline=None)
@given(rate=st.sampled_from([44100, 48000]), tenths=st.integers(5, 30), level_db=st.floats(-50, -3),
       colour=st.sampled_from(["white", "low", "high"]), seed=st.integers(0, 2**16))
def test_loudness_agrees_with_pyloudnorm_on_random_signals(rate, tenths, level_db, colour, seed):
    # Lengths on the 100 ms block hop: off it, pyloudnorm rounds the block count up and reads a partial
    # last block, which BS.1770 does not (a difference of the baseline, not of the filter).
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((2, rate * tenths // 10))
    if colour != "white":  # a one-pole tilt, towards the bass or the treble
        from scipy.signal import lfilter

        x = lfilter([0.1], [1, -0.9], x, axis=-1) if colour == "low" else np.diff(x, axis=-1, prepend=0)
    x = (x / np.abs(x).max() * 10 ** (level_db / 20)).astype(np.float32)
    reference = pyloudnorm.Meter(rate).integrated_loudness(x.T.astype(np.float64))
    assert integrated_loudness(x, rate) == pytest.approx(reference, abs=0.05)
