"""Mixing by conversation: a person's words -> an intent -> tools on the session, with undo and redo.

One :class:`Conversation` per session. :meth:`Conversation.handle` takes what
the person typed and returns a :class:`Reply`: the answer, the intent it was
read as, and the trace records of the tools it ran (the same records as
``trace.jsonl``). Intents, each carried out by its function in
:data:`~anchormix.agent.chat.handlers.HANDLERS`:

======== ==================================================================
balance  run the agent loop against the anchor; its moves become a proposal
apply    apply the proposal, or part of it ("half of it", "just the vocals", "all but the pad")
anchor   change the anchor ("use the kick as anchor")
nudge    move one or more stems ("vocals a bit louder", "guitars down 2 dB")
why      explain a move: the model's grounded sentence, else the trace's measured numbers
masking  what masks a stem, per masker and frequency range
undo     undo the last change of gains or anchor
redo     redo it
genre    set the genre (the rule planner's targets follow it)
levels   show the levels against the anchor
export   render the mix to the output folder (and, asked, an Ardour session or a REAPER project)
help     anything else: what it can do
======== ==================================================================

:func:`~anchormix.agent.chat.request_rules.parse_intent` reads intents with rules; with the intent model loaded
(model/intent/) the rules decide when they recognise a request, the model when they do not (:func:`combine`).
The rules fill the slots (stems, amounts, genre) either way. What the conversation remembers is one
:class:`~anchormix.agent.chat.state.ChatState`, kept in the session's ``checkpoint.sqlite`` (agent/chat/store.py):
reopening it with the same output folder picks it up again.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

from anchormix.tools import Session, ToolContext, ToolError, load_session
from anchormix.tools.memory_bound import ModelsHeld
from anchormix.tools.outputs import session_output_folder

from ..balance import session_id
from ..planning import Planner
from ..rules import RulePlanner
from . import answers
from .context import ChatContext
from .handlers import HANDLERS
from .request_rules import Intent, combine, parse_intent
from .state import ChatState
from .store import ConversationStore

__all__ = ["Reply", "Conversation"]


@dataclass
class Reply:
    text: str
    intent: Intent
    trace: list[dict[str, Any]] = field(default_factory=list)
    changed: bool = False  # gains or anchor changed


def rule_planner(genre: str | None) -> Planner:
    """The conversation's planner when none is given: the rules, following the genre."""
    return RulePlanner(genre=genre)


class Conversation(ChatContext):
    """A person mixing one session by conversation. Source files are only read; outputs go to ``out_root/<id>/``.

    ``planner`` makes the planner of a balance for a genre (the rules by default; the CLI passes the ALM's);
    ``intent_model`` reads a request's intent where the rules do not recognise it.
    """

    def __init__(self, session_path: str | Path, out_root: str | Path, anchor: str | None = None,
                 planner: Callable[[str | None], Planner] = rule_planner, resume: bool = True,
                 intent_model: Callable[[str], str] | None = None,
                 on_load: Callable[[Session], None] | None = None, models: ModelsHeld | None = None) -> None:
        session = load_session(session_path, anchor, models)  # models: what they hold, charged before decoding
        if on_load:  # e.g. the roles the names do not give, read by the name reader and the ear
            on_load(session)
        heard = session.anchor if session.anchor_by_ear else None  # the ear's choice, said unless a resume changed it
        sid = session_id(session.path)
        out_dir, moved = session_output_folder(out_root, sid, session.read_only())
        state = ChatState(gains={n: 0.0 for n in session.names}, genre=session.genre)
        super().__init__(session, ToolContext.of(session, out_dir), state, out_dir, sid, planner)
        self.intent_model = intent_model  # text -> intent kind; rules when None
        self.store = ConversationStore(out_dir / "checkpoint.sqlite")
        saved, notice = self.store.load() if resume else (None, None)
        if saved and saved.get("fingerprint") != session.fingerprint():
            notice = "the session's audio changed since the last conversation: starting fresh"
        elif saved:
            self.state = ChatState.restored(saved, session.names, session.genre)
            if anchor is None and saved.get("anchor") in self.state.gains:
                self.set_anchor(saved["anchor"])
            notice = f"resumed the conversation ({len(self.state.transcript) // 2} earlier requests)"
        by_ear = f"anchor by ear: {session.anchor_rule} (F5 changes it)" if heard and heard == self.anchor else None
        self.notice = "; ".join(n for n in (by_ear, moved, notice) if n) or None

    def masking_hotspot(self, name: str) -> str:
        """One line on what masks ``name`` at the current gains (the chat app's hot-spot panel)."""
        return answers.masking_hotspot(self, name)

    def intent(self, text: str) -> Intent:
        parsed = parse_intent(text, self.session.names, self.session.roles)
        if parsed.kind == "anchor" and parsed.value == self.anchor and parsed.then_balance:
            parsed = Intent("balance")  # "balance against the bass" when the bass already is the anchor
        return combine(parsed, self.intent_model(text) if self.intent_model is not None else None)

    def handle(self, text: str, on_step: Callable[[dict], None] | None = None) -> Reply:
        """Answer one message; never raises for a request it cannot serve (it says so instead)."""
        return self.run(self.intent(text), text, on_step)

    def run(self, intent: Intent, said: str | None = None, on_step: Callable[[dict], None] | None = None) -> Reply:
        """Carry out ``intent`` (from words, or from a key in the app: ``said`` is then a note of the key)."""
        text = said if said is not None else f"[{intent.kind}{' ' + intent.value if intent.value else ''}]"
        trace: list[dict[str, Any]] = []
        try:
            answer, changed = HANDLERS[intent.kind](self, intent, trace, on_step)
        except (ToolError, ValueError) as err:
            answer, changed = f"I could not do that: {err}", False
        self.state.last_trace = trace
        self.state.transcript += [{"role": "user", "text": text}, {"role": "assistant", "text": answer}]
        self.store.save(self.state.saved(self.anchor, self.session.fingerprint()))
        return Reply(answer, intent, trace, changed)
