"""The corpus on disk: one folder per session, a ``manifest.json`` of their splits, and finding them again.

Every song gets one session and one split (by a hash of its id), so no song's
audio is ever on both sides of a split.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import tempfile
from pathlib import Path
from typing import Any, Callable

import numpy as np

from anchormix.tools.audio import write_audio_atomic, write_text_atomic
from anchormix.tools.session import SESSION_FILE

__all__ = ["MANIFEST", "SONG_FEATURES", "song_features_path", "split_of", "load_manifest", "write_manifest",
           "not_built", "find_sessions", "write_session"]

MANIFEST = "manifest.json"
SONG_FEATURES = "songs"  # whole-song log-mel per stem, one .npz per session, where a source keeps them (modules)


def song_features_path(root: Path, session_id: str) -> Path:
    """Where a session's whole-song features live (training draws windows from every section of the song)."""
    return Path(root) / SONG_FEATURES / f"{session_id}.npz"


def split_of(song_id: str) -> str:
    """train (80 %) / valid (10 %) / test (10 %), fixed by a hash of the song id."""
    bucket = int(hashlib.sha1(song_id.encode()).hexdigest(), 16) % 100
    return "train" if bucket < 80 else "valid" if bucket < 90 else "test"


def not_built(root: Path, items: list, session_of: Callable[[Any], str], say: Callable[[str], None], what: str) -> list:
    """The ``items`` whose session (``session_of(item)``) the corpus at ``root`` does not hold yet (no manifest entry
    or no folder), in order; ``say`` how many it keeps (a second build keeps what is built)."""
    built = {sid for sid in load_manifest(root)["sessions"] if (Path(root) / sid).is_dir()}
    todo = [item for item in items if session_of(item) not in built]
    if len(todo) < len(items):
        say(f"{len(items) - len(todo)} {what} already in {root} (kept; delete a session's folder to redo it)")
    return todo


def load_manifest(root: Path) -> dict[str, Any]:
    path = Path(root) / MANIFEST
    if not path.exists():
        return {"sessions": {}, "skipped": {}}
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except json.JSONDecodeError as err:
        raise ValueError(f"{path}: not valid JSON ({err})") from None
    return {"sessions": {e["id"]: e for e in data.get("sessions", [])}, "skipped": data.get("skipped", {})}


def write_manifest(root: Path, manifest: dict[str, Any]) -> Path:
    entries = sorted(manifest["sessions"].values(), key=lambda e: e["id"])
    counts = {s: sum(e["split"] == s for e in entries) for s in ("train", "valid", "test")}
    body = {"version": 1, "counts": counts, "sessions": entries, "skipped": manifest["skipped"]}
    return write_text_atomic(Path(root) / MANIFEST, json.dumps(body, indent=2) + "\n")


def find_sessions(root: Path, split: str | None) -> list[tuple[Path, str]]:
    """(folder, split) of the sessions under ``root`` in ``split`` (None or "all": every one).

    A folder without a manifest has no splits: every session in it is returned, as split "all",
    whatever ``split`` asks for (a user's own folder of sessions is evaluated whole).
    """
    root = Path(root)
    if not root.is_dir():
        raise ValueError(f"{root}: not a folder of sessions")
    manifest = load_manifest(root)["sessions"] if (root / MANIFEST).exists() else {}
    found = []
    for folder in sorted(p for p in root.iterdir() if p.is_dir() and (p / SESSION_FILE).exists()):
        entry = manifest.get(folder.name)
        found.append((folder, entry["split"] if entry else "all"))
    if split and split != "all" and manifest:
        found = [(f, s) for f, s in found if s == split]
    if not found:
        raise ValueError(f"{root}: no sessions (folders with a {SESSION_FILE}) in split '{split}'")
    return found


def write_session(folder: Path, stems: dict[str, np.ndarray], roles: dict[str, str], sample_rate: int,
                  meta: dict[str, Any]) -> None:
    """Stems as 24-bit FLAC + session.json, built in a hidden sibling and renamed into place."""
    folder.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f".{folder.name}.", dir=folder.parent))
    try:
        for name, audio in stems.items():
            write_audio_atomic(staging / f"{name}.flac", audio, sample_rate)
        write_text_atomic(staging / SESSION_FILE, json.dumps({**meta, "roles": roles}, indent=2) + "\n")
        if folder.exists():
            shutil.rmtree(folder)
        os.rename(staging, folder)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
