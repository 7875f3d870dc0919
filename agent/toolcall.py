"""Tool calls written as JSON text (what a language model emits), validated before anything runs.

A call looks like ``{"tool": "apply_gains", "arguments": {"changes_db": {"vocals": 2.5}},
"rationale": "..."}``; ``{"tool": "finish", "rationale": "..."}`` ends the balance.
:func:`parse_tool_call` returns an :class:`~anchormix.agent.state.Action` or raises
:class:`ToolCallError` saying what is wrong; the graph records an invalid call
in the trace, tells the planner why, and never executes it.
"""

from __future__ import annotations

import json
import math

from anchormix.tools import REGISTRY, ToolError

from .state import FINISH, Action

__all__ = ["ToolCallError", "parse_tool_call", "format_tool_call"]


class ToolCallError(ValueError):
    """A tool call that cannot run: not JSON, an unknown tool, or arguments that fail the tool's schema."""


def parse_tool_call(text: str, stems: list[str] | None = None) -> Action:
    """The action in ``text``; with ``stems``, every stem the arguments name must be one of them."""
    try:
        data = json.loads(text)
    except json.JSONDecodeError as err:
        raise ToolCallError(f"not a JSON tool call ({err.msg} at character {err.pos})") from None
    if not isinstance(data, dict) or not isinstance(data.get("tool"), str):
        raise ToolCallError('a tool call is a JSON object with a "tool" name')
    unknown = sorted(set(data) - {"tool", "arguments", "rationale", "reasons", "flags", "intervals", "advice", "targets"})
    if unknown:
        raise ToolCallError(f"unknown keys {unknown} in the tool call")
    tool, rationale = data["tool"], data.get("rationale", "")
    if not isinstance(rationale, str):
        raise ToolCallError('"rationale" must be a string')
    if tool == FINISH:
        return Action(tool=FINISH, rationale=rationale, **({"advice": str(data["advice"])} if "advice" in data else {}))
    if tool not in REGISTRY:
        raise ToolCallError(f"unknown tool '{tool}'; tools: {', '.join(t.name for t in REGISTRY)}, {FINISH}")
    try:
        REGISTRY.validate(tool, data.get("arguments", {}))
    except ToolError as err:
        raise ToolCallError(str(err)) from None
    if stems is not None:
        _check_stems(data.get("arguments") or {}, stems)
    texts = {}
    for key in ("reasons", "flags"):
        texts[key] = data.get(key) or {}
        if not isinstance(texts[key], dict) or not all(isinstance(v, str) for v in texts[key].values()):
            raise ToolCallError(f'"{key}" must map stem names to strings')
    intervals = data.get("intervals") or {}
    if not isinstance(intervals, dict) or not all(isinstance(v, (int, float)) and v >= 0 for v in intervals.values()):
        raise ToolCallError('"intervals" must map stem names to non-negative numbers (dB)')
    if intervals:
        texts["intervals"] = {k: float(v) for k, v in intervals.items()}
    targets = data.get("targets") or {}
    if not isinstance(targets, dict) or not all(isinstance(v, (int, float)) and not isinstance(v, bool)
                                                and math.isfinite(v) for v in targets.values()):
        raise ToolCallError('"targets" must map stem names to finite numbers (LU against the anchor)')
    if targets:
        texts["targets"] = {str(k): float(v) for k, v in targets.items()}
    return Action(tool=tool, arguments=data.get("arguments", {}), rationale=rationale, **texts)


def _check_stems(arguments: dict, stems: list[str]) -> None:
    named = [(key, arguments[key]) for key in ("target", "masker") if isinstance(arguments.get(key), str)]
    changes = arguments.get("changes_db")
    named += [("changes_db", name) for name in changes] if isinstance(changes, dict) else []
    for key, name in named:
        if name not in stems:
            raise ToolCallError(f"unknown stem '{name}' in {key}; stems: {', '.join(stems)}")


def format_tool_call(action: Action) -> str:
    """The JSON text of an action (the inverse of :func:`parse_tool_call`)."""
    keys = ("tool", "arguments", "rationale", "reasons", "flags", "intervals", "advice", "targets")
    return json.dumps({k: action[k] for k in keys if k in action})
