"""The per-session ``checkpoint.sqlite``: opened with a check, and set aside (never deleted) when unreadable."""

from __future__ import annotations

import sqlite3
import time
from pathlib import Path

__all__ = ["open_checkpoint"]


def open_checkpoint(path: Path) -> tuple[sqlite3.Connection, str | None]:
    """A connection to ``path``, and a notice when the old file was unreadable and a fresh one was started.

    An unreadable database (not SQLite, truncated, corrupt pages) is renamed to
    ``checkpoint.sqlite.unreadable-<time>`` beside it, so nothing is lost and
    the run starts over instead of crashing.
    """
    path = Path(path)
    notice = None
    if path.exists():
        try:
            conn = sqlite3.connect(path, check_same_thread=False)
            result = conn.execute("PRAGMA quick_check").fetchone()
            if result and result[0] == "ok":
                return conn, None
            problem = result[0] if result else "no answer to an integrity check"
            conn.close()
        except sqlite3.DatabaseError as err:
            problem = str(err)
            try:
                conn.close()
            except Exception:
                pass
        aside = path.with_name(f"{path.name}.unreadable-{time.strftime('%Y%m%d-%H%M%S')}")
        path.replace(aside)
        for extra in ("-wal", "-shm", "-journal"):  # SQLite's side files belong to the unreadable database
            side = path.with_name(path.name + extra)
            if side.exists():
                side.replace(aside.with_name(aside.name + extra))
        notice = f"{path}: unreadable checkpoint ({problem}); moved to {aside.name} and started fresh"
    return sqlite3.connect(path, check_same_thread=False), notice
