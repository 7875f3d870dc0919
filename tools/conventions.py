"""Mixing knowledge in one place: the roles a stem can play, where each role conventionally sits against the
bass, the genres anchormix knows, and the reference balances of the genres it has conventions for.

The rule planner, the demo generator, the chat and the evaluation all read these tables; change a
number here and every one of them follows.
"""

from __future__ import annotations

__all__ = ["ROLES", "ROLE_TARGETS_LU", "PEAK_WEIGHT", "PEAK_OFFSET_DB", "peak_offset_db", "GENRES", "GENRE_REFERENCE_LU", "genre_targets"]

ROLES = (
    "bass", "kick", "snare", "drums", "hats", "vocals", "guitar",
    "keys", "pad", "lead", "strings", "brass", "fx", "other",
)

# Where each role conventionally sits against the bass, in LU (integrated loudness of the
# stem minus that of the bass). A starting point an engineer would recognise from
# pop/rock/electronic mixes: kick level with the bass, vocal on top, snare just under,
# hats, pads and effects well below. Against another anchor the table is re-referenced:
# target(stem) = table[stem role] - table[anchor role].
ROLE_TARGETS_LU: dict[str, float] = {
    "bass": 0.0,
    "kick": 0.0,
    "snare": -1.0,
    "drums": 0.0,
    "hats": -10.0,
    "vocals": 2.0,
    "guitar": -3.0,
    "keys": -5.0,
    "pad": -8.0,
    "lead": -3.0,
    "strings": -5.0,
    "brass": -4.0,
    "fx": -12.0,
    "other": -6.0,
}

# Producers leave a stem where its peaks sit (issue 28): a stem's crest factor (true peak less integrated
# loudness) against the anchor's tells its level better than its role. The peak planner's target is PEAK_WEIGHT
# of the level that puts the stem's true peak PEAK_OFFSET_DB[anchor role] from the anchor's, the rest its role's
# offset above (an anchor of another role: the bass's offset). Fitted on the train splits of the module and LMMS
# corpora by `anchormix data peaks` (model/evaluation/peak_fit.py).
PEAK_WEIGHT = 0.8
PEAK_OFFSET_DB: dict[str, float] = {"bass": -0.77, "kick": -2.41}


# Every genre a session may name: the demo presets first, then those the corpus reads off file names.
# The order is part of the shipped model (its genre embedding), so new genres go at the end.
GENRES = ("pop", "edm", "hiphop", "ballad", "ragtime", "blues", "jazz", "rock", "waltz", "march", "latin", "funk",
          "country", "electronic", "classical")

# Reference balances of the genres with written-down conventions: each role's LU against the bass.
# The demo generator mixes its songs to exactly these levels.
GENRE_REFERENCE_LU: dict[str, dict[str, float]] = {
    "pop": {"kick": 0.0, "snare": -1.0, "hats": -10.0, "bass": 0.0, "keys": -6.0, "pad": -10.0, "lead": -5.0,
            "vocals": 2.0},
    "edm": {"kick": 2.0, "snare": -2.0, "hats": -9.0, "bass": 0.0, "keys": -8.0, "pad": -6.0, "lead": -2.0,
            "vocals": 0.0},
    "hiphop": {"kick": 1.0, "snare": 0.0, "hats": -8.0, "bass": 0.0, "keys": -7.0, "pad": -11.0, "lead": -6.0,
               "vocals": 3.0},
    "ballad": {"kick": -6.0, "snare": -5.0, "hats": -14.0, "bass": 0.0, "keys": 1.0, "pad": -5.0, "lead": -4.0,
               "vocals": 4.0},
}


def peak_offset_db(anchor_role: str) -> float:
    """Where the peak planner puts a stem's true peak against an anchor of ``anchor_role``'s, dB."""
    return PEAK_OFFSET_DB.get(anchor_role, PEAK_OFFSET_DB["bass"])


def genre_targets(genre: str | None) -> dict[str, float]:
    """Role offsets from the bass (LU) a genre's reference balance sets; empty for a genre without one."""
    reference = GENRE_REFERENCE_LU.get(genre or "")
    if reference is None:
        return {}
    bass = reference.get("bass", 0.0)
    return {role: lu - bass for role, lu in reference.items()}

