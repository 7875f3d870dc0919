"""Applying part of a proposal: a share of each move, some stems, or all but some; the rest stays proposed."""

from __future__ import annotations

__all__ = ["split_proposal"]


def split_proposal(proposal: dict[str, float], stems: list[str], exclude: bool,
                   share: float) -> tuple[dict[str, float], dict[str, float], str]:
    """(the changes to apply now, what stays proposed, the part in words): ``stems`` are the only ones applied, or
    with ``exclude`` the ones left out (none: every stem); ``share`` of each of their moves is applied."""
    chosen = [n for n in proposal if not stems or (n in stems) != exclude]
    changes = {n: round(proposal[n] * share, 1) for n in chosen}
    changes = {n: v for n, v in changes.items() if v != 0.0}
    rest = {n: round(v - changes.get(n, 0.0), 1) for n, v in proposal.items()}
    what = (f"{share:.0%} of " if share < 1.0 else "") + "the proposal" + (f" for {', '.join(chosen)}" if stems else "")
    return changes, {n: v for n, v in rest.items() if abs(v) >= 0.05}, what
