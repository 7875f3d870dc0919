"""``anchormix listen analyse TEST/``: the statistics of a MUSHRA test, as ITU-R BS.1534-3 asks for them.

1. Post-screening: a listener who rates the hidden reference below 90 in more
   than 15 % of their trials is excluded (and counted).
2. Per condition: the mean rating with its 95 % confidence interval (Student's t
   over every kept listener x trial).
3. Paired Wilcoxon signed-rank tests (the same listener and trial) of each
   condition against the hidden reference, and between the planners; p-values
   corrected for the number of comparisons by Holm's method.
4. Per planner, the mean advice ratings (clear, actionable, musically right; 1-5).

Written as ``analysis.json``, ``analysis.md`` (tables) and ``analysis.svg`` (plot);
``--sessions``/``--genres`` restrict it to some trials.
"""

from __future__ import annotations

import json
from itertools import combinations
from pathlib import Path

import numpy as np
from scipy import stats

from anchormix.tools.audio import write_text_atomic

from ..plots import mushra_svg
from .answers import AnswerStore
from .stimuli import PLANNERS, TEST_FILE

__all__ = ["analyse", "holm", "REFERENCE_FLOOR", "EXCLUDE_SHARE"]

REFERENCE_FLOOR, EXCLUDE_SHARE = 90.0, 0.15
_COMPARED = PLANNERS + ("loudness", "none")  # compared with each other, beside each against the reference


def holm(p_values: list[float]) -> list[float]:
    """Holm-Bonferroni adjusted p-values, in the order given."""
    ranked = sorted(range(len(p_values)), key=lambda i: p_values[i])
    adjusted, running = [0.0] * len(p_values), 0.0
    for rank, i in enumerate(ranked):
        running = max(running, min(1.0, (len(p_values) - rank) * p_values[i]))
        adjusted[i] = running
    return adjusted


def _mean_ci(values: list[float]) -> tuple[float, float]:
    values = np.asarray(values, dtype=float)
    if len(values) < 2:
        return float(values.mean()), float("nan")
    return float(values.mean()), float(stats.t.ppf(0.975, len(values) - 1) * values.std(ddof=1) / np.sqrt(len(values)))


def _wilcoxon(x: list[float], y: list[float]) -> float:
    if np.allclose(np.subtract(x, y), 0.0):
        return 1.0  # no difference at all: nothing to test
    return float(stats.wilcoxon(x, y).pvalue)


def analyse(folder: Path, sessions: list[str] | None = None, genres: list[str] | None = None) -> dict:
    """Analyse the answers in ``folder`` (optionally of some sessions or genres); writes and returns the result."""
    folder = Path(folder)
    test = json.loads((folder / TEST_FILE).read_text(encoding="utf-8"))
    trials = {t["id"]: t for t in test["trials"]
              if (not sessions or t["session"] in sessions) and (not genres or t["genre"] in genres)}
    store = AnswerStore(folder)
    heard: dict[tuple[str, str], dict[str, float]] = {}
    for listener, trial, condition, rating in store.ratings():
        if trial in trials:
            heard.setdefault((listener, trial), {})[condition] = rating
    if not heard:
        raise ValueError(f"{folder}: no answers" + (" for those sessions or genres" if sessions or genres else " yet"))
    listeners = sorted({listener for listener, _ in heard})
    low = {lst: np.mean([h[test["reference"]] < REFERENCE_FLOOR for (who, _), h in heard.items() if who == lst])
           for lst in listeners}
    excluded = sorted(lst for lst in listeners if low[lst] > EXCLUDE_SHARE)
    kept = sorted(k for k in heard if k[0] not in excluded)
    conditions = [c for c in test["conditions"] if all(c in heard[k] for k in kept)]
    means = {c: dict(zip(("mean", "ci95"), _mean_ci([heard[k][c] for k in kept])), n=len(kept)) for c in conditions}
    pairs = [(c, test["reference"]) for c in conditions if c != test["reference"]]
    pairs += list(combinations([c for c in conditions if c in _COMPARED], 2))
    raw = [_wilcoxon([heard[k][a] for k in kept], [heard[k][b] for k in kept]) for a, b in pairs] if kept else []
    tests = [{"a": a, "b": b, "p": p, "p_holm": q} for (a, b), p, q in zip(pairs, raw, holm(raw))]
    advice: dict[str, dict[str, float]] = {}
    for listener, trial, planner, *scores in store.advice():
        if trial in trials and listener not in excluded:
            advice.setdefault(planner, {"n": 0, "clear": 0.0, "actionable": 0.0, "musically_right": 0.0})
            row = advice[planner]
            row["n"] += 1
            for key, score in zip(("clear", "actionable", "musically_right"), scores):
                row[key] += score
    for row in advice.values():
        for key in ("clear", "actionable", "musically_right"):
            row[key] /= row["n"]
    result = {"listeners": len(listeners), "excluded": excluded, "trials": len({t for _, t in kept}),
              "ratings_per_condition": len(kept), "conditions": means, "wilcoxon": tests, "advice": advice,
              "subset": {"sessions": sessions, "genres": genres},
              "reference_from": {t["id"]: t.get("reference_from", "reference_lu") for t in trials.values()}}
    _write(folder, result)
    return result


def _reference_line(sources: dict[str, str]) -> str:
    delivered = sorted(t for t, s in sources.items() if s == "as delivered")
    if not delivered:
        return "The hidden reference is each session's reference balance."
    return (f"The hidden reference is the levels as delivered (the producer's own balance) in {len(delivered)} of "
            f"{len(sources)} trials ({', '.join(delivered)}), the session's reference balance in the others.")


def _write(folder: Path, result: dict) -> None:
    write_text_atomic(folder / "analysis.json", json.dumps(result, indent=2) + "\n")
    lines = [f"Listeners: {result['listeners']}, excluded by post-screening: {len(result['excluded'])} "
             f"({', '.join(result['excluded']) or 'none'}); {result['ratings_per_condition']} ratings per condition.",
             _reference_line(result["reference_from"]),
             "", "| condition | mean | 95 % CI | n |", "|---|---:|---:|---:|"]
    lines += [f"| {c} | {m['mean']:.1f} | ±{m['ci95']:.1f} | {m['n']} |" for c, m in result["conditions"].items()]
    lines += ["", "| comparison (Wilcoxon signed-rank, paired) | p | p (Holm) |", "|---|---:|---:|"]
    lines += [f"| {t['a']} vs {t['b']} | {t['p']:.3g} | {t['p_holm']:.3g} |" for t in result["wilcoxon"]]
    lines += ["", "| advice of | clear | actionable | musically right | n |", "|---|---:|---:|---:|---:|"]
    lines += [f"| {p} | {a['clear']:.2f} | {a['actionable']:.2f} | {a['musically_right']:.2f} | {a['n']} |"
              for p, a in sorted(result["advice"].items())]
    write_text_atomic(folder / "analysis.md", "\n".join(lines) + "\n")
    mushra_svg(result["conditions"], folder / "analysis.svg",
               f"{result['ratings_per_condition']} ratings per condition, {len(result['excluded'])} listener(s) excluded")
