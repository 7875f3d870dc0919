"""Mixing by conversation: a person's words -> an intent -> tools on the session, with undo and redo.

One :class:`Conversation` per session. :meth:`Conversation.handle` takes what
the person typed and returns a :class:`Reply`: the answer, the intent it was
read as, and the trace records of the tools it ran (the same records as
``trace.jsonl``). Intents:

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
(model/intent_model.py) the rules decide when they recognise a request, the model when they do not
(:func:`combine`). The rules fill the slots (stems, amounts, genre) either way. The conversation is kept in the
session's ``checkpoint.sqlite`` (agent/chat/store.py): reopening it with the same output folder picks it up again.
Read-only answers are in agent/chat/answers.py; applying part of a proposal in agent/chat/proposal.py.
"""

from __future__ import annotations

import dataclasses
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

from anchormix.tools import REGISTRY, ToolContext, ToolError, load_session
from anchormix.tools.outputs import session_output_folder
from anchormix.tools.conventions import GENRE_REFERENCE_LU

from ..advice import gains_vs_anchor
from ..batch import session_id
from ..graph import run_balance
from ..planning import CONVERGENCE_DB, Planner
from ..rules import RulePlanner
from ..state import start_state
from ..trace import trace_record
from . import answers
from .exporting import export_mix
from .proposal import proposal_text, split_proposal
from .request_rules import Intent, combine, parse_intent
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


class Conversation:
    """A person mixing one session by conversation. Source files are only read; outputs go to ``out_root/<id>/``.

    ``planner`` makes the planner of a balance for a genre (the rules by default; the CLI passes the ALM's);
    ``intent_model`` reads a request's intent where the rules do not recognise it.
    """

    def __init__(self, session_path: str | Path, out_root: str | Path, anchor: str | None = None,
                 planner: Callable[[str | None], Planner] = rule_planner, resume: bool = True,
                 intent_model: Callable[[str], str] | None = None) -> None:
        self.session = load_session(session_path, anchor)
        self.id = session_id(self.session.path)
        protected = self.session.read_only()
        self.out_dir, moved = session_output_folder(out_root, self.id, protected)
        self.ctx = ToolContext.of(self.session, self.out_dir)  # at unity gain: the gains are ours
        self.make_planner = planner
        self._planner: Planner | None = None
        self.intent_model = intent_model  # text -> intent kind; rules when None
        self.gains: dict[str, float] = {n: 0.0 for n in self.session.names}
        self.genre = self.session.genre
        self.proposal: dict[str, float] = {}  # changes (dB) the last balance proposes, not yet applied
        self.reasons: dict[str, str] = {}  # why each stem was moved, from the balance that moved it
        self.flags: dict[str, str] = {}  # proposed moves to check by ear first: applied only when named
        self.intervals: dict[str, float] = {}  # 80 % interval half-width (dB) of each proposed move, when known
        self.written: dict[str, str] = {}  # the model's own sentence per proposed move (its advice writer)
        self.undo_stack: list[dict] = []
        self.redo_stack: list[dict] = []
        self.transcript: list[dict[str, str]] = []
        self.last_trace: list[dict[str, Any]] = []
        self.store = ConversationStore(self.out_dir / "checkpoint.sqlite")
        saved, self.notice = self.store.load() if resume else (None, None)
        self.notice = "; ".join(n for n in (moved, self.notice) if n) or None
        if saved and saved.get("fingerprint") != self.session.fingerprint():
            self.notice = "the session's audio changed since the last conversation: starting fresh"
        elif saved:
            self._restore(saved, anchor)

    # ----- state -------------------------------------------------------------------------------------
    @property
    def anchor(self) -> str:
        return self.session.anchor

    @property
    def planner(self) -> Planner:
        """The planner of the next balance (made on first use, and again after the genre changes)."""
        if self._planner is None:
            self._planner = self.make_planner(self.genre)
        return self._planner

    def _snapshot(self) -> dict:
        return {"gains": dict(self.gains), "anchor": self.anchor}

    def _state(self) -> dict:
        return {"fingerprint": self.session.fingerprint(), "gains": self.gains, "anchor": self.anchor,
                "genre": self.genre, "proposal": self.proposal, "reasons": self.reasons, "flags": self.flags,
                "intervals": self.intervals, "written": self.written, "undo": self.undo_stack, "redo": self.redo_stack,
                "transcript": self.transcript[-200:], "last_trace": self.last_trace}

    def _restore(self, saved: dict, anchor: str | None) -> None:
        self.gains.update({n: float(g) for n, g in saved.get("gains", {}).items() if n in self.gains})
        if anchor is None and saved.get("anchor") in self.gains:
            self._set_anchor(saved["anchor"])
        self.genre = saved.get("genre", self.genre)
        self.proposal = {n: v for n, v in saved.get("proposal", {}).items() if n in self.gains}
        self.reasons, self.flags, self.intervals, self.written = (saved.get(k, {}) for k in ("reasons", "flags",
                                                                                            "intervals", "written"))
        self.undo_stack, self.redo_stack = saved.get("undo", []), saved.get("redo", [])
        self.transcript, self.last_trace = saved.get("transcript", []), saved.get("last_trace", [])
        self.notice = f"resumed the conversation ({len(self.transcript) // 2} earlier requests)"

    def _set_anchor(self, name: str) -> None:
        self.session = dataclasses.replace(self.session, anchor=name)  # planners read the anchor from the state
        self.ctx = dataclasses.replace(self.ctx, session=self.session)  # the same measurements: the audio is the same

    def _change(self, gains: dict[str, float] | None = None, anchor: str | None = None) -> None:
        self.undo_stack.append(self._snapshot())
        self.redo_stack.clear()
        if gains is not None:
            self.gains = {n: round(g, 2) for n, g in gains.items()}
        if anchor is not None:
            self._set_anchor(anchor)

    def levels(self) -> dict[str, Any]:
        """``measure_loudness`` at the current gains."""
        return REGISTRY.call("measure_loudness", {}, self.ctx.at(self.gains))

    def relative_gains(self) -> dict[str, float]:
        return gains_vs_anchor(self.gains, self.anchor, self.session.names)

    def masking_hotspot(self, name: str) -> str:
        """One line on what masks ``name`` at the current gains (the chat app's hot-spot panel)."""
        return answers.masking_hotspot(self, name)

    # ----- turns -------------------------------------------------------------------------------------
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
            if intent.kind in ("help", "why", "masking", "levels"):
                answer, changed = getattr(answers, f"answer_{intent.kind}")(self, intent, trace), False
            else:
                answer, changed = getattr(self, f"_do_{intent.kind}")(intent, trace, on_step)
        except (ToolError, ValueError) as err:
            answer, changed = f"I could not do that: {err}", False
        reply = Reply(answer, intent, trace, changed)
        self.last_trace = trace
        self.transcript += [{"role": "user", "text": text}, {"role": "assistant", "text": answer}]
        self.store.save(self._state())
        return reply

    def tool(self, trace: list | None, tool: str, arguments: dict, rationale: str = "") -> Any:
        """Run one registry tool at the current gains; append its trace record to ``trace`` (unless None)."""
        started = time.perf_counter()
        ctx = self.ctx.at(self.gains)
        result, error = None, None
        try:
            result = REGISTRY.call(tool, arguments, ctx)
        except ToolError as err:
            error = str(err)
        if trace is not None:
            after = result["gains_db"] if tool == "apply_gains" and error is None else None
            trace.append(trace_record(len(trace) + 1, "chat", ctx, started, tool=tool, arguments=arguments,
                                      result=result, gains_after=after, rationale=rationale, error=error))
        if error:
            raise ToolError(error)
        return result

    def _apply(self, trace: list, changes: dict[str, float], rationale: str) -> None:
        """Gain changes through the apply_gains tool, undoable (a refused change leaves everything as it was)."""
        snapshot = self._snapshot()
        result = self.tool(trace, "apply_gains", {"changes_db": changes}, rationale)
        self.gains = {n: round(g, 2) for n, g in result["gains_db"].items()}
        self.undo_stack.append(snapshot)
        self.redo_stack.clear()

    def _do_balance(self, intent, trace, on_step):
        ctx = dataclasses.replace(self.ctx, out_dir=None)  # no output folder: balancing proposes, it does not render
        start = start_state(self.id, self.anchor, self.planner.name, self.gains)
        final = run_balance(self.planner, ctx, start, on_step=on_step)
        trace.extend(final.get("trace", []))
        self.proposal = {n: round(g - self.gains[n], 1) for n, g in final["gains_db"].items()
                         if abs(round(g - self.gains[n], 1)) >= 0.05}
        self.reasons.update({n: r for n, r in final.get("reasons", {}).items() if n in self.proposal})
        self.flags, self.intervals, self.written = ({n: v for n, v in (final.get(k) or {}).items() if n in self.proposal}
                                                    for k in ("flags", "intervals", "written"))
        if not self.proposal:
            return f"Nothing to move: every stem is within {CONVERGENCE_DB} dB of where I would put it against the " \
                   f"{self.anchor}.", False
        heading = f"Against the {self.anchor} I would move ({final.get('status')} after {final.get('iteration')} steps):"
        return proposal_text(heading, self.proposal, self.reasons, self.flags, self.written), False

    def _do_apply(self, intent, trace, on_step):
        """The proposal, or part of it ("half of it", "just the vocals", "all but the pad"); the rest stays proposed."""
        if not self.proposal:
            return "There is no proposal to apply; ask me to balance first.", False
        part = split_proposal(self.proposal, self.flags, intent.stems, intent.exclude, intent.share)
        if not part.changes:
            held = f" {', '.join(part.held)} waits for you to name it (check it by ear)." if part.held else ""
            return f"That leaves nothing to apply; the proposal moves {', '.join(self.proposal)}.{held}", False
        self._apply(trace, part.changes, f"apply {part.what}")
        self.proposal = part.rest
        return part.text(), True

    def _do_nudge(self, intent, trace, on_step):
        if not intent.stems:
            return f"Which stem? These are: {', '.join(self.session.names)}.", False
        if intent.amount_db is None:
            intent = dataclasses.replace(intent, amount_db=2.0)
        changes = {n: float(intent.amount_db) for n in intent.stems}
        if self.anchor in changes and len(changes) > 1:
            changes.pop(self.anchor)  # "everything louder but the anchor" keeps the anchor still
        self._apply(trace, changes, "requested in conversation")
        self.proposal = {n: v for n, v in self.proposal.items() if n not in changes}
        for n in changes:
            self.reasons[n] = f"you asked for {changes[n]:+.1f} dB"
        rel = self.relative_gains()
        return ", ".join(f"{n} {c:+.1f} dB (now {rel[n]:+.1f} dB against the {self.anchor})"
                         for n, c in changes.items()) + ".", True

    def _do_anchor(self, intent, trace, on_step):
        if not intent.value:
            return f"Which stem should be the anchor? These are: {', '.join(self.session.names)}.", False
        new = intent.value
        changed = new != self.anchor
        if not changed:
            text = f"The {new} is already the anchor."
        else:
            if not self.session.active.get(new, True):
                return f"{new} is silent; a silent stem cannot be the anchor.", False
            self._change(anchor=new)
            self.proposal = {}
            text = f"Anchor is now {new}; levels and advice are relative to it."
        if intent.then_balance:
            more, _ = self._do_balance(intent, trace, on_step)
            text += "\n" + more
        return text, changed

    def _step_history(self, source: list, target: list, word: str):
        if not source:
            return f"Nothing to {word}.", False
        target.append(self._snapshot())
        snap = source.pop()
        self.gains = dict(snap["gains"])
        if snap["anchor"] != self.anchor:
            self._set_anchor(snap["anchor"])
        self.proposal = {}
        rel = self.relative_gains()
        moved = ", ".join(f"{n} {rel[n]:+.1f}" for n in self.session.names if n != self.anchor and abs(rel[n]) >= 0.05)
        return f"{word.capitalize()} done. Anchor {self.anchor}; moves against it: {moved or 'none'}.", True

    def _do_undo(self, intent, trace, on_step):
        return self._step_history(self.undo_stack, self.redo_stack, "undo")

    def _do_redo(self, intent, trace, on_step):
        return self._step_history(self.redo_stack, self.undo_stack, "redo")

    def _do_genre(self, intent, trace, on_step):
        if intent.value is None:
            return f"Which genre? I know {', '.join(sorted(GENRE_REFERENCE_LU))}.", False
        self.genre = intent.value
        self._planner = None  # the next balance's planner follows the genre
        return f"Genre set to {self.genre}; the next balance uses its conventions.", False

    def _do_export(self, intent, trace, on_step):
        return export_mix(self, tuple(intent.value.split(",")) if intent.value else (), trace), False
