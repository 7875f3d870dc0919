"""The conversation's read-only answers: why a stem moved, what masks it, where the levels sit.

Each takes the :class:`~anchormix.agent.chat.context.ChatContext` and the intent,
runs measurement tools through it (so each lands in the turn's trace), and returns
the text; none changes the gains or the anchor.
"""

from __future__ import annotations

from .context import ChatContext
from .request_rules import HELP, Intent

__all__ = ["answer_help", "answer_why", "answer_masking", "answer_levels", "masking_hotspot"]


def answer_help(chat: ChatContext, intent: Intent, trace: list) -> str:
    if intent.value:
        return f"I don't do {intent.value}: anchormix sets the levels of stems against an anchor. {HELP}"
    return HELP


def answer_why(chat: ChatContext, intent: Intent, trace: list) -> str:
    moved = {**chat.state.reasons, **chat.state.written}
    stems = intent.stems or sorted(moved, key=lambda n: -abs(chat.relative_gains().get(n, 0)))[:1]
    if not stems:
        return "I have not moved anything yet; ask me to balance, or name a stem."
    levels = chat.levels()["stems"]
    rel = chat.relative_gains()
    lines = []
    for n in stems:
        now = levels[n]["lu_vs_anchor"]
        where = f"now {now:+.1f} LU against the {chat.anchor}" if now is not None else "silent"
        pending = f" (proposed {chat.state.proposal[n]:+.1f} dB, not applied yet)" if n in chat.state.proposal else ""
        if n in chat.state.written:  # the model's own sentence, every claim in it backed by the balance's trace
            lines.append(f"{n}{pending}: {chat.state.written[n]} It is {where}.")
        elif n in chat.state.reasons:
            lines.append(f"{n}: moved {rel[n]:+.1f} dB against the {chat.anchor}{pending} because it {chat.state.reasons[n]}"
                         f"; {where}.")
        else:
            lines.append(f"{n}: I have not moved it; it sits {where}.")
    return "\n".join(lines)


def _maskers(chat: ChatContext, target: str, trace: list | None) -> tuple[dict, list[tuple[float, str, str]]]:
    """The rest of the mix's masking of ``target``, and (share, masker, worst range) per other stem, worst first."""
    session = chat.session
    overall = chat.tool(trace, "measure_masking", {"target": target}, f"what masks the {target}")
    by = []
    for other in session.names:
        if other != target and session.active[other]:
            r = chat.tool(trace, "measure_masking", {"target": target, "masker": other}, f"{other} vs {target}")
            by.append((r["masked_share"], other, r["worst_range"]))
    return overall, sorted(by, reverse=True)


def answer_masking(chat: ChatContext, intent: Intent, trace: list) -> str:
    session = chat.session
    target = (intent.stems or [n for n in session.names if session.roles[n] == "vocals"][:1] or [None])[0]
    if target is None:
        return "Which stem? e.g. \"what's masking the vocals?\""
    overall, by = _maskers(chat, target, trace)
    if overall["masked_share"] < 0.05:
        return f"Little masks the {target}: {overall['masked_share']:.0%} of its band-frames."
    top = [f"{o} {s:.0%}" + (f" at {r}" if r else "") for s, o, r in by[:3] if s >= 0.02]
    text = (f"The rest of the mix masks the {target} {overall['masked_share']:.0%} of the time"
            + (f", worst at {overall['worst_range']}" if overall["worst_range"] else "") + ".")
    return text + (" Most of it: " + ", ".join(top) + "." if top else "")


def masking_hotspot(chat: ChatContext, name: str) -> str:
    """One line for the chat app's hot-spot panel: how masked ``name`` is, where, and by what (no trace)."""
    if not chat.session.active[name]:
        return f"{name}: silent"
    overall, by = _maskers(chat, name, None)
    worst = f", worst {overall['worst_range']}" if overall["worst_range"] else ""
    top = ", ".join(f"{o} {s:.0%}" for s, o, _ in by[:2] if s >= 0.02)
    return f"{name}: masked {overall['masked_share']:.0%}{worst}" + (f" · by {top}" if top else "")


def answer_levels(chat: ChatContext, intent: Intent, trace: list) -> str:
    report = chat.tool(trace, "measure_loudness", {}, "show the levels")
    rel = chat.relative_gains()
    lines = [f"Levels against the {chat.anchor} (gain applied so far):"]
    for n, row in report["stems"].items():
        if intent.stems and n not in intent.stems:
            continue
        level = "silent" if row["lu_vs_anchor"] is None else f"{row['lu_vs_anchor']:+.1f} LU"
        lines.append(f"- {n}{' (anchor)' if n == chat.anchor else ''}: {level}, gain {rel[n]:+.1f} dB")
    return "\n".join(lines)
