"""Applying part of a proposal: a share of each move, some stems, or all but some; the rest stays proposed. A
flagged move (unlike anything in the corpus) is held back until the person names its stem."""

from __future__ import annotations

from dataclasses import dataclass

__all__ = ["PartialApply", "proposal_text", "split_proposal"]


@dataclass
class PartialApply:
    changes: dict[str, float]  # dB to apply now
    rest: dict[str, float]  # what stays proposed (held moves included)
    held: list[str]  # flagged stems not named: they wait for confirmation
    what: str  # the part, in words ("50% of the proposal for vocals")

    def text(self) -> str:
        """What the person reads after the apply."""
        lines = [f"Applied {self.what}: " + ", ".join(f"{n} {v:+.1f} dB" for n, v in self.changes.items()) + "."]
        if self.rest:
            lines.append("Still proposed: " + ", ".join(f"{n} {v:+.1f} dB" for n, v in self.rest.items()) + ".")
        if self.held:
            lines.append(f"Held back until you name it: {', '.join(self.held)} (unlike anything in the corpus; "
                         "check it by ear).")
        return " ".join(lines)


def split_proposal(proposal: dict[str, float], flags: dict[str, str], stems: list[str], exclude: bool,
                   share: float) -> PartialApply:
    """``stems`` are the only ones applied, or with ``exclude`` the ones left out (none: every stem); ``share`` of
    each of their moves is applied. A flagged stem is applied only when ``stems`` names it."""
    named = bool(stems) and not exclude
    held = [n for n in proposal if n in flags and not (named and n in stems)]
    chosen = [n for n in proposal if n not in held and (not stems or (n in stems) != exclude)]
    changes = {n: round(proposal[n] * share, 1) for n in chosen}
    changes = {n: v for n, v in changes.items() if v != 0.0}
    rest = {n: round(v - changes.get(n, 0.0), 1) for n, v in proposal.items()}
    what = (f"{share:.0%} of " if share < 1.0 else "") + "the proposal" + (f" for {', '.join(chosen)}" if stems else "")
    return PartialApply(changes, {n: v for n, v in rest.items() if abs(v) >= 0.05}, held, what)


def proposal_text(heading: str, proposal: dict[str, float], reasons: dict[str, str], flags: dict[str, str],
                  written: dict[str, str] | None = None) -> str:
    """A balance's proposal as the person reads it: the largest move first, each with the model's sentence where it
    wrote one (``written``), else its reason, and its flag."""
    lines = [heading]
    for n in sorted(proposal, key=lambda k: -abs(proposal[k])):
        said = (written or {}).get(n)
        lines.append((f"- {said}" if said else f"- {n} {proposal[n]:+.1f} dB" + (f": {reasons[n]}" if n in reasons else ""))
                     + (f" (check it by ear: {flags[n]}; apply it by naming it)" if n in flags else ""))
    lines.append("Say \"apply\" to apply it (F2 in the chat app).")
    return "\n".join(lines)
