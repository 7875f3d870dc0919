"""What a corpus holds, per source: songs, stems, minutes, licences, rejections, role coverage and anchor rules.

Read from the manifest and the sessions' ``session.json`` only (no audio), so
``anchormix data stats`` answers in a second on a corpus of any size.
"""

from __future__ import annotations

import json
from collections import Counter
from pathlib import Path
from typing import Any

from anchormix.tools.session import SESSION_FILE

from .manifest import load_manifest

__all__ = ["corpus_summary"]


def _source_of_role(entry: dict, name: str, role: str) -> str:
    """Where a stem's role came from: a module's manifest says (name, tag, unknown); MIDI and procedural stems
    know theirs from the General MIDI program or the generator."""
    sources = entry.get("role_sources")
    if sources is None:
        return "known" if role != "other" else "unknown"
    said = sources.get(name, "unknown")
    named = ("instrument name", "sample name", "track name", "mixer channel name")
    return "tag" if said.startswith("tagged") else "name" if said in named else "unknown"


def corpus_summary(root: Path) -> dict[str, dict[str, Any]]:
    """Per source (the manifest's kind): sessions per split, stems, minutes (whole songs where known, else the
    kept excerpts), licences, where roles came from, the anchor rules that fired, the kept songs' null tests (dB)
    and songs rejected by the null test or otherwise."""
    manifest = load_manifest(root)
    summary: dict[str, dict[str, Any]] = {}
    for entry in manifest["sessions"].values():
        row = summary.setdefault(entry.get("kind", "sessions"), {
            "sessions": Counter(), "stems": 0, "minutes": 0.0, "licences": Counter(), "roles": Counter(),
            "role_sources": Counter(), "anchor_rules": Counter(), "rejected_null_test": 0, "rejected_other": 0,
            "null_db": [], "level_checked": 0})
        meta = json.loads((Path(root) / entry["id"] / SESSION_FILE).read_text(encoding="utf-8"))
        row["sessions"][entry["split"]] += 1
        if entry.get("level_check"):  # renders differ run to run: kept on the sum's loudness, not a null test
            row["level_checked"] += 1
        elif entry.get("null_db") is not None:
            row["null_db"].append(float(entry["null_db"]))
        row["stems"] += len(meta.get("reference_lu", {}))
        row["minutes"] += float(entry.get("song_seconds") or _excerpt_seconds(meta)) / 60.0
        row["licences"][(entry.get("licence") or "unknown").split(" (Debian package")[0][:60]] += 1
        row["anchor_rules"][entry.get("anchor_rule", "bass or kick by program" if entry.get("kind") == "midi"
                                      else "the generator's bass")] += 1
        for name in meta.get("reference_lu", {}):
            role = meta.get("roles", {}).get(name, "other")
            row["roles"][role] += 1
            row["role_sources"][_source_of_role(entry, name, role)] += 1
    for reason in manifest["skipped"].values():
        source = reason.split(":")[0].lower()
        kind = "module" if source.endswith((".mod", ".xm", ".s3m", ".it")) else \
            "lmms" if source.endswith((".mmp", ".mmpz")) else "midi"
        row = summary.get(kind)
        if row is not None:
            row["rejected_null_test" if "null test" in reason else "rejected_other"] += 1
    return {kind: {**row, "minutes": round(row["minutes"], 1)} for kind, row in sorted(summary.items())}


def _excerpt_seconds(meta: dict) -> float:
    """A session's kept length, from its source line where it says ("excerpt 12-42 s"), else 30 s."""
    source = meta.get("source", "")
    if "excerpt " in source:
        start, end = source.split("excerpt ")[1].split(" s")[0].split("-")
        return float(end) - float(start)
    return 30.0
