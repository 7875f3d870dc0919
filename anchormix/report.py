"""``anchormix report OUT/<session>``: one self-contained HTML page to judge a balance by eye and by ear.

From a balance's outcome (gains.json: agent/outcome.py, in memory when the batch
has just balanced it), its advice and trace, and its source stems: a chart of each stem's level against the anchor before and after (the
reference too, and the 80 % intervals where the planner gave them), each stem's
role and where it came from (session.json, the name, the name reader, the ear) with
its move and why the anchor is the anchor, a masking
heat map (stem x third-octave band) before and after, the advice, the trace as a
timeline, and two players, the mix before and after, **matched in integrated
loudness** so the ear judges the balance, not the volume. Charts are matplotlib
SVG inlined, audio Ogg Vorbis inlined as data URIs: nothing is fetched.
"""

from __future__ import annotations

import base64
import html
import io
import json
from pathlib import Path

import numpy as np
from markdown_it import MarkdownIt
from pedalboard.io import AudioFile

from anchormix.agent import BalanceOutcome
from anchormix.tools import Measurements, Session, load_session
from anchormix.tools.audio import write_text_atomic
from anchormix.tools.loudness import matching_gains_db
from anchormix.tools.outputs import claim_folder
from anchormix.tools.masking import BAND_CENTRES_HZ, NO_CELLS, masked_share, rest_of_mix
from anchormix.tools.measurements import BandLevels
from anchormix.tools.render import mix_down
from anchormix.tools.stem_store import BLOCK_FRAMES, let_go

from .plots import levels_svg, masking_svg
from .roles import models_held, read_unknown_roles

__all__ = ["write_report", "REPORT_FILE", "REPORT_LUFS", "advice_html"]

REPORT_FILE = "report.html"
REPORT_LUFS = -16.0  # both players' loudness, lower if a mix would peak above -1 dBFS
STYLE = """body{font:14px/1.45 system-ui,sans-serif;max-width:1000px;margin:2em auto;color:#222;padding:0 1em}
h1{font-size:1.5em}h2{font-size:1.15em;margin-top:1.6em;border-bottom:1px solid #ddd}
.players{display:flex;gap:2em}.players figure{margin:0}.advice{background:#f7f7f7;padding:0 1em}
ol.trace li{margin:.3em 0}.tool{font-family:monospace;background:#eef;padding:0 .3em}.muted{color:#777}
table.stems{border-collapse:collapse}table.stems td,table.stems th{padding:.15em .8em;border-bottom:1px solid #eee;
text-align:left}table.stems td.num{text-align:right;font-variant-numeric:tabular-nums}"""


def advice_html(advice: str) -> str:
    """advice.md as HTML (CommonMark; any HTML inside it is shown as text, never run)."""
    return MarkdownIt("commonmark", {"html": False}).render(advice)


def _read_trace(out_dir: Path) -> list[dict]:
    """trace.jsonl of a balance ([] for a chat export, whose tool records stay in its conversation)."""
    path = out_dir / "trace.jsonl"
    try:
        return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line] if path.is_file() else []
    except json.JSONDecodeError as err:
        raise ValueError(f"{path}: not valid JSON lines ({err})") from None


def _ogg_data_uri(audio: np.ndarray, sample_rate: int, gain_db: float) -> str:
    """``audio`` at ``gain_db`` as Ogg Vorbis in a data URI, encoded a block at a time (a mapped mix's blocks let
    go of once encoded: the song is never held whole, only its encoding)."""
    buffer, scale = io.BytesIO(), np.float32(10 ** (gain_db / 20))
    buffer.name = "mix.ogg"
    with AudioFile(buffer, "w", sample_rate, audio.shape[0], format="ogg", quality="128 kbps") as f:
        for start in range(0, audio.shape[1], BLOCK_FRAMES):
            f.write((audio[:, start : start + BLOCK_FRAMES] * scale).astype(np.float32))
            let_go(audio, start, start + BLOCK_FRAMES)
    return "data:audio/ogg;base64," + base64.b64encode(buffer.getvalue()).decode("ascii")


def _masking_grid(levels: BandLevels, gains: list[float]) -> list[list[float]]:
    """Per stem, per band: the share of its active cells the rest of the mix masks at ``gains`` (nan: inactive);
    the song read a stretch at a time."""
    moved = levels.moved(gains)
    loudest, results = moved.loudest(), [NO_CELLS] * len(gains)
    for stretch in moved.stretches():
        for i in range(len(gains)):
            results[i] += masked_share(stretch[i], rest_of_mix(stretch, i), loudest=float(loudest[i]))
    return [[np.nan if s is None else s for s in result.band_share] for result in results]


def _timeline(trace: list[dict]) -> str:
    """The trace as an ordered list: when (s since the start), which tool, what it found or why."""
    items, clock = [], 0.0
    for record in trace:
        clock += float(record.get("wall_ms") or 0.0) / 1000.0
        found = record.get("error") or record.get("rationale") or _summary(record.get("result"))
        items.append(f"<li><span class=muted>{clock:6.2f} s · step {record.get('step')} · {html.escape(str(record.get('node')))}"
                     f"</span> <span class=tool>{html.escape(str(record.get('tool') or '-'))}</span> {html.escape(found)}</li>")
    return "<ol class=trace>" + "".join(items) + "</ol>"


def _stems_table(session: Session, outcome: BalanceOutcome, anchor_rule: str) -> str:
    """Each stem's role, where the role came from, and the move: the table the levels chart is read with."""
    def cell(value: float | None, unit: str) -> str:
        return "<td class=num>" + ("-" if value is None else f"{value:+.1f} {unit}") + "</td>"

    rows = "".join(
        f"<tr><td>{html.escape(n)}{' (anchor)' if n == session.anchor else ''}</td><td>{html.escape(session.roles[n])}</td>"
        f"<td>{html.escape(session.role_sources.get(n, 'name'))}</td>{cell(outcome.gains_db.get(n, 0.0), 'dB')}"
        f"{cell(outcome.lu_vs_anchor_after.get(n), 'LU')}</tr>" for n in session.names)
    why = f"<p class=muted>The anchor: {html.escape(anchor_rule)}.</p>" if anchor_rule else ""
    return (f"{why}<table class=stems id=stems><tr><th>stem</th><th>role</th><th>role from</th><th>move</th>"
            f"<th>after, against the anchor</th></tr>{rows}</table>")


def _summary(result) -> str:
    if not isinstance(result, dict):
        return ""
    if "masked_share" in result:
        return f"masked {100 * result['masked_share']:.0f} % of the time at {result.get('worst_range') or '-'}"
    if "lu_vs_anchor" in result:
        return ", ".join(f"{n} {v:+.1f} LU" for n, v in result["lu_vs_anchor"].items() if v is not None)
    return ""


def write_report(out_dir: Path, outcome: BalanceOutcome | None = None, session: Session | None = None,
                 advice: str | None = None, measured: Measurements | None = None) -> Path:
    """Write ``out_dir/report.html`` for the balance in ``out_dir`` (atomically); its path. A balance just run
    passes its outcome, session and advice from memory (nothing is read back, nothing decoded again); otherwise
    they are read from the folder (a batch balance's or a chat export's). ``measured``: the balance's measurements
    of ``session``, whose band levels the masking chart reuses (else they are measured here)."""
    out_dir = Path(out_dir)
    outcome = outcome or BalanceOutcome.read(out_dir)
    if advice is None:
        advice = (out_dir / "advice.md").read_text(encoding="utf-8") if (out_dir / "advice.md").is_file() else ""
    trace = _read_trace(out_dir)
    # Read back, the outcome's anchor is all we know; in memory, why the session chose it.
    anchor_rule = "" if session is None else f"anchor by ear: {session.anchor_rule}" if session.anchor_by_ear \
        else session.anchor_rule
    if session is None:  # its unknown roles read again, as the balance read them
        session = load_session(outcome.session_path, outcome.anchor, models_held())
        read_unknown_roles(session)
    claim_folder(out_dir, session.read_only())
    names, anchor = session.names, session.anchor
    start = {n: 0.0 for n in names}  # the stems as loaded (a DAW session's faders are in them: the rough mix)
    after = outcome.gains_db
    mixes = [mix_down(session, start).audio, mix_down(session, after).audio]  # kept beside the stems, not in memory
    matching, target = matching_gains_db(mixes, session.sample_rate, REPORT_LUFS)
    levels = (measured if measured is not None and measured.session is session else Measurements(session)).bands
    charts = levels_svg(names, outcome.lu_vs_anchor_before, outcome.lu_vs_anchor_after, outcome.reference_lu,
                        outcome.intervals_db, anchor)
    heat = masking_svg(names, list(BAND_CENTRES_HZ), _masking_grid(levels, [start[n] for n in names]),
                       _masking_grid(levels, [after.get(n, 0.0) for n in names]))
    players = "".join(
        f"<figure><figcaption>{label}</figcaption><audio id={key} controls preload=auto "
        f"src='{_ogg_data_uri(mix, session.sample_rate, gain)}'></audio></figure>"
        for key, label, mix, gain in zip(("before", "after"), ("Before", "After"), mixes, matching))
    title = f"anchormix: {outcome.session} against the {anchor}"
    page = (f"<!doctype html><html lang=en><head><meta charset=utf-8><title>{html.escape(title)}</title>"
            f"<style>{STYLE}</style></head><body><h1>{html.escape(title)}</h1>"
            f"<p class=muted>Planner {html.escape(outcome.planner)}, {html.escape(str(outcome.status))} "
            f"after {outcome.iterations} steps.</p>"
            f"<h2>Listen: before and after, both at {target:.1f} LUFS</h2><div class=players>{players}</div>"
            f"<h2>Stems and their roles</h2>{_stems_table(session, outcome, anchor_rule)}"
            f"<h2>Levels against the {html.escape(anchor)}</h2><div id=levels-chart>{charts}</div>"
            f"<h2>Masking per band</h2><div id=masking-chart>{heat}</div>"
            f"<h2>Advice</h2><div class=advice>{advice_html(advice or '(no advice was written)')}</div>"
            f"<h2>Trace</h2>{_timeline(trace)}</body></html>\n")
    return write_text_atomic(out_dir / REPORT_FILE, page)
