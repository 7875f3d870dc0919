"""The listeners' answers in SQLite: one transaction per trial, never overwritten; and the order each hears.

Each listener hears a trial's stimuli under letters (A, B, ...) in their own
random order (keyed by a secret of the test's, kept here and never sent, with
the listener and trial, so a page reload or a resumed session shows the same
order and no one can predict it from a name); :func:`order` is that mapping, the server turns
letters back into conditions before anything is stored.
"""

from __future__ import annotations

import hashlib
import hmac
import random
import secrets
import sqlite3
import time
from pathlib import Path

__all__ = ["ANSWERS_FILE", "AnswerStore", "order", "advice_order"]

ANSWERS_FILE = "answers.sqlite"
_SCHEMA = """
CREATE TABLE IF NOT EXISTS trials (listener TEXT, trial TEXT, at REAL, PRIMARY KEY (listener, trial));
CREATE TABLE IF NOT EXISTS ratings (listener TEXT, trial TEXT, condition TEXT, rating REAL,
                                    PRIMARY KEY (listener, trial, condition));
CREATE TABLE IF NOT EXISTS secret (value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS advice (listener TEXT, trial TEXT, planner TEXT, clear INTEGER, actionable INTEGER,
                                   musically_right INTEGER, PRIMARY KEY (listener, trial, planner));
"""


def order(secret: str, listener: str, trial: str, conditions: list[str]) -> list[str]:
    """The conditions in the order ``listener`` hears them in ``trial`` (letters A, B, ... in this order). The
    order is keyed by the test's ``secret`` (kept in answers.sqlite, never sent), so nobody can work it out from a
    listener's name."""
    shuffled = list(conditions)
    key = hmac.new(secret.encode(), f"{listener}\0{trial}".encode(), hashlib.sha256).hexdigest()
    random.Random(key).shuffle(shuffled)
    return shuffled


def advice_order(secret: str, listener: str, trial: str, planners: list[str]) -> list[str]:
    """The planners' advice in the order ``listener`` reads it (unnamed: "Advice 1", "Advice 2")."""
    return order(secret, listener, trial + "\0advice", sorted(planners))


class AnswerStore:
    """``answers.sqlite`` beside ``test.json``."""

    def __init__(self, folder: Path) -> None:
        self.path = Path(folder) / ANSWERS_FILE
        with self._connect() as db:
            db.executescript(_SCHEMA)
            db.execute("BEGIN IMMEDIATE")
            if db.execute("SELECT 1 FROM secret").fetchone() is None:
                db.execute("INSERT INTO secret VALUES (?)", (secrets.token_hex(32),))
            db.execute("COMMIT")
            self.secret: str = db.execute("SELECT value FROM secret").fetchone()[0]

    def _connect(self) -> sqlite3.Connection:
        return sqlite3.connect(self.path, timeout=30, isolation_level=None)

    def answered(self, listener: str) -> set[str]:
        with self._connect() as db:
            return {t for (t,) in db.execute("SELECT trial FROM trials WHERE listener = ?", (listener,))}

    def save(self, listener: str, trial: str, ratings: dict[str, float], advice: dict[str, dict[str, int]]) -> bool:
        """Store one trial's answers in one transaction; False (nothing written) when it was answered before."""
        db = self._connect()
        try:
            db.execute("BEGIN IMMEDIATE")
            if db.execute("SELECT 1 FROM trials WHERE listener = ? AND trial = ?", (listener, trial)).fetchone():
                db.execute("ROLLBACK")
                return False
            db.execute("INSERT INTO trials VALUES (?, ?, ?)", (listener, trial, time.time()))
            db.executemany("INSERT INTO ratings VALUES (?, ?, ?, ?)",
                           [(listener, trial, c, float(r)) for c, r in ratings.items()])
            db.executemany("INSERT INTO advice VALUES (?, ?, ?, ?, ?, ?)",
                           [(listener, trial, p, a["clear"], a["actionable"], a["musically_right"])
                            for p, a in advice.items()])
            db.execute("COMMIT")
            return True
        except BaseException:
            db.execute("ROLLBACK")
            raise
        finally:
            db.close()

    def ratings(self) -> list[tuple[str, str, str, float]]:
        with self._connect() as db:
            return list(db.execute("SELECT listener, trial, condition, rating FROM ratings ORDER BY 1, 2, 3"))

    def advice(self) -> list[tuple[str, str, str, int, int, int]]:
        with self._connect() as db:
            return list(db.execute("SELECT * FROM advice ORDER BY 1, 2, 3"))
