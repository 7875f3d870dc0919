"""Reading and showing ``trace.jsonl``: the explanation of every gain.

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
from pathlib import Path
from typing import Any, Iterable

from rich.console import Group
from rich.panel import Panel
from rich.text import Text

__all__ = ["TRACE_FIELDS", "read_trace", "render_trace"]

TRACE_FIELDS = ("step", "node", "tool", "arguments", "result", "gains_before", "gains_after",
                "lufs_before", "lufs_after", "rationale", "error", "wall_ms")


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


def _moves(record: dict[str, Any]) -> str:
    before, after = record.get("gains_before") or {}, record.get("gains_after") or {}
    moved = [f"{n} {before.get(n, 0.0):+.1f} -> {g:+.1f} dB" for n, g in after.items() if abs(g - before.get(n, 0.0)) > 1e-9]
    return "; ".join(moved)


def render_trace(records: Iterable[dict[str, Any]]):
    """A rich renderable: one panel per step with tool, arguments, reason, result and moves."""
    panels = []
    for r in records:
        body = Text()
        if r.get("arguments"):
            body.append("args    ", style="dim").append(json.dumps(r["arguments"]) + "\n")
        if r.get("rationale"):
            body.append("why     ", style="dim").append(str(r["rationale"]) + "\n")
        if r.get("result") is not None:
            result = json.dumps(r["result"])
            body.append("result  ", style="dim").append((result[:300] + "...") if len(result) > 300 else result)
            body.append("\n")
        if _moves(r):
            body.append("gains   ", style="dim").append(_moves(r) + "\n", style="bold")
        if r.get("error"):
            body.append("error   ", style="dim").append(str(r["error"]) + "\n", style="bold red")
        title = f"step {r['step']} · {r['node']}" + (f" · {r['tool']}" if r.get("tool") else "")
        subtitle = f"{r.get('wall_ms', 0):.0f} ms"
        panels.append(Panel(body if body.plain else Text("-", style="dim"), title=title, title_align="left",
                            subtitle=subtitle, subtitle_align="right", border_style="red" if r.get("error") else "blue"))
    return Group(*panels)
