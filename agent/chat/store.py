"""The conversation's saved state: one JSON row in the session's ``checkpoint.sqlite`` (table ``conversation``),
beside the agent's own checkpoints, so reopening a session with the same output folder picks it up again."""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path

from ..checkpoint_db import open_checkpoint

__all__ = ["ConversationStore"]


class ConversationStore:
    """Load and save the conversation's state; an unreadable database is set aside, never deleted."""

    def __init__(self, path: Path) -> None:
        self.path = path

    @staticmethod
    def _table(conn: sqlite3.Connection) -> sqlite3.Connection:
        conn.execute("CREATE TABLE IF NOT EXISTS conversation (id INTEGER PRIMARY KEY CHECK (id = 1), state TEXT)")
        return conn

    def load(self) -> tuple[dict | None, str | None]:
        """The saved state, or None; and a notice when the database was unreadable (it is set aside)."""
        conn, notice = open_checkpoint(self.path)
        try:
            with conn:
                self._table(conn)
                row = conn.execute("SELECT state FROM conversation WHERE id = 1").fetchone()
            return (json.loads(row[0]) if row else None), notice
        except (json.JSONDecodeError, TypeError) as err:
            return None, f"{self.path}: the saved conversation is unreadable ({err}); starting fresh"
        finally:
            conn.close()

    def save(self, state: dict) -> None:
        conn = self._table(sqlite3.connect(self.path))
        try:
            with conn:  # one transaction: the row is the old state or the new one, never half
                conn.execute("INSERT OR REPLACE INTO conversation (id, state) VALUES (1, ?)", (json.dumps(state),))
        finally:
            conn.close()
