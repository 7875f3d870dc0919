"""What a long command is at, said as it works and shown where a person is watching: the progress bar of a job run
here, a status line on stderr, the chat's title bar.

The work says its stage with :func:`stage`; whoever shows it (anchormix/batch/jobs.py, :func:`working`, the chat)
registers where with :func:`stages_on`. Where nothing is registered (a worker process, a Ray task, a test) a stage is
said to no one.
"""

from __future__ import annotations

from contextlib import contextmanager
from typing import Callable, Iterator

from .views import errors, shown

__all__ = ["stage", "stages_on", "working", "how_long", "reading_roles"]

_STAGES: list[Callable[[str], None]] = []  # where the stage of the work running in this process shows, innermost last


def stage(text: str) -> None:
    """Say what a long command is doing now ("decoding the stems", "planning"): on the progress bar or status line of
    the work running in this process (:func:`stages_on`), and nowhere when none shows (a worker process, a test)."""
    if _STAGES:
        _STAGES[-1](text)


def how_long(seconds: float) -> str:
    """A song's length as a person says it: "8 s", "75 s", "5.0 min"."""
    return f"{seconds:.0f} s" if seconds < 90 else f"{seconds / 60:.1f} min"


def reading_roles(stems: int, seconds: float) -> str:
    """The stage of a session just decoded whose roles are read next (the balance's, measure's, the chat's)."""
    return f"{stems} stems of {how_long(seconds)}: reading the roles no name gives"


@contextmanager
def stages_on(show: Callable[[str], None]) -> Iterator[None]:
    """While inside, :func:`stage` shows its text through ``show``."""
    _STAGES.append(show)
    try:
        yield
    finally:
        _STAGES.pop()


@contextmanager
def working(first: str) -> Iterator[None]:
    """A status line on stderr while a one-session command works (``measure``), showing ``first`` and then each
    :func:`stage`; gone when it is done (and never drawn where stderr is not a terminal)."""
    with errors.status(shown(first)) as status, stages_on(lambda text: status.update(shown(text))):
        yield
