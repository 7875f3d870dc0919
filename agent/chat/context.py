"""What every request handler works on: the session, the conversation's state, and the moves it may make.

:class:`ChatContext` holds the session (its anchor), the measured tool context,
the :class:`~anchormix.agent.chat.state.ChatState` and the output folder, and
offers the operations the handlers (agent/chat/handlers.py, answers.py,
exporting.py) share: a registry tool at the current gains (its record in the
turn's trace), an undoable change of gains or anchor. The conversation
(conversation.py) is one, with the turn-taking on top.
"""

from __future__ import annotations

import dataclasses
import time
from pathlib import Path
from typing import Any, Callable

from anchormix.tools import REGISTRY, Session, ToolContext, ToolError

from ..advice import gains_vs_anchor
from ..planning import Planner
from ..trace import trace_record
from .state import ChatState

__all__ = ["ChatContext"]


class ChatContext:
    """A session being mixed: ``session`` (its anchor), ``ctx`` (measured once, at unity gain: the gains are the
    state's), ``state``, ``out_dir`` and ``id``; ``make_planner`` makes the planner of a balance for a genre."""

    def __init__(self, session: Session, ctx: ToolContext, state: ChatState, out_dir: Path, id: str,
                 make_planner: Callable[[str | None], Planner]) -> None:
        self.session, self.ctx, self.state, self.out_dir, self.id = session, ctx, state, out_dir, id
        self.make_planner = make_planner
        self._planner: Planner | None = None

    @property
    def anchor(self) -> str:
        return self.session.anchor

    @property
    def planner(self) -> Planner:
        """The planner of the next balance (made on first use, and again after the genre changes)."""
        if self._planner is None:
            self._planner = self.make_planner(self.state.genre)
        return self._planner

    def set_genre(self, genre: str) -> None:
        self.state.genre = genre
        self._planner = None  # the next balance's planner follows the genre

    def set_anchor(self, name: str) -> None:
        self.session = dataclasses.replace(self.session, anchor=name)  # planners read the anchor from the state
        self.ctx = dataclasses.replace(self.ctx, session=self.session)  # the same measurements: the audio is the same

    def snapshot(self) -> dict:
        return {"gains": dict(self.state.gains), "anchor": self.anchor}

    def change(self, gains: dict[str, float] | None = None, anchor: str | None = None) -> None:
        """Change the gains and/or the anchor, undoably."""
        self.state.undo.append(self.snapshot())
        self.state.redo.clear()
        if gains is not None:
            self.state.gains = {n: round(g, 2) for n, g in gains.items()}
        if anchor is not None:
            self.set_anchor(anchor)

    def levels(self, gains: dict[str, float] | None = None) -> dict[str, Any]:
        """``measure_loudness`` at the current gains (or at ``gains``)."""
        return REGISTRY.call("measure_loudness", {}, self.ctx.at(self.state.gains if gains is None else gains))

    def relative_gains(self) -> dict[str, float]:
        return gains_vs_anchor(self.state.gains, self.anchor, self.session.names)

    def tool(self, trace: list | None, tool: str, arguments: dict, rationale: str = "") -> Any:
        """Run one registry tool at the current gains; append its trace record to ``trace`` (unless None)."""
        started = time.perf_counter()
        ctx = self.ctx.at(self.state.gains)
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

    def apply(self, trace: list, changes: dict[str, float], rationale: str) -> None:
        """Gain changes through the apply_gains tool, undoable (a refused change leaves everything as it was)."""
        snapshot = self.snapshot()
        result = self.tool(trace, "apply_gains", {"changes_db": changes}, rationale)
        self.state.gains = {n: round(g, 2) for n, g in result["gains_db"].items()}
        self.state.undo.append(snapshot)
        self.state.redo.clear()
