"""``anchormix chat``: mix a session by conversation in the terminal.

Left (or top, in a narrow terminal): the stems table, live, and the masking
hot spots of the selected stem. Right (or below): the conversation and the
prompt. F7 shows the trace of the current turn: the same records as
``trace.jsonl``. The agent runs in a thread worker and posts back to the UI,
so the screen never freezes; keys and typed requests go through the same
:class:`~anchormix.agent.conversation.Conversation`.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from textual import on, work
from textual.app import App, ComposeResult
from textual.binding import Binding
from textual.containers import Container, Vertical, VerticalScroll
from textual.reactive import reactive
from textual.widgets import DataTable, Footer, Header, Input, Static

from anchormix.agent.chat import Conversation, Intent, Reply
from anchormix.model.shipped import DEFAULT_INTENT_CHECKPOINT
from anchormix.planners import planner_factory
from anchormix.roles import models_held, read_unknown_roles
from anchormix.stages import how_long, reading_roles

from .screens import AnchorPicker, ErrorScreen, ExportPicker

__all__ = ["ChatApp", "level_bar"]

NARROW = 110  # columns: below this the stems table sits above the conversation


def level_bar(lu: float | None, width: int = 10, low: float = -24.0, high: float = 6.0) -> str:
    """A text meter of a level against the anchor, ``low``..``high`` LU across ``width`` cells."""
    if lu is None:
        return "·" * width
    filled = round((min(max(lu, low), high) - low) / (high - low) * width)
    return "█" * filled + "·" * (width - filled)


def _sure(chat: Conversation, name: str) -> str:
    """The proposed move's 80 % interval ("±3.8"), "!" after it when the move is flagged (check it by ear)."""
    if name not in chat.state.proposal:
        return ""
    sure = chat.state.intervals.get(name)
    return ("" if sure is None else f"±{sure:.1f}") + ("!" if name in chat.state.flags else "")


def _signed(value: float | None) -> str:
    return "" if value is None else f"{round(value, 1) + 0.0:+.1f}"  # + 0.0: no "-0.0"


def _short(value: Any, limit: int = 48) -> str:
    text = value if isinstance(value, str) else json.dumps(value, default=str, separators=(",", ":"))
    return text if len(text) <= limit else text[: limit - 1] + "…"


class ChatApp(App):
    """One session, one conversation; outputs go to ``out_root/<session id>/``."""

    CSS_PATH = "app.tcss"
    TITLE = "anchormix"
    BINDINGS = [
        Binding("f2", "apply", "Apply"),
        Binding("f3", "undo", "Undo"),
        Binding("f4", "redo", "Redo"),
        Binding("f5", "pick_anchor", "Anchor"),
        Binding("f6", "export", "Export"),
        Binding("f7", "toggle_trace", "Trace"),
        Binding("f8", "toggle_theme", "Theme", show=False),
        Binding("ctrl+q", "quit", "Quit", priority=True),
    ]

    busy: reactive[bool] = reactive(True)
    show_trace: reactive[bool] = reactive(False)

    def __init__(self, session_path: str | Path, out_root: str | Path, anchor: str | None = None,
                 planner: str = "rules", intent_model: bool = True, resume: bool = True) -> None:
        super().__init__()
        self.session_path, self.out_root, self.anchor_arg = Path(session_path), Path(out_root), anchor
        self.planner_name, self.use_intent_model, self.resume = planner, intent_model, resume
        self.chat: Conversation | None = None
        self.selected: str | None = None

    # ----- layout ------------------------------------------------------------------------------------
    def compose(self) -> ComposeResult:
        yield Header()
        with Container(id="main"):
            with Vertical(id="mix-pane"):
                yield DataTable(id="stems", cursor_type="row", zebra_stripes=True)
                yield Static("", id="hotspots")
                yield DataTable(id="trace", cursor_type="row")
            with Vertical(id="chat-pane"):
                yield VerticalScroll(id="chat")
                yield Static("", id="status")
                yield Input(placeholder="balance · vocals +2 dB · why the keys? · what masks the vocal?", id="prompt")
        yield Footer()

    def on_mount(self) -> None:
        self.sub_title = f"{self.session_path.name}: opening…"
        stems = self.query_one("#stems", DataTable)
        for key, label in (("stem", "stem"), ("role", "role"), ("anchor", "⚓"), ("lufs", "LUFS"), ("lu", "vs ⚓"),
                           ("gain", "gain"), ("proposed", "prop."), ("sure", "±80%"), ("bar", "level")):
            stems.add_column(label, key=key)
        trace = self.query_one("#trace", DataTable)
        for label in ("step", "node", "tool", "arguments", "result", "error", "ms"):
            trace.add_column(label, key=label)
        self.query_one("#trace").display = False
        self._arrange(self.size.width)
        self.open_session()

    def on_resize(self, event) -> None:
        self._arrange(event.size.width)

    def _arrange(self, width: int) -> None:
        self.query_one("#main").set_class(width < NARROW, "narrow")

    # ----- loading -----------------------------------------------------------------------------------
    @work(thread=True, exclusive=True, group="agent")
    def open_session(self) -> None:
        def opening(stage: str) -> None:  # what the app is at, in the title bar, while a long session opens
            self.call_from_thread(setattr, self, "sub_title", f"{self.session_path.name}: {stage}…")

        def loaded(session) -> None:
            opening(reading_roles(len(session.names), session.duration_s))
            read_unknown_roles(session)

        try:
            opening("decoding the stems")
            chat = Conversation(self.session_path, self.out_root, self.anchor_arg, planner_factory(self.planner_name),
                                self.resume, on_load=loaded,
                                models=models_held(self.planner_name, intent=self.use_intent_model))
            opening("measuring loudness, true peak and masking")
            chat.ctx.measurements.measure_all()  # measure once, off the UI thread
            if self.use_intent_model:
                opening("loading the intent model")
                chat.intent_model = _load_intent_model()
        except (ValueError, OSError) as err:
            self.call_from_thread(self.push_screen, ErrorScreen(f"Cannot open {self.session_path}", str(err)))
            return
        self.call_from_thread(self._opened, chat)

    def _opened(self, chat: Conversation) -> None:
        self.chat = chat
        session = chat.session
        self.sub_title = f"{chat.id}: {len(session.names)} stems, {how_long(session.duration_s)}"
        for entry in chat.state.transcript:
            self._say(entry["role"], entry["text"])
        if chat.notice:
            self._say("notice", chat.notice)
        if not chat.state.transcript:
            model = "intent model + rules" if chat.intent_model else "rules"
            self._say("assistant", f"Session {chat.id}, anchor {chat.anchor} (planner {self.planner_name}, "
                                       f"intents: {model}). Ask me to balance, or nudge a stem.")
        self.selected = session.names[0]
        self._refresh_stems()
        self._show_trace(chat.state.last_trace)
        self.busy = False
        self.query_one("#prompt", Input).focus()

    # ----- turns -------------------------------------------------------------------------------------
    @on(Input.Submitted, "#prompt")
    def submitted(self, event: Input.Submitted) -> None:
        text = event.value.strip()
        if not text or self.busy or self.chat is None:
            return
        event.input.value = ""
        self._say("user", text)
        self.respond(None, text)

    def _run_key(self, intent: Intent, note: str) -> None:
        if self.busy or self.chat is None:
            self.bell()
            return
        self._say("user", note)
        self.respond(intent, note)

    @work(thread=True, exclusive=True, group="agent")
    def respond(self, intent: Intent | None, said: str) -> None:
        self.call_from_thread(setattr, self, "busy", True)
        bubble = self.call_from_thread(self._say, "assistant", "…")
        steps: list[str] = []

        def on_step(state: dict) -> None:
            record = (state.get("trace") or [{}])[-1]
            if record.get("node") and record.get("tool"):
                steps.append(f"{record['node']}: {record['tool']} {_short(record.get('arguments') or {}, 40)}")
                self.call_from_thread(bubble.update, "working…\n" + "\n".join(steps[-6:]))

        try:
            reply = self.chat.handle(said, on_step) if intent is None else self.chat.run(intent, said, on_step)
        except Exception as err:  # a bug must not take the session down with it
            reply = Reply(f"Something went wrong: {type(err).__name__}: {err}", Intent("help"))
        self.call_from_thread(self._turn_done, bubble, reply)

    def _turn_done(self, bubble: Static, reply: Reply) -> None:
        bubble.update(reply.text)
        self._refresh_stems()
        self._show_trace(reply.trace)
        self.busy = False
        self.query_one("#chat").scroll_end(animate=False)
        self.query_one("#prompt", Input).focus()

    def _say(self, role: str, text: str) -> Static:
        bubble = Static(text, classes=f"message {role}", markup=False)
        chat = self.query_one("#chat", VerticalScroll)
        chat.mount(bubble)
        chat.scroll_end(animate=False)
        return bubble

    def watch_busy(self, busy: bool) -> None:
        self.query_one("#prompt", Input).disabled = busy
        self.query_one("#status", Static).update("⏳ working…" if busy else "")

    # ----- the mix -----------------------------------------------------------------------------------
    def _refresh_stems(self) -> None:
        chat = self.chat
        table = self.query_one("#stems", DataTable)
        report = chat.levels()["stems"]
        relative = chat.relative_gains()
        row = table.cursor_row
        table.clear()
        for name, r in report.items():
            lu = r["lu_vs_anchor"]
            proposed = chat.state.proposal.get(name)
            source = chat.session.role_sources.get(name, "")
            role = r["role"] + (f" ({source.split(' (')[0]})" if source.startswith(("ear", "name reader")) else "")
            table.add_row(name, role, "⚓" if name == chat.anchor else "",
                          "silent" if r["lufs"] is None else f"{r['lufs']:.1f}", _signed(lu), _signed(relative[name]),
                          _signed(proposed), _sure(chat, name), level_bar(lu), key=name)
        table.move_cursor(row=min(row, len(report) - 1))
        self.title = f"anchormix · anchor {chat.anchor}"

    @on(DataTable.RowHighlighted, "#stems")
    def highlighted(self, event: DataTable.RowHighlighted) -> None:
        if self.chat is not None and event.row_key.value:
            self.selected = event.row_key.value
            self.hotspots(self.selected)

    @work(thread=True, exclusive=True, group="masking")
    def hotspots(self, name: str) -> None:
        text = self.chat.masking_hotspot(name)  # at the conversation's gains as they are now
        self.call_from_thread(self.query_one("#hotspots", Static).update, text)

    def _show_trace(self, records: list[dict]) -> None:
        table = self.query_one("#trace", DataTable)
        table.clear()
        for r in records:
            table.add_row(str(r.get("step", "")), r.get("node") or "", r.get("tool") or "",
                          _short(r.get("arguments") or {}), _short(r.get("result") or ""), _short(r.get("error") or ""),
                          f"{r.get('wall_ms', 0):.0f}")

    # ----- keys --------------------------------------------------------------------------------------
    def action_apply(self) -> None:
        self._run_key(Intent("apply"), "[F2] apply the proposal")

    def action_undo(self) -> None:
        self._run_key(Intent("undo"), "[F3] undo")

    def action_redo(self) -> None:
        self._run_key(Intent("redo"), "[F4] redo")

    def action_export(self) -> None:
        if self.busy or self.chat is None:
            self.bell()
            return

        def picked(formats: str | None) -> None:
            if formats is not None:
                self._run_key(Intent("export", value=formats or None), f"[F6] export the mix{' + ' + formats if formats else ''}")

        self.push_screen(ExportPicker(), picked)

    def action_pick_anchor(self) -> None:
        if self.busy or self.chat is None:
            self.bell()
            return
        stems = [(n, self.chat.session.roles[n]) for n in self.chat.session.names]

        def picked(name: str | None) -> None:
            if name and name != self.chat.anchor:
                self._run_key(Intent("anchor", [name], value=name), f"[F5] anchor: {name}")

        self.push_screen(AnchorPicker(stems, self.chat.anchor), picked)

    def action_toggle_trace(self) -> None:
        self.show_trace = not self.show_trace

    def watch_show_trace(self, show: bool) -> None:
        self.query_one("#trace").display = show

    def action_toggle_theme(self) -> None:
        self.theme = "textual-light" if self.theme == "textual-dark" else "textual-dark"


def _load_intent_model():
    """The shipped intent model, or None (the rules read intents alone) when it is missing."""
    from anchormix.model.intent.intent_model import IntentModel  # lazy: loads torch and the LLM, off the UI thread

    return IntentModel.load() if DEFAULT_INTENT_CHECKPOINT.exists() else None
