"""The registry: schemas from docstrings, validation, dispatch, observers."""

import json

import pytest

from anchormix.tools import REGISTRY, ToolContext, ToolError, ToolRegistry, load_session
from anchormix.tools.registry import parse_docstring


def test_every_tool_argument_is_described_in_its_schema():
    assert {t.name for t in REGISTRY} >= {"measure_loudness", "measure_masking", "measure_masking_matrix",
                                           "apply_gains", "render"}
    for schema in REGISTRY.schemas():
        json.dumps(schema)  # JSON-serialisable as given to a model
        assert schema["description"] and schema["parameters"]["type"] == "object"
        assert "ctx" not in schema["parameters"]["properties"]
        for name, prop in schema["parameters"]["properties"].items():
            assert len(prop.get("description", "")) > 10, f"{schema['name']}.{name} is undescribed"


def test_an_undescribed_argument_is_refused_at_registration():
    registry = ToolRegistry()

    def louder(ctx, stem: str, amount_db: float) -> None:
        """Make a stem louder.

        Args:
            stem: Which stem.
        """

    with pytest.raises(ValueError, match="'amount_db' is not described"):
        registry.register(louder)


def test_docstring_parser_handles_types_and_continuation_lines():
    summary, args = parse_docstring("""Do a thing
    over two lines.

    Args:
        first (str): The first
            argument, continued.
        second: Another.

    Returns:
        nothing: ignored.
    """)
    assert summary == "Do a thing over two lines."
    assert args == {"first": "The first argument, continued.", "second": "Another."}


@pytest.fixture(scope="module")
def ctx(demo_session_dir):
    return ToolContext.of(load_session(demo_session_dir))


@pytest.mark.parametrize("name, arguments, problem", [
    ("measure_masking", {}, "target: Field required"),
    ("measure_masking", {"target": 3}, "target: Input should be a valid string"),
    ("measure_masking", {"target": "vocals", "loud": True}, "loud: Extra inputs are not permitted"),
    ("apply_gains", {"changes_db": {"vocals": "2"}}, "changes_db.vocals: Input should be a valid number"),
    ("apply_gains", [1, 2], "arguments must be a JSON object"),
    ("mute_everything", {}, "unknown tool 'mute_everything'"),
    ("apply_gains", {"changes_db": {"tuba": 2.0}}, "unknown stem 'tuba'"),
    ("apply_gains", {"changes_db": {"vocals": 60.0}}, "within ±24 dB"),
    ("measure_masking", {"target": "vocals", "masker": "vocals"}, "masker must differ from target"),
    ("render", {}, "no output folder"),
])
def test_bad_calls_raise_tool_error_with_a_message(ctx, name, arguments, problem):
    with pytest.raises(ToolError, match=problem.replace("(", r"\(").replace("[", r"\[")):
        REGISTRY.call(name, arguments, ctx)


def test_observers_see_every_call_including_failures(ctx):
    seen = []
    stop = REGISTRY.observe(seen.append)
    try:
        REGISTRY.call("measure_loudness", {"stems": ["vocals"]}, ctx)
        with pytest.raises(ToolError):
            REGISTRY.call("measure_loudness", {"stems": ["tuba"]}, ctx)
    finally:
        stop()
    assert [c.name for c in seen] == ["measure_loudness", "measure_loudness"]
    assert seen[0].error is None and set(seen[0].result["stems"]) == {"vocals"} and seen[0].wall_ms > 0
    assert "unknown stem 'tuba'" in seen[1].error and seen[1].result is None


def test_measurements_follow_applied_gains(demo_session_dir):
    start = ToolContext.of(load_session(demo_session_dir))
    before = REGISTRY.call("measure_loudness", {}, start)["stems"]
    applied = REGISTRY.call("apply_gains", {"changes_db": {"vocals": 6, "kick": -2.5}}, start)
    assert start.gains_db == {}  # the context is immutable: the caller keeps the new gains
    ctx = start.at(applied["gains_db"])
    after = REGISTRY.call("measure_loudness", {}, ctx)["stems"]
    assert after["vocals"]["lu_vs_anchor"] - before["vocals"]["lu_vs_anchor"] == pytest.approx(6.0, abs=0.011)
    assert after["kick"]["lufs"] - before["kick"]["lufs"] == pytest.approx(-2.5, abs=0.011)
    assert after["vocals"]["gain_db"] == 6.0
    masked_before = REGISTRY.call("measure_masking", {"target": "vocals"}, start)
    masked_after = REGISTRY.call("measure_masking", {"target": "vocals"}, ctx)
    assert masked_after["masked_share"] < masked_before["masked_share"]
