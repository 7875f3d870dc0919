"""Everything the ALM reads and writes as text: the prompt's parts, and the texts it learns with their parsers.

The prompt has one line per stem (index, role, measured LU against the anchor, an
anchor marker) followed by that stem's audio tokens (model/alm/network.py puts them in).
The balance prompt asks for the advice (:func:`advice_text`); the planning prompt
adds the calls made so far and the head's proposed moves (:func:`proposal_text`)
and asks for the next tool call (:func:`call_text`). Each text the model writes
has its parser here beside the writer (:func:`parse_advice`, :func:`read_call`).
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass

import numpy as np

__all__ = ["StemPrompt", "SYSTEM", "PLAN_TASK", "END_OF_TURN", "prompt_prefix", "stem_line", "plan_suffix",
           "proposal_text", "advice_text", "parse_advice", "call_text", "read_call", "history_entry"]

SYSTEM = "You balance multitrack stems against an anchor stem. Levels are LU relative to the anchor."
PLAN_TASK = "Next tool call: measure_masking, apply_gains or finish?"
END_OF_TURN = "<|im_end|>\n<|im_start|>assistant\n"  # closes the user's turn and opens the model's


@dataclass
class StemPrompt:
    """What the prompt says about one stem (the audio goes in separately)."""

    index: int
    role: str
    lu_vs_anchor: float
    is_anchor: bool


def prompt_prefix(genre: str | None) -> str:
    """The chat-template opening and the task; ``genre`` named when the model was trained with it (else None)."""
    prefix = f"<|im_start|>system\n{SYSTEM}<|im_end|>\n<|im_start|>user\nBalance these stems against the anchor."
    return prefix + (f" Genre: {genre}." if genre is not None else "")


def stem_line(stem: StemPrompt, mark_anchor: bool = True) -> str:
    """One stem's line; its audio tokens follow it."""
    marker = " ANCHOR" if stem.is_anchor and mark_anchor else ""
    return f"\nstem {stem.index}{marker} ({stem.role}) {stem.lu_vs_anchor:+.0f} LU:"


def plan_suffix(history: list[str], proposal: str | None) -> str:
    """What a planning prompt adds after the stems (the stems' part is the balance prompt's, token for token)."""
    return ("\nCalls so far: " + ("; ".join(history) if history else "none") + ".\nProposed moves: "
            + (proposal or "none") + ".\n" + PLAN_TASK)


def proposal_text(stems: list[StemPrompt], moves_db) -> str:
    """The moves a head proposes, as the planning prompt quotes them: from the largest boost to the largest
    cut, 0.1 dB, the anchor left out (so the most buried stem comes first)."""
    moves = sorted(((s.index, float(m)) for s, m in zip(stems, moves_db) if not s.is_anchor), key=lambda m: -m[1])
    return ", ".join(f"stem {i} {round(m, 1) + 0.0:+.1f} dB" for i, m in moves) or "none"


def advice_text(stems: list[StemPrompt], changes_db: np.ndarray) -> str:
    """The advice the LM learns to write: the moves of at least 1 dB, largest first."""
    moves = sorted(((s, c) for s, c in zip(stems, changes_db) if not s.is_anchor and abs(c) >= 1.0),
                   key=lambda m: -abs(m[1]))
    if not moves:
        return "Balanced: no moves."
    return " ".join(f"stem {s.index} {c:+.1f} dB;" for s, c in moves[:6])


_MOVE = re.compile(r"stem (\d+) ([+-]\d+(?:\.\d+)?) dB")


def parse_advice(text: str) -> dict[int, float]:
    """The moves written in an advice text, ``{stem index: dB}`` (the inverse of :func:`advice_text`)."""
    moves: dict[int, float] = {}
    for index, value in _MOVE.findall(text):
        moves.setdefault(int(index), float(value))
    return moves


def call_text(tool: str, stem_index: int | None = None) -> str:
    """The model's tool call as JSON text; stems are named by their prompt index ("stem 3")."""
    body: dict = {"tool": tool}
    if stem_index is not None:
        body["arguments"] = {"target": f"stem {stem_index}"}
    return json.dumps(body)


def read_call(text: str) -> tuple[str, int | None]:
    """``(tool, stem index or None)`` from the model's JSON text; raises ValueError when it is not one."""
    data = json.loads(text)
    if not isinstance(data, dict) or not isinstance(data.get("tool"), str):
        raise ValueError("not a tool call object")
    target = (data.get("arguments") or {}).get("target")
    if target is None:
        return data["tool"], None
    if not isinstance(target, str) or not target.startswith("stem ") or not target[5:].isdigit():
        raise ValueError(f"target {target!r} is not 'stem N'")
    return data["tool"], int(target[5:])


def history_entry(tool: str, stem_index: int | None = None) -> str:
    """How a call made earlier appears in the prompt's "Calls so far" line."""
    return tool if stem_index is None else f"{tool} stem {stem_index}"
