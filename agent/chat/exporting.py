"""The chat's export: the mix, its outcome (gains.json, as a batch balance writes it) and advice.md, and the DAW
sessions the person asked for (F6 asks which). `anchormix report` renders the folder like a balance's."""

from __future__ import annotations

from anchormix.tools.audio import write_text_atomic

from ..daw import write_daw_sessions
from ..outcome import OUTCOME_FILE, BalanceOutcome
from .context import ChatContext

__all__ = ["export_mix"]

_DAW_NAMES = {"ardour": "Ardour session", "reaper": "REAPER project"}


def export_mix(chat: ChatContext, formats: tuple[str, ...], trace: list) -> str:
    """Render the conversation's mix, write gains.json and the DAW sessions of ``formats``; what was written."""
    result = chat.tool(trace, "render", {}, "export the mix")
    session, moves = chat.session, chat.relative_gains()
    protected = session.read_only()
    notes = {n: f"{n} {moves[n]:+.1f} dB against the {chat.anchor}" for n in session.names
             if n != chat.anchor and abs(moves[n]) >= 0.05}
    write_text_atomic(chat.out_dir / OUTCOME_FILE, _outcome(chat, result["trim_db"]).to_json(), protected)
    advice = f"# Balance advice: {chat.id} (anchor: {chat.anchor})\n\n" + "".join(f"- {n}\n" for n in notes.values())
    write_text_atomic(chat.out_dir / "advice.md", advice if notes else advice + "- No changes.\n", protected)
    said = (f"Wrote {result['mix']} ({result['lufs']:.1f} LUFS, true peak {result['true_peak_dbtp']:.1f} dBTP"
            + (f", trimmed {result['trim_db']:+.1f} dB" if result["trim_db"] else "") + "), gains.json and advice.md")
    if formats or session.project is not None:
        written = write_daw_sessions(formats, session, chat.id, chat.out_dir, chat.state.gains, notes,
                                     "\n".join(notes.values()), result["trim_db"] or 0.0)
        said += "; " + ", ".join(f"the {_DAW_NAMES[kind]} {path}" for kind, path in written.items())
    return said + "."


def _outcome(chat: ChatContext, trim_db: float | None) -> BalanceOutcome:
    """The conversation's mix as a balance outcome (gains.json: the report and the listening kit read it)."""
    session = chat.session
    before = {n: r["lu_vs_anchor"] for n, r in chat.levels({n: 0.0 for n in session.names})["stems"].items()}
    after = {n: r["lu_vs_anchor"] for n, r in chat.levels()["stems"].items()}
    return BalanceOutcome.measured(
        before, after, session.reference_lu, chat.anchor, session=chat.id, daw_levels_db=session.faders_db or None,
        session_path=str(session.path.resolve()), planner="chat", status="exported", converged=False, iterations=0,
        strength_pct=100.0, gains_db=dict(chat.state.gains), gains_vs_anchor_db=chat.relative_gains(),
        advised_gains_db=dict(chat.state.gains), trim_db=trim_db, intervals_db=None)
