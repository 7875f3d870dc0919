"""The conversation's requests that change something, and :data:`HANDLERS`: every intent kind to its function.

Each handler takes the :class:`~anchormix.agent.chat.context.ChatContext`, the
intent, the turn's trace and the loop's ``on_step``, and returns (the answer,
whether the gains or the anchor changed). The read-only answers are in
answers.py, the export in exporting.py; the table names them all, so "find
usages" finds every handler.
"""

from __future__ import annotations

import dataclasses
from typing import Any, Callable

from anchormix.tools.conventions import GENRE_REFERENCE_LU

from ..graph import run_balance
from ..planning import CONVERGENCE_DB
from ..state import start_state
from . import answers
from .context import ChatContext
from .exporting import export_mix
from .proposal import proposal_text, split_proposal
from .request_rules import Intent

__all__ = ["HANDLERS", "Handler"]

Handler = Callable[[ChatContext, Intent, list, Callable[[dict], None] | None], tuple[str, bool]]


def balance(chat: ChatContext, intent: Intent, trace: list, on_step) -> tuple[str, bool]:
    state = chat.state
    ctx = dataclasses.replace(chat.ctx, out_dir=None)  # no output folder: balancing proposes, it does not render
    final = run_balance(chat.planner, ctx, start_state(chat.id, chat.anchor, chat.planner.name, state.gains),
                        on_step=on_step)
    trace.extend(final.get("trace", []))
    state.proposal = {n: round(g - state.gains[n], 1) for n, g in final["gains_db"].items()
                      if abs(round(g - state.gains[n], 1)) >= 0.05}
    state.reasons.update({n: r for n, r in final.get("reasons", {}).items() if n in state.proposal})
    state.flags, state.intervals, state.written = ({n: v for n, v in (final.get(k) or {}).items() if n in state.proposal}
                                                   for k in ("flags", "intervals", "written"))
    if not state.proposal:
        return f"Nothing to move: every stem is within {CONVERGENCE_DB} dB of where I would put it against the " \
               f"{chat.anchor}.", False
    heading = f"Against the {chat.anchor} I would move ({final.get('status')} after {final.get('iteration')} steps):"
    return proposal_text(heading, state.proposal, state.reasons, state.flags, state.written), False


def apply(chat: ChatContext, intent: Intent, trace: list, on_step) -> tuple[str, bool]:
    """The proposal, or part of it ("half of it", "just the vocals", "all but the pad"); the rest stays proposed."""
    state = chat.state
    if not state.proposal:
        return "There is no proposal to apply; ask me to balance first.", False
    part = split_proposal(state.proposal, state.flags, intent.stems, intent.exclude, intent.share)
    if not part.changes:
        held = f" {', '.join(part.held)} waits for you to name it (check it by ear)." if part.held else ""
        return f"That leaves nothing to apply; the proposal moves {', '.join(state.proposal)}.{held}", False
    chat.apply(trace, part.changes, f"apply {part.what}")
    state.proposal = part.rest
    return part.text(), True


def nudge(chat: ChatContext, intent: Intent, trace: list, on_step) -> tuple[str, bool]:
    if not intent.stems:
        return f"Which stem? These are: {', '.join(chat.session.names)}.", False
    amount = 2.0 if intent.amount_db is None else float(intent.amount_db)
    changes = {n: amount for n in intent.stems}
    if chat.anchor in changes and len(changes) > 1:
        changes.pop(chat.anchor)  # "everything louder but the anchor" keeps the anchor still
    chat.apply(trace, changes, "requested in conversation")
    chat.state.proposal = {n: v for n, v in chat.state.proposal.items() if n not in changes}
    for n in changes:
        chat.state.reasons[n] = f"you asked for {changes[n]:+.1f} dB"
    rel = chat.relative_gains()
    return ", ".join(f"{n} {c:+.1f} dB (now {rel[n]:+.1f} dB against the {chat.anchor})"
                     for n, c in changes.items()) + ".", True


def anchor(chat: ChatContext, intent: Intent, trace: list, on_step) -> tuple[str, bool]:
    if not intent.value:
        return f"Which stem should be the anchor? These are: {', '.join(chat.session.names)}.", False
    new = intent.value
    changed = new != chat.anchor
    if not changed:
        text = f"The {new} is already the anchor."
    else:
        if not chat.session.active.get(new, True):
            return f"{new} is silent; a silent stem cannot be the anchor.", False
        chat.change(anchor=new)
        chat.state.proposal = {}
        text = f"Anchor is now {new}; levels and advice are relative to it."
    if intent.then_balance:
        more, _ = balance(chat, intent, trace, on_step)
        text += "\n" + more
    return text, changed


def _step_history(chat: ChatContext, source: list, target: list, word: str) -> tuple[str, bool]:
    if not source:
        return f"Nothing to {word}.", False
    target.append(chat.snapshot())
    snap = source.pop()
    chat.state.gains = dict(snap["gains"])
    if snap["anchor"] != chat.anchor:
        chat.set_anchor(snap["anchor"])
    chat.state.proposal = {}
    rel = chat.relative_gains()
    moved = ", ".join(f"{n} {rel[n]:+.1f}" for n in chat.session.names if n != chat.anchor and abs(rel[n]) >= 0.05)
    return f"{word.capitalize()} done. Anchor {chat.anchor}; moves against it: {moved or 'none'}.", True


def undo(chat: ChatContext, intent: Intent, trace: list, on_step) -> tuple[str, bool]:
    return _step_history(chat, chat.state.undo, chat.state.redo, "undo")


def redo(chat: ChatContext, intent: Intent, trace: list, on_step) -> tuple[str, bool]:
    return _step_history(chat, chat.state.redo, chat.state.undo, "redo")


def genre(chat: ChatContext, intent: Intent, trace: list, on_step) -> tuple[str, bool]:
    if intent.value is None:
        return f"Which genre? I know {', '.join(sorted(GENRE_REFERENCE_LU))}.", False
    chat.set_genre(intent.value)
    return f"Genre set to {intent.value}; the next balance uses its conventions.", False


def export(chat: ChatContext, intent: Intent, trace: list, on_step) -> tuple[str, bool]:
    return export_mix(chat, tuple(intent.value.split(",")) if intent.value else (), trace), False


def _answer(read: Callable[[ChatContext, Intent, list], str]) -> Handler:
    """A read-only answer as a handler: it changes nothing."""
    def handle(chat: ChatContext, intent: Intent, trace: list, on_step: Any) -> tuple[str, bool]:
        return read(chat, intent, trace), False
    return handle


HANDLERS: dict[str, Handler] = {
    "balance": balance, "apply": apply, "nudge": nudge, "anchor": anchor, "undo": undo, "redo": redo,
    "genre": genre, "export": export,
    "help": _answer(answers.answer_help), "why": _answer(answers.answer_why),
    "masking": _answer(answers.answer_masking), "levels": _answer(answers.answer_levels),
}
