"""One balance's outcome: the schema of ``gains.json``, written and read by the same code.

The batch (agent/balance.py), the chat's export (agent/chat/exporting.py), the
report (anchormix/report.py) and the listening kit (anchormix/listen/) all make
or read a :class:`BalanceOutcome`; a folder any of them wrote can be reported.
Gains are dB relative to the stems as loaded (a DAW session's faders are in
them); levels are LU against the anchor.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, fields
from pathlib import Path
from typing import Any

__all__ = ["BalanceOutcome", "OUTCOME_FILE", "reference_error_db"]

OUTCOME_FILE = "gains.json"


def reference_error_db(lu_vs_anchor: dict[str, float | None], reference: dict[str, float] | None,
                       anchor: str) -> float | None:
    """Mean |LU vs. anchor - reference| over the non-anchor stems the reference names."""
    if not reference:
        return None
    errors = [abs(lu - reference[n]) for n, lu in lu_vs_anchor.items()
              if n != anchor and n in reference and lu is not None]
    return round(sum(errors) / len(errors), 3) if errors else None


@dataclass
class BalanceOutcome:
    """What a balance came to (the fields in ``gains.json``'s order)."""

    session: str  # the session's id (its output folder's name)
    daw_levels_db: dict[str, float] | None  # a DAW session's track levels the balance started from
    session_path: str
    anchor: str
    planner: str  # "rules", "alm", ... or "chat" for a conversation's export
    status: str  # converged | step cap | stuck | ... | exported (the chat)
    converged: bool
    iterations: int
    strength_pct: float
    gains_db: dict[str, float]  # what mix.wav got
    gains_vs_anchor_db: dict[str, float]
    advised_gains_db: dict[str, float]  # the whole advice (= gains_db at 100 % strength)
    lu_vs_anchor_before: dict[str, float | None]
    lu_vs_anchor_after: dict[str, float | None]
    reference_lu: dict[str, float] | None
    reference_error_db: dict[str, float | None] | None  # mean |error| vs the reference balance, before and after
    trim_db: float | None  # the mix's true-peak trim
    intervals_db: dict[str, float] | None  # the planner's 80 % half-widths per stem, where it gives them

    @classmethod
    def measured(cls, before: dict[str, float | None], after: dict[str, float | None],
                 reference: dict[str, float] | None, anchor: str, **fields_: Any) -> "BalanceOutcome":
        """An outcome from the levels before and after (the error against ``reference`` computed here)."""
        error = None
        if reference:
            error = {"before": reference_error_db(before, reference, anchor),
                     "after": reference_error_db(after, reference, anchor)}
        return cls(lu_vs_anchor_before=before, lu_vs_anchor_after=after, reference_lu=reference,
                   reference_error_db=error, anchor=anchor, **fields_)

    def to_json(self) -> str:
        return json.dumps(asdict(self), indent=2, ensure_ascii=False) + "\n"

    @classmethod
    def read(cls, path: str | Path) -> "BalanceOutcome":
        """The outcome in ``path`` (a gains.json, or the folder holding one); ``ValueError`` naming it otherwise."""
        path = Path(path)
        path = path / OUTCOME_FILE if path.is_dir() else path
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
        except FileNotFoundError:
            raise ValueError(f"{path}: no {OUTCOME_FILE} here; `anchormix balance` or the chat's export writes one") from None
        except (json.JSONDecodeError, UnicodeDecodeError) as err:
            raise ValueError(f"{path}: not valid JSON ({err})") from None
        names = [f.name for f in fields(cls)]
        missing = [n for n in names if n not in data] if isinstance(data, dict) else names
        if missing:
            raise ValueError(f"{path}: not a balance anchormix wrote (missing {', '.join(missing[:4])})")
        return cls(**{n: data[n] for n in names})
