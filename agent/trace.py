"""``trace.jsonl``, the explanation of every gain: building its records, and reading them back.

One JSON object per line, one line per node run:

=============  ==============================================================
step           1-based node run number
node           listen | plan | act | finish
tool           tool called (listen/act/finish) or chosen (plan); null if none
arguments      the tool's arguments
result         the tool's result (measurements summarised to LU vs. anchor)
gains_before   dB per stem vs. as loaded, before the node
gains_after    the same after it (differs only for apply_gains)
lufs_before    integrated LUFS per stem at gains_before (null: silent)
lufs_after     the same at gains_after
rationale      the planner's reason, quoting the measured numbers
error          the tool or planner error, if any (the loop carried on)
wall_ms        time the node took
=============  ==============================================================
"""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

from anchormix.tools import ToolContext

__all__ = ["TRACE_FIELDS", "read_trace", "trace_record", "summarise_result"]

TRACE_FIELDS = ("step", "node", "tool", "arguments", "result", "gains_before", "gains_after",
                "lufs_before", "lufs_after", "rationale", "error", "wall_ms")


def summarise_result(result: Any, limit: int = 600) -> Any:
    """Keep trace records readable: large results are summarised, not dumped."""
    if isinstance(result, dict) and "stems" in result and isinstance(result["stems"], dict):
        return {
            "anchor": result.get("anchor"),
            "lu_vs_anchor": {n: r.get("lu_vs_anchor") for n, r in result["stems"].items()},
        }
    if isinstance(result, dict) and "mutual" in result:
        return {"stems": result["stems"], "mutual": result["mutual"]}
    if isinstance(result, dict) and "gains_db" in result:  # apply_gains: its rounded gains say the same to a person
        result = {k: v for k, v in result.items() if k != "gains_db"}
    text = repr(result)
    return result if len(text) <= limit else text[:limit] + "..."


def _lufs(ctx: ToolContext, gains: dict[str, float]) -> dict[str, float | None]:
    lufs = ctx.measurements.lufs
    return {n: (round(lufs[n] + gains.get(n, 0.0), 2) if lufs[n] > -1e9 else None) for n in ctx.session.names}


def trace_record(step: int, node: str, ctx: ToolContext, started: float, *, tool: str | None = None,
                 arguments: Any = None, result: Any = None, gains_after: dict[str, float] | None = None,
                 rationale: str | None = None, error: str | None = None) -> dict[str, Any]:
    """One trace record (the fields above) for a node or chat turn that ran at ``ctx``'s gains since ``started``
    (``time.perf_counter()``); ``gains_after`` when it changed them. The graph and the chat both build theirs here."""
    before = dict(ctx.gains_db)
    after = before if gains_after is None else dict(gains_after)
    return {
        "step": step,
        "node": node,
        "tool": tool,
        "arguments": arguments,
        "result": summarise_result(result),
        "gains_before": before,
        "gains_after": after,
        "lufs_before": _lufs(ctx, before),
        "lufs_after": _lufs(ctx, after),
        "rationale": rationale,
        "error": error,
        "wall_ms": round((time.perf_counter() - started) * 1000.0, 2),
    }


def read_trace(path: str | Path, step: int | None = None, tool: str | None = None) -> list[dict[str, Any]]:
    """Records of ``path``, optionally only one ``step`` or one ``tool``; ``ValueError`` naming the file if bad."""
    path = Path(path)
    if not path.is_file():
        raise ValueError(f"{path}: no such trace file")
    records = []
    for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1):
        if not line.strip():
            continue
        try:
            record = json.loads(line)
        except json.JSONDecodeError as err:
            raise ValueError(f"{path}:{number}: not a JSON line ({err.msg})") from None
        if not isinstance(record, dict) or "step" not in record or "node" not in record:
            raise ValueError(f"{path}:{number}: not a trace record (needs 'step' and 'node')")
        records.append(record)
    return [r for r in records if (step is None or r["step"] == step) and (tool is None or r.get("tool") == tool)]
