"""The chat's export: the mix and gains.json, and the DAW sessions the person asked for (F6 asks which)."""

from __future__ import annotations

import json

from anchormix.tools.audio import write_text_atomic

from ..advice import gains_vs_anchor
from ..daw import write_daw_sessions

__all__ = ["export_mix"]

_DAW_NAMES = {"ardour": "Ardour session", "reaper": "REAPER project"}


def export_mix(chat, formats: tuple[str, ...], trace: list) -> str:
    """Render the conversation's mix, write gains.json and the DAW sessions of ``formats``; what was written."""
    result = chat.tool(trace, "render", {}, "export the mix")
    relative = chat.relative_gains()
    gains = {"session": chat.id, "anchor": chat.anchor, "gains_db": chat.gains, "gains_vs_anchor_db": relative}
    write_text_atomic(chat.out_dir / "gains.json", json.dumps(gains, indent=2) + "\n")
    said = (f"Wrote {result['mix']} ({result['lufs']:.1f} LUFS, true peak {result['true_peak_dbtp']:.1f} dBTP"
            + (f", trimmed {result['trim_db']:+.1f} dB" if result["trim_db"] else "") + ") and gains.json")
    if formats or chat.session.project is not None:
        moves = gains_vs_anchor(chat.gains, chat.anchor, chat.session.names)
        notes = {n: f"{n} {moves[n]:+.1f} dB against the {chat.anchor}" for n in chat.session.names
                 if n != chat.anchor and abs(moves[n]) >= 0.05}
        written = write_daw_sessions(formats, chat.session, chat.id, chat.out_dir, chat.gains, notes,
                                     "\n".join(notes.values()), result["trim_db"] or 0.0)
        said += "; " + ", ".join(f"the {_DAW_NAMES[kind]} {path}" for kind, path in written.items())
    return said + "."
