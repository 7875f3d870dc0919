"""Leave one group out: every song scored by baselines that learnt nothing from its group (issue 28).

The LMMS corpus holds 12 songs by 6 producers; its valid split, 3 songs by 2 producers, cannot tell planners apart
by less than about a decibel. ``eval --folds producer`` scores every song once, each by the predictors that learn
(``constant``, ``conventions``, ``peaks-fitted``: anchormix/planners.py, ``LEARNT``) from the other producers'
songs alone; ``--folds package`` does the same by Debian package, the unit the module corpus splits by. The
planners that learn nothing from the corpus they are scored on (none, loudness, rules; peaks and the ALM with their
shipped numbers) are the same in every fold.
"""

from __future__ import annotations

from dataclasses import fields
from pathlib import Path
from typing import Callable

from anchormix.model.corpus import load_manifest
from anchormix.model.evaluation.baselines import Predictor
from anchormix.model.evaluation.evaluate import Evaluation, run_protocol

__all__ = ["FOLD_KEYS", "PredictorsFor", "song_group", "folds", "run_folds", "absorb"]

FOLD_KEYS = ("producer", "package")


def song_group(entry: dict, by: str) -> str:
    """A manifest entry's group: its producer (an LMMS demo's file name reads "Producer-Title", the convention of
    LMMS's own demos) or its Debian package (anything else, or ``by`` = "package")."""
    if by == "producer" and entry.get("kind") == "lmms":
        return str(entry.get("title") or entry["id"]).split("-")[0]
    return str(entry.get("package") or "sessions")


def folds(sessions: list[tuple[Path, str]], by: str) -> list[tuple[str, list[tuple[Path, str]], list[tuple[Path, str]]]]:
    """(group, the other groups' sessions as a train split, the group's sessions) per group, sorted by group."""
    if by not in FOLD_KEYS:
        raise ValueError(f"unknown fold key '{by}'; choose from {', '.join(FOLD_KEYS)}")
    entries: dict[Path, dict] = {}
    groups: dict[str, list[tuple[Path, str]]] = {}
    for folder, split in sessions:
        if folder.parent not in entries:
            entries[folder.parent] = load_manifest(folder.parent)["sessions"]
        entry = entries[folder.parent].get(folder.name, {"id": folder.name})
        groups.setdefault(song_group(entry, by), []).append((folder, split))
    if len(groups) < 2:
        raise ValueError(f"every session has the same {by} ({', '.join(groups) or 'none'}): nothing to leave out")
    return [(group, [(f, "train") for other, found in groups.items() if other != group for f, _ in found], held)
            for group, held in sorted(groups.items())]


def absorb(into: Evaluation, more: Evaluation) -> None:
    """Add ``more``'s errors, levels and counts to ``into`` (planners kept in first-seen order)."""
    for f in fields(Evaluation):
        mine, theirs = getattr(into, f.name), getattr(more, f.name)
        if f.name == "planners":
            into.planners = list(dict.fromkeys(mine + theirs))
        elif isinstance(mine, int):
            setattr(into, f.name, mine + theirs)
        else:
            _extend(mine, theirs)


def _extend(into: dict, more: dict) -> None:
    for key, value in more.items():
        if isinstance(value, dict):
            _extend(into.setdefault(key, {}), value)
        else:
            into.setdefault(key, []).extend(value)


# (the group left out, the other groups' sessions) -> the predictors that score the group
PredictorsFor = Callable[[str, list[tuple[Path, str]]], dict[str, Predictor]]


def run_folds(sessions: list[tuple[Path, str]], predictors_for: PredictorsFor, by: str, draws: int, seed: int,
              on_session: Callable[[Path], None] | None = None, protocol: str = "perturb",
              anchor_role: str | None = None) -> tuple[Evaluation, dict[str, dict[str, list[float]]]]:
    """Every group's sessions scored by ``predictors_for(group, the other groups' sessions)``: the merged
    evaluation, and each planner's errors per group (planner -> group -> e_i)."""
    merged, by_group = Evaluation([]), {}
    for group, train, held in folds(sessions, by):
        result = run_protocol(held, predictors_for(group, train), draws, seed, on_session, protocol, anchor_role)
        absorb(merged, result)
        for planner, errors in result.errors.items():
            by_group.setdefault(planner, {})[group] = errors
    return merged, by_group
