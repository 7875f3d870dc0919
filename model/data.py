"""Training draws for the ALM, generated on the fly from a corpus's cached features.

A draw takes one train-split session, picks an anchor (bass most often; also
kick, drums, vocals/lead, keys when present), a subset of 2..max_stems stems,
and perturbs every stem by p_i ~ U(-12, +12) dB. What the model sees: each
stem's log-mel shifted by p_i (exact: a gain moves log power by its dB; silence
stays at the floor, see features.shift_mel), its
role (replaced by "other" in a share of draws, as an unhelpful name would be),
its measured LU against the anchor, and the session's genre ("unknown" in a
share of draws). What it must predict: the stem's
reference LU against that anchor. Nothing re-decodes audio.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from anchormix.tools.session import SESSION_FILE

from .alm import StemPrompt
from .features import FLOOR_DB, shift_mel

__all__ = ["CorpusSession", "Draw", "load_corpus", "make_draw", "advice_text", "parse_advice"]

ANCHOR_ROLES = {"bass": 0.5, "kick": 0.15, "drums": 0.1, "vocals": 0.1, "lead": 0.05, "keys": 0.1}
PERTURB_DB = 12.0
GENRE_DROP = 0.3  # share of draws whose genre reads "unknown", as a session nobody labelled would


@dataclass
class CorpusSession:
    name: str
    genre: str
    names: list[str]
    roles: list[str]
    reference_lu: np.ndarray  # (S,) LU vs. the session's anchor at the reference balance
    mel: np.ndarray  # (S, n_mels, T) dB at the reference level, float16


@dataclass
class Draw:
    session: str
    stems: list[StemPrompt]
    mel: np.ndarray  # (S', n_mels, frames) float32 at perturbed levels
    target_lu: np.ndarray  # (S',) reference LU vs. the chosen anchor
    measured_lu: np.ndarray  # (S',) LU vs. the chosen anchor as perturbed
    anchor: int  # index into stems
    genre: str = "unknown"  # the session's genre as the prompt names it ("unknown" in a share of draws)


def load_corpus(root: Path, split: str = "train") -> list[CorpusSession]:
    """Sessions of ``split`` with their cached features (``anchormix data features`` builds them)."""
    from .evaluate import find_sessions

    sessions = []
    for folder, _ in find_sessions(root, split):
        meta = json.loads((folder / SESSION_FILE).read_text(encoding="utf-8"))
        cache = Path(root) / "features" / f"{folder.name}.npz"
        if not cache.exists() or not meta.get("reference_lu"):
            continue
        with np.load(cache, allow_pickle=False) as data:
            names, mel = [str(n) for n in data["names"]], data["mel"]
        keep = [i for i, n in enumerate(names) if n in meta["reference_lu"]]
        sessions.append(CorpusSession(
            folder.name, meta.get("genre", "unknown"), [names[i] for i in keep],
            [meta.get("roles", {}).get(names[i], "other") for i in keep],
            np.array([meta["reference_lu"][names[i]] for i in keep], dtype=np.float32), mel[keep]))
    if not sessions:
        raise ValueError(f"{root}: no '{split}' sessions with cached features; run `anchormix data features`")
    return sessions


def make_draw(session: CorpusSession, rng: np.random.Generator, frames: int, max_stems: int = 12,
              unhelpful_share: float = 0.2, genre_drop: float = GENRE_DROP) -> Draw:
    count = len(session.names)
    candidates = [i for i in range(count) if session.roles[i] in ANCHOR_ROLES]
    if candidates:
        weights = np.array([ANCHOR_ROLES[session.roles[i]] for i in candidates])
        anchor = int(rng.choice(candidates, p=weights / weights.sum()))
    else:
        anchor = int(rng.integers(count))
    others = [i for i in range(count) if i != anchor]
    size = int(rng.integers(1, min(max_stems, count)))  # other stems: 1 .. min(max_stems, count) - 1
    chosen = [anchor] + sorted(rng.choice(others, size=size, replace=False).tolist())
    order = rng.permutation(len(chosen))  # the anchor is not always first
    chosen = [chosen[i] for i in order]
    perturb = rng.uniform(-PERTURB_DB, PERTURB_DB, size=len(chosen)).astype(np.float32)
    a = chosen.index(anchor)
    reference = session.reference_lu[chosen] - session.reference_lu[anchor]
    measured = reference + perturb - perturb[a]
    total = session.mel.shape[-1]
    start = int(rng.integers(0, max(1, total - frames)))
    mel = shift_mel(session.mel[chosen, :, start : start + frames].astype(np.float32), perturb)
    if mel.shape[-1] < frames:
        mel = np.pad(mel, ((0, 0), (0, 0), (0, frames - mel.shape[-1])), constant_values=FLOOR_DB)
    unhelpful = rng.random() < unhelpful_share
    stems = [StemPrompt(k + 1, "other" if unhelpful else session.roles[i], float(measured[k]), k == a)
             for k, i in enumerate(chosen)]
    genre = "unknown" if rng.random() < genre_drop else session.genre
    return Draw(session.name, stems, mel, reference.astype(np.float32), measured.astype(np.float32), a, genre)


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
