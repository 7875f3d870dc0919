"""Where anchormix may write: the one output guard every writer goes through.

Rules (README, "Safety"):
- never onto a source file, never inside a source session folder or a DAW
  project's folder (``protected``: ``Session.read_only()``);
- a file goes only into a folder anchormix made: :func:`claim_folder` creates an
  output folder and leaves a marker file (``.anchormix``) in it; a folder that
  exists, holds files and has no marker is someone else's and is refused;
- nothing is deleted that anchormix did not create (temp files are its own).

A refusal is one ``ValueError`` line naming both paths.
"""

from __future__ import annotations

from pathlib import Path
from typing import Iterable

__all__ = ["MARKER", "check_output_path", "claim_folder", "session_output_folder", "check_replaceable"]

MARKER = ".anchormix"  # an empty file: "anchormix made this folder; its outputs may be replaced"
# Files only anchormix writes: a folder holding one was made by an earlier version (before the marker).
_EARLIER_OUTPUTS = ("checkpoint.sqlite", "trace.jsonl", "test.json")


def check_output_path(target: str | Path, protected: Iterable[Path] = ()) -> Path:
    """``target`` resolved, refusing any path onto a protected file or inside a protected folder."""
    target = Path(target).resolve()
    for item in protected:
        item = Path(item).resolve()
        if target == item or item in target.parents:
            raise ValueError(f"{target}: refusing to write inside {item} (source material is read-only)")
    return target


def _ours(folder: Path) -> bool:
    return (folder / MARKER).is_file() or any((folder / name).exists() for name in _EARLIER_OUTPUTS)


def claim_folder(folder: str | Path, protected: Iterable[Path] = ()) -> Path:
    """``folder`` resolved and ready for outputs: created with a marker, or one anchormix made before (or empty).
    ``ValueError`` naming it when it is protected, not a folder, or a folder of someone else's work."""
    folder = check_output_path(folder, protected)
    if folder.exists() and not folder.is_dir():
        raise ValueError(f"{folder}: exists and is not a folder; choose another output folder")
    if folder.is_dir() and not _ours(folder) and any(folder.iterdir()):
        raise ValueError(f"{folder}: a folder anchormix did not create (it holds files and no {MARKER}); refusing to "
                         f"write into it: choose another output folder")
    folder.mkdir(parents=True, exist_ok=True)
    (folder / MARKER).touch(exist_ok=True)
    return folder


def session_output_folder(out_root: str | Path, name: str, protected: Iterable[Path] = ()) -> tuple[Path, str | None]:
    """``out_root/<name>`` claimed for a session's outputs, and a notice: when that is a protected folder (a DAW
    project's own folder, say), ``out_root/<name>-anchormix`` instead, and the notice says so."""
    protected = [Path(p).resolve() for p in protected]
    target = (Path(out_root) / name).resolve()
    if target in protected:
        moved = target.with_name(f"{name}-anchormix")
        return claim_folder(moved, protected), f"{target} is the session's own folder: outputs went to {moved}"
    return claim_folder(target, protected), None


def check_replaceable(target: str | Path, protected: Iterable[Path] = (), what: str = "output",
                      written_by: str = "anchormix") -> Path:
    """A single output file the user named (``measure --json FILE``): not protected, and if it exists, a JSON file
    anchormix wrote (its ``"written_by"`` key) — never someone else's file."""
    target = check_output_path(target, protected)
    if target.exists():
        head = target.read_bytes()[:4096] if target.is_file() else b""
        if f'"written_by": "{written_by}"'.encode() not in head:
            raise ValueError(f"{target}: exists and is not a {what} anchormix wrote; refusing to overwrite it")
    return target
