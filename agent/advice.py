"""Advice text: anchor-relative, actionable, and quoting exactly the gains applied."""

from __future__ import annotations

from typing import Any

__all__ = ["gains_vs_anchor", "advice_markdown", "stem_notes"]


def gains_vs_anchor(gains_db: dict[str, float], anchor: str, names: list[str]) -> dict[str, float]:
    """Each stem's gain minus the anchor's: the move as heard against the anchor."""
    base = gains_db.get(anchor, 0.0)
    return {n: round(gains_db.get(n, 0.0) - base, 1) for n in names}


def _move_text(state: dict[str, Any], name: str, anchor: str, bold: bool) -> str:
    """What follows a move's figure: the planner's own sentence where it wrote one (``written``), else "against the
    <anchor>" and the move's reason; a flag to check it by ear."""
    why, flag = state.get("reasons", {}).get(name), (state.get("flags") or {}).get(name)
    said = (state.get("written") or {}).get(name)
    check = "**Check by ear:**" if bold else "Check by ear:"
    return ((f" — {said}" if said else f" against the {anchor}" + (f": {why}." if why else "."))
            + (f" {check} {flag}." if flag else ""))


def stem_notes(state: dict[str, Any], names: list[str]) -> dict[str, str]:
    """Per stem moved against the anchor, its advice as one plain line ("vocals +2.5 dB — Raise ..."), for a DAW
    track's comment."""
    anchor = state["anchor"]
    relative = gains_vs_anchor(state.get("applied_gains_db") or state.get("gains_db", {}), anchor, names)
    return {n: f"{n} {relative[n]:+.1f} dB" + _move_text(state, n, anchor, bold=False)
            for n in names if n != anchor and abs(relative[n]) >= 0.05}


def advice_markdown(state: dict[str, Any], names: list[str], planner_advice: str | None = None) -> str:
    """Markdown advice for a finished balance, built from the state's applied gains and, per move, the planner's
    own sentence where it wrote one (``written``), else the move's reason (with part of the advice applied, the full
    advice is quoted after it)."""
    anchor = state["anchor"]
    relative = gains_vs_anchor(state.get("applied_gains_db") or state.get("gains_db", {}), anchor, names)
    moved = [n for n in names if n != anchor and abs(relative[n]) >= 0.05]
    lines = [f"# Balance advice: {state['session_id']} (anchor: {anchor})", ""]
    strength = state.get("strength_pct", 100.0)
    if strength < 100.0:
        advised = gains_vs_anchor(state.get("gains_db", {}), anchor, names)
        full = ", ".join(f"{n} {advised[n]:+.1f} dB" for n in names if n != anchor and abs(advised[n]) >= 0.05)
        lines += [f"Applied at {strength:g} % of the advised moves (the full advice: {full or 'no change'}).", ""]
    if moved:
        for name in sorted(moved, key=lambda n: -abs(relative[n])):
            lines.append(f"- **{name} {relative[name]:+.1f} dB**" + _move_text(state, name, anchor, bold=True))
    else:
        lines.append(f"- No changes: every stem already sits where it should against the {anchor}.")
    kept = [n for n in names if n != anchor and n not in moved]
    if kept and moved:
        lines.append(f"- Leave {', '.join(kept)} as they are.")
    if planner_advice:
        lines += ["", planner_advice.strip()]
    status = state.get("status", "")
    render = state.get("render") or {}
    lines += [
        "",
        f"Planner: {state.get('planner', '?')}; {status} after {state.get('iteration', 0)} planning steps.",
    ]
    if render.get("trim_db"):
        lines.append(f"The mix was trimmed {render['trim_db']:+.1f} dB overall (every stem equally) to stay under -1 dBTP.")
    return "\n".join(lines) + "\n"
