"""The chat app's modal screens: the anchor picker, the export picker and the error screen."""

from __future__ import annotations

from rich.text import Text
from textual import on
from textual.app import ComposeResult
from textual.containers import Vertical
from textual.screen import ModalScreen, Screen
from textual.widgets import Footer, OptionList, Static
from textual.widgets.option_list import Option

__all__ = ["AnchorPicker", "ExportPicker", "ErrorScreen"]


class AnchorPicker(ModalScreen[str | None]):
    """Pick the anchor among the session's stems; Escape keeps the current one."""

    BINDINGS = [("escape", "dismiss(None)", "Cancel")]

    def __init__(self, stems: list[tuple[str, str]], current: str) -> None:
        super().__init__()
        self.stems, self.current = stems, current

    def compose(self) -> ComposeResult:
        with Vertical(id="picker"):
            yield Static("Anchor: the stem everything is balanced against", id="picker-title")
            options = [Option(f"{'⚓ ' if name == self.current else '  '}{name}  ({role})", id=name)
                       for name, role in self.stems]
            yield OptionList(*options, id="anchor-options")

    def on_mount(self) -> None:
        options = self.query_one(OptionList)
        options.highlighted = [name for name, _ in self.stems].index(self.current)
        options.focus()

    @on(OptionList.OptionSelected)
    def picked(self, event: OptionList.OptionSelected) -> None:
        self.dismiss(event.option.id)


class ExportPicker(ModalScreen[str | None]):
    """What F6 writes besides the mix and gains.json: "" (nothing more), "ardour", "reaper" or both; Escape cancels."""

    BINDINGS = [("escape", "dismiss(None)", "Cancel")]
    CHOICES = (("", "the mix only"), ("ardour", "+ an Ardour session"), ("reaper", "+ a REAPER project"),
               ("ardour,reaper", "+ both"))

    def compose(self) -> ComposeResult:
        with Vertical(id="picker"):
            yield Static("Export: mix.wav and gains.json, and a DAW session to open the balance in?", id="picker-title")
            yield OptionList(*(Option(label, id=key or "mix") for key, label in self.CHOICES), id="export-options")

    def on_mount(self) -> None:
        self.query_one(OptionList).focus()

    @on(OptionList.OptionSelected)
    def picked(self, event: OptionList.OptionSelected) -> None:
        self.dismiss("" if event.option.id == "mix" else event.option.id)


class ErrorScreen(Screen):
    """What the app shows instead of a traceback when a session cannot be opened."""

    BINDINGS = [("q", "leave", "Quit"), ("escape", "leave", "Quit"), ("ctrl+q", "leave", "Quit")]

    def __init__(self, title: str, message: str) -> None:
        super().__init__()
        self.title_text, self.message = title, message

    def compose(self) -> ComposeResult:
        with Vertical(id="error-box"):
            yield Static(self.title_text, id="error-title")
            yield Static(self.message, id="error-message", markup=False)
            yield Static("Nothing was written and your files are untouched. Press q to quit.", id="error-hint")
        yield Footer()

    def action_leave(self) -> None:
        self.app.exit(return_code=2, message=Text(f"error: {self.message}"))  # the CLI exits 2, as for bad input
