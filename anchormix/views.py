"""Everything the command line shows: the consoles, the progress bar and every table and panel (rich).

The commands compute; these functions only turn their results into renderables.
"""

from __future__ import annotations

import json
import os
import unicodedata
from typing import Any, Iterable

import numpy as np
from rich.console import Console, Group
from rich.panel import Panel
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table
from rich.text import Text

__all__ = ["console", "errors", "shown", "say", "progress", "levels_table", "masking_table", "before_after_table",
           "summary_table", "trace_panels", "eval_tables", "agent_eval_table", "advice_check_table", "advice_example",
           "advice_examples_markdown", "corpus_table", "corpus_built", "conventions_table_view"]

console = Console()
errors = Console(stderr=True)


def shown(text: Any) -> Text:
    """A name or message from the user's files as the terminal shows it: never read as rich markup, and control
    characters (an ESC would drive the terminal) as "?"."""
    return Text("".join("?" if unicodedata.category(c) == "Cc" and c not in "\n\t" else c for c in str(text)))


def say(kind: str, message: Any, style: str = "bold red") -> None:
    """One line on stderr: ``kind:`` in ``style``, then ``message`` as it is (:func:`shown`)."""
    errors.print(Text.assemble((f"{kind}:", style), " ", shown(message)), highlight=False, soft_wrap=True)


def progress() -> Progress:
    """The one progress bar of long commands (on stderr, so tables on stdout stay clean)."""
    return Progress(TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(),
                    console=errors)


def _fmt(value: float | None, unit: str = "", signed: bool = False) -> str:
    if value is None:
        return "silent"
    value = round(value, 1) + 0.0  # no "-0.0"
    return f"{value:+.1f}{unit}" if signed else f"{value:.1f}{unit}"


def _table(title: str, columns: Iterable[str], left: tuple[str, ...] = ()) -> Table:
    table = Table(title=title, title_justify="left")
    for column in columns:
        table.add_column(column, justify="left" if column in left else "right")
    return table


def levels_table(report: dict, reference: dict[str, float] | None = None, title: str = "Levels",
                 role_sources: dict[str, str] | None = None) -> Table:
    """A table of ``measure_loudness`` output, with the reference balance when known and where each role came
    from when given (session.json, name, name reader (p), ear (p))."""
    columns = ("stem", "role") + (("role from",) if role_sources else ()) + ("LUFS", "LU vs anchor", "true peak") + \
        (("reference", "off by") if reference else ())
    table = _table(title, columns, left=("stem", "role", "role from"))
    for name, row in report["stems"].items():
        marker = " (anchor)" if name == report["anchor"] else ""
        source = [role_sources.get(name, "")] if role_sources else []
        cells = [shown(name + marker), row["role"], *source, _fmt(row["lufs"]), _fmt(row["lu_vs_anchor"], signed=True),
                 _fmt(row["true_peak_dbtp"], " dBTP")]
        if reference:
            ref = reference.get(name)
            off = None if ref is None or row["lu_vs_anchor"] is None else row["lu_vs_anchor"] - ref
            cells += [_fmt(ref, signed=True) if ref is not None else "-", _fmt(off, " dB", signed=True) if off is not None else "-"]
        table.add_row(*cells)
    return table


def masking_table(rows: list[dict]) -> Table:
    table = Table(title="Masking by the rest of the mix (share of each stem's active band-frames)", title_justify="left")
    for column, justify in (("stem", "left"), ("masked", "right"), ("worst bands", "left"), ("range", "left")):
        table.add_column(column, justify=justify)
    for row in rows:
        bands = ", ".join(f"{b['band']} ({b['share']:.0%})" for b in row["worst_bands"]) or "-"
        table.add_row(shown(row["target"]), f"{row['masked_share']:.0%}", shown(bands), shown(row["worst_range"] or "-"))
    return table


def before_after_table(outcome) -> Table:
    """Levels against the anchor before and after a balance (a BalanceOutcome; and the reference when known)."""
    reference = outcome.reference_lu
    columns = ("stem", "before", "move", "after") + (("reference",) if reference else ())
    table = _table(f"{shown(outcome.session)}: levels against the anchor (LU)", columns, left=("stem",))
    for name, before in outcome.lu_vs_anchor_before.items():
        after = outcome.lu_vs_anchor_after.get(name)
        row = [shown(name), _fmt(before, signed=True), _fmt(outcome.gains_vs_anchor_db.get(name, 0.0), " dB", signed=True),
               _fmt(after, signed=True)]
        if reference:
            row.append(_fmt(reference[name], signed=True) if name in reference else "-")
        table.add_row(*row)
    error = outcome.reference_error_db
    if error:
        table.caption = f"mean error vs. reference: {error['before']:.1f} dB before, {error['after']:.1f} dB after"
    return table


def summary_table(rows: list[tuple[str, Any]], out: str) -> Table:
    """The batch summary: (session name, BalanceResult or None when it failed) per session."""
    table = Table(title=f"Balance summary (outputs in {out}/<session>/)", title_justify="left")
    for column in ("session", "result", "steps", "largest moves vs anchor (dB)", "error vs reference"):
        table.add_column(column)
    for name, value in rows:
        if value is None:
            table.add_row(shown(name), "[red]failed[/]", "-", "-", "-")
            continue
        outcome = value.outcome
        moves = sorted(((n, g) for n, g in outcome.gains_vs_anchor_db.items() if abs(g) >= 0.05), key=lambda m: -abs(m[1]))
        error = outcome.reference_error_db
        error = f"{error['before']:.1f} -> {error['after']:.1f} dB" if error else "-"
        status = outcome.status + (" (resumed)" if value.resumed else "")
        table.add_row(shown(name), status, str(outcome.iterations), shown(", ".join(f"{n} {g:+.1f}" for n, g in moves[:3]) or "none"),
                      error)
    return table


def _moves(record: dict[str, Any]) -> str:
    before, after = record.get("gains_before") or {}, record.get("gains_after") or {}
    moved = [f"{n} {before.get(n, 0.0):+.1f} -> {g:+.1f} dB" for n, g in after.items() if abs(g - before.get(n, 0.0)) > 1e-9]
    return "; ".join(moved)


def trace_panels(records: Iterable[dict[str, Any]]) -> Group:
    """One panel per trace record: tool, arguments, reason, result and moves."""
    panels = []
    for r in records:
        body = Text()
        if r.get("arguments"):
            body.append("args    ", style="dim").append(json.dumps(r["arguments"]) + "\n")
        if r.get("rationale"):
            body.append("why     ", style="dim").append(str(r["rationale"]) + "\n")
        if r.get("result") is not None:
            result = json.dumps(r["result"])
            body.append("result  ", style="dim").append((result[:300] + "...") if len(result) > 300 else result)
            body.append("\n")
        if _moves(r):
            body.append("gains   ", style="dim").append(_moves(r) + "\n", style="bold")
        if r.get("error"):
            body.append("error   ", style="dim").append(str(r["error"]) + "\n", style="bold red")
        title = f"step {r['step']} · {r['node']}" + (f" · {r['tool']}" if r.get("tool") else "")
        subtitle = f"{r.get('wall_ms', 0):.0f} ms"
        panels.append(Panel(body if body.plain else Text("-", style="dim"), title=title, title_align="left",
                            subtitle=subtitle, subtitle_align="right", border_style="red" if r.get("error") else "blue"))
    return Group(*panels)


def eval_tables(title: str, names: list[str], overall: dict[str, dict], groups: dict[str, dict],
                summarise) -> list[Table]:
    """The AnchorBalance table (with the spread of the levels each planner leaves, the reference's, their
    correlation, and the MAE left after the anchor's one best move per song), then MAE and bias by role and by genre
    (``groups``: label -> planner -> key -> errors)."""
    table = _table(title, ("planner", "MAE (dB)", "median", "within 1 dB", "within 2 dB", "within 3 dB", "spread (dB)",
                           "r", "after anchor move", "n"), left=("planner",))
    for p in names:
        m = overall[p]
        spread = f"{m['spread_db']:.1f} (ref {m['reference_spread_db']:.1f})" if "spread_db" in m else "-"
        moved = m.get("mae_after_anchor_move_db")
        table.add_row(p, f"{m['mae_db']:.2f}", f"{m['median_db']:.2f}", f"{m['within_1db']:.0%}",
                      f"{m['within_2db']:.0%}", f"{m['within_3db']:.0%}", spread,
                      f"{m['correlation']:.2f}" if "correlation" in m else "-",
                      "-" if moved is None else f"{moved:.2f}", str(m["n"]))
    tables = [table]
    for label, by in groups.items():
        keys = sorted({k for p in names for k in by.get(p, {})})
        view = _table(f"MAE (dB) by {label}, and in brackets the bias (median error; + is louder than the reference)",
                      (label, *names, "n"), left=(label,))
        for key in keys:
            cells = [summarise(by[p][key]) for p in names]
            view.add_row(key, *[f"{c['mae_db']:.2f} ({c['bias_db']:+.1f})" for c in cells], str(len(by[names[0]][key])))
        tables.append(view)
    return tables


def agent_eval_table(title: str, summaries: dict[str, dict]) -> Table:
    table = _table(title, ("planner", "final MAE (dB)", "median", "within 2 dB", "converged", "iterations",
                           "tool calls", "masking checks", "checked when raising 6 dB+", "invalid calls", "runs"),
                   left=("planner",))
    for name, m in summaries.items():
        table.add_row(name, f"{m['mae_db']:.2f}", f"{m['median_db']:.2f}", f"{m['within_2db']:.0%}",
                      f"{m['converged']:.0%}", f"{m['iterations']:.1f}", f"{m['tool_calls']:.1f}",
                      f"{m['masking_checks']:.1f}", f"{m['checked_when_raised']:.0%} of {m['raised_6db']}",
                      str(m["invalid_calls"]), str(m["runs"]))
    return table


def advice_check_table(title: str, summaries: dict[str, dict]) -> Table:
    """``eval --advice``: per source of the advice text (model, template), agent/grounding.advice_summary's shares."""
    table = _table(title, ("advice", "moves >= 1 dB", "explained", "claims", "grounded", "move = applied",
                           "words per move"), left=("advice",))
    for source, m in summaries.items():
        if m.get("moves"):
            table.add_row(source, str(m["moves"]), f"{m['explained']:.0%}", str(m["claims"]), f"{m['grounded']:.0%}",
                          f"{m['numbers_applied']:.0%}", f"{m['words']:.0f}")
    return table


def corpus_table(title: str, entries: list[dict]) -> Table:
    table = Table(title=title, title_justify="left")
    for column in ("session", "split", "genre", "stems", "anchor", "null test (dB)"):
        table.add_column(column)
    for e in entries:
        table.add_row(e["id"], e["split"], e["genre"], str(e["stems"]), e["anchor"],
                      "-" if e.get("null_db") is None else f"{e['null_db']:.1f}")
    return table


def corpus_built(out: str | os.PathLike, entries: list[dict], skipped: int, seconds: float) -> str:
    """What a corpus build ends on: its splits, what it skipped, how long it took, and (for module and LMMS stems
    whose names say no role) that the role tagger is the next step."""
    counts = {s: sum(e["split"] == s for e in entries) for s in ("train", "valid", "test")}
    said = f"splits {counts}; {skipped} skipped (reasons in manifest.json); built in {seconds:.0f} s"
    unnamed = sum(source == "unknown" for e in entries for source in e.get("role_sources", {}).values())
    if unnamed:
        said += (f"\n{unnamed} stems have no role from their names (\"other\" until tagged): "
                 f"`anchormix data features --sessions {out}` has the role tagger hear them")
    return said


def conventions_table_view(table: dict[str, dict[str, float]], scope: str = "train split") -> Table:
    view = _table(f"Per-role loudness against the bass, {scope} (LU)", ("role", "mean", "std", "count"),
                  left=("role",))
    for role, row in sorted(table.items(), key=lambda kv: -kv[1]["mean"]):
        view.add_row(role, f"{row['mean']:+.1f}", f"{row['std']:.1f}", str(row["count"]))
    return view


def tagger_table(report: dict) -> Table:
    """The role tagger's accuracy on held-out stems, per split and source (model.role_tagger.tagger_accuracy)."""
    view = _table(f"Role tagger: {report['train_stems']} labelled train stems, threshold {report['threshold']:.2f}",
                  ("split", "source", "stems", "top-1 accuracy", "tagged at threshold", "accuracy of those"),
                  left=("split", "source"))
    for split in ("valid", "test"):
        for source, row in report[split].items():
            tagged = "-" if row["tagged_accuracy"] is None else f"{100 * row['tagged_accuracy']:.0f} %"
            view.add_row(split, source, str(row["stems"]), f"{100 * row['accuracy']:.0f} %",
                         f"{100 * row['tagged_share']:.0f} %", tagged)
    return view


def corpus_summary_view(title: str, summary: dict[str, dict]) -> Table:
    """Per source: songs per split, stems, minutes, licences, role coverage, anchor rules, rejections
    (model.corpus.stats.corpus_summary)."""
    view = _table(title, ("source", "songs (train/valid/test)", "stems", "minutes", "roles known", "role from",
                          "anchor rule", "null test (median / worst dB)", "rejected (null test / other)", "licences"),
                  left=("source", "role from", "anchor rule", "licences"))

    def listed(counter) -> str:
        return "\n".join(f"{k}: {v}" for k, v in counter.most_common())

    for kind, row in summary.items():
        splits = row["sessions"]
        known = sum(v for r, v in row["roles"].items() if r != "other")
        view.add_row(kind, f"{sum(splits.values())} ({splits['train']}/{splits['valid']}/{splits['test']})",
                     str(row["stems"]), f"{row['minutes']:.0f}", f"{100 * known / max(1, row['stems']):.0f} %",
                     listed(row["role_sources"]), listed(row["anchor_rules"]),
                     (f"{np.median(row['null_db']):.1f} / {max(row['null_db']):.1f}" if row.get("null_db") else "-")
                     + (f"\n{row['level_checked']} by loudness" if row.get("level_checked") else ""),
                     f"{row['rejected_null_test']} / {row['rejected_other']}", str(len(row["licences"])))
    return view


def advice_example(title: str, state: dict, found: dict[str, list]) -> str:
    """One balance's advice for docs/advice_examples.md: per move, the model's sentence and the template's, each
    with what the check found (agent/grounding.check_sentence)."""
    lines = [f"### {title}", "", f"Anchor: {state['anchor']}.", ""]
    template, raw = ({c.stem: c for c in found.get(k, [])} for k in ("template", "model, as written"))
    for said in found["model"]:
        lines.append(f"- **{said.stem}**")
        written = raw.get(said.stem)
        for source, c in (("model", said), ("model, as written", written if written and written.text.rstrip(". ") !=
                                            said.text.rstrip(". ") else None), ("template", template.get(said.stem))):
            if c is not None:
                verdict = "; ".join(c.problems) or ("explained" if c.explained else "grounded, not explained")
                lines.append(f"  - {source}: {c.text} _({verdict})_")
    return "\n".join(lines) + "\n"


def advice_examples_markdown(examples: list[str], command: str) -> str:
    return ("# Advice examples: the model's writer and the template, on the same balances\n\n"
            f"Written by `anchormix {command}` (the first {len(examples)} balances). Each move of at least 1 dB: "
            "the sentence the advice writer wrote (model/advice/writer.py) as the advice shows it, the writer's own "
            "sentence where the check dropped a clause the trace does not back, and the template's; each with what "
            "the advice check found (agent/grounding.py): a problem, or whether a grounded masking or convention "
            "claim explains the move.\n\n" + "\n".join(examples))
