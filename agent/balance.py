"""Balance one session folder for the batch: checkpoint, resume, trace, outputs.

Outputs go to ``<out>/<session id>/``: ``mix.wav``, ``gains.json``,
``advice.md``, ``trace.jsonl`` and ``checkpoint.sqlite`` (LangGraph's SQLite
checkpointer, thread id = session id); with ``daw``, an Ardour session
(``ardour/<id>.ardour``) and a REAPER project (``<id>.RPP``) whose faders are the
gains ``mix.wav`` got (tools/daw/). Every file is written atomically; a
run killed at any point resumes from its last completed step when started
again with the same output folder, unless the source files changed since.
"""

from __future__ import annotations

import json
import re
import shutil
import time
from contextlib import closing
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Callable

from anchormix.tools import Measurements, Session, ToolContext, load_session
from anchormix.tools.audio import write_text_atomic
from anchormix.tools.memory_bound import ModelsHeld
from anchormix.tools.outputs import MARKER, session_output_folder

from .advice import gains_vs_anchor, stem_notes
from .checkpoint_db import open_checkpoint
from .daw import write_daw_sessions
from .graph import MAX_STEPS, run_balance, saved_state
from .outcome import BalanceOutcome
from .planning import Planner
from .state import AgentState, start_state

if TYPE_CHECKING:
    from langgraph.checkpoint.sqlite import SqliteSaver

__all__ = ["BalanceResult", "balance_session", "session_id"]


@dataclass
class BalanceResult:
    """A batch run of one session: its outcome (gains.json) and how the run went."""

    outcome: BalanceOutcome
    out_dir: Path
    resumed: bool
    advice: str
    notice: str | None = None  # e.g. an unreadable checkpoint that was set aside
    files: dict[str, str] = field(default_factory=dict)


def session_id(path: Path) -> str:
    """A file-system-safe id from the session folder's name (a DAW session's file name, without its suffix)."""
    path = Path(path).resolve()
    return re.sub(r"[^\w.\-]+", "_", path.stem if path.is_file() else path.name).strip("._") or "session"


def _write_trace(path: Path, trace: list[dict[str, Any]], protected: list[Path]) -> None:
    write_text_atomic(path, "".join(json.dumps(r, default=str) + "\n" for r in trace), protected)


def _output_dir(session: Session, out_root: str | Path, protected: list[Path]) -> tuple[Path, str | None]:
    """``out_root/<session id>`` (``<id>-anchormix`` when that is the session's own folder, and a notice saying so),
    claimed by the output guard (tools/outputs.py), cleared of a killed run's temp files."""
    out_dir, notice = session_output_folder(out_root, session_id(session.path), protected)
    for stale in out_dir.glob(".*.part*"):  # temp files (and staged DAW folders) of a run killed mid-write
        if stale.is_dir():
            shutil.rmtree(stale, ignore_errors=True)
        else:
            stale.unlink(missing_ok=True)
    return out_dir, notice


def _resume_point(saver: SqliteSaver, sid: str, session: Session, planner: Planner, fresh: bool,
                  where: Path, strength_pct: float = 100.0) -> tuple[bool, bool, str | None]:
    """(keep the saved run, it was interrupted, notice): a run is kept only for the same audio, anchor, planner and
    strength."""
    try:
        previous, interrupted = saved_state(saver, sid)
    except Exception as err:  # a readable database holding a checkpoint that is not: start this session over
        saver.delete_thread(sid)
        return False, False, f"{where}: the saved run could not be read ({type(err).__name__}); started fresh"
    same_run = bool(previous) and all(
        previous.get(k) == v for k, v in
        (("fingerprint", session.fingerprint()), ("anchor", session.anchor), ("planner", planner.name),
         ("strength_pct", strength_pct))
    )
    keep = same_run and not fresh
    if previous and not keep:
        saver.delete_thread(sid)  # another anchor, planner or changed audio: start over
    return keep, keep and interrupted, None


def balance_session(
    session_path: str | Path,
    out_root: str | Path,
    planner: Planner,
    anchor: str | None = None,
    max_steps: int = MAX_STEPS,
    fresh: bool = False,
    on_step: Callable[[AgentState], None] | None = None,
    step_delay_s: float = 0.0,
    strength_pct: float = 100.0,
    daw: tuple[str, ...] = (),
    on_done: Callable[[BalanceResult, Session, Measurements], None] | None = None,
    on_load: Callable[[Session], None] | None = None,
    models: ModelsHeld | None = None,
) -> BalanceResult:
    """Balance one session and write its outputs; resumes an interrupted run of the same session. The mix gets
    ``strength_pct`` % of each advised move (gains.json and the advice say both); ``daw``: the DAW sessions to write
    too (agent/daw.py); ``on_done``: called with the result, the session still in memory and its measurements (the
    report reuses their band levels); ``on_load``: with the
    session as loaded, before anything is planned (e.g. to read the roles its names do not give); ``models``: what the
    planner's and ``on_load``'s models hold, charged by the memory bound before decoding."""
    session = load_session(session_path, anchor, models)
    if on_load:
        on_load(session)
    sid = session_id(session.path)
    protected = session.read_only()
    out_dir, moved = _output_dir(session, out_root, protected)
    new_folder = all(p.name == MARKER for p in out_dir.iterdir())  # nothing of an earlier run in it
    try:
        result, measured = _balance_into(out_dir, session, sid, protected, planner, max_steps, fresh, on_step,
                                         step_delay_s, strength_pct, daw, moved)
    except Exception:
        if new_folder and not _has_progress(out_dir):  # nothing to resume from: leave no empty outputs behind
            shutil.rmtree(out_dir, ignore_errors=True)
        raise
    if on_done:  # e.g. the report, from the session and the analyses in memory
        on_done(result, session, measured)
    return result


def _has_progress(out_dir: Path) -> bool:
    trace = out_dir / "trace.jsonl"
    return trace.is_file() and trace.stat().st_size > 0


def _balance_into(out_dir: Path, session: Session, sid: str, protected: list[Path], planner: Planner, max_steps: int,
                  fresh: bool, on_step: Callable[[AgentState], None] | None, step_delay_s: float, strength_pct: float,
                  daw: tuple[str, ...], moved: str | None) -> tuple[BalanceResult, Measurements]:
    paths = {name: out_dir / name for name in ("mix.wav", "gains.json", "advice.md", "trace.jsonl")}

    def step(state: AgentState) -> None:
        _write_trace(paths["trace.jsonl"], state.get("trace", []), protected)
        if on_step:
            on_step(state)
        if step_delay_s:
            time.sleep(step_delay_s)

    conn, notice = open_checkpoint(out_dir / "checkpoint.sqlite")
    with closing(conn), conn:  # committed, then closed: a long-lived worker keeps no file open
        from langgraph.checkpoint.sqlite import SqliteSaver  # lazy: as LangGraph in graph.build_graph

        saver = SqliteSaver(conn)
        keep, resumed, unreadable = _resume_point(saver, sid, session, planner, fresh, out_dir / "checkpoint.sqlite",
                                                  strength_pct)
        start = None if keep else start_state(
            sid, session.anchor, planner.name, {n: 0.0 for n in session.names},
            session_path=str(session.path.resolve()), fingerprint=session.fingerprint(), strength_pct=strength_pct)
        ctx = ToolContext.of(session, out_dir)
        final = run_balance(planner, ctx, start, max_steps=max_steps,
                            checkpointer=saver, thread_id=sid, on_step=step)
    outcome = _outcome(final, session, sid, planner.name)
    write_text_atomic(paths["gains.json"], outcome.to_json(), protected)
    write_text_atomic(paths["advice.md"], final["advice"], protected)
    _write_trace(paths["trace.jsonl"], final.get("trace", []), protected)
    if daw or session.project is not None:
        paths.update(write_daw_sessions(daw, session, sid, out_dir, outcome.gains_db, stem_notes(final, session.names),
                                        final["advice"], outcome.trim_db or 0.0))
    by_ear = f"{session.path.name}: anchor by ear: {session.anchor_rule}" if session.anchor_by_ear \
        else None
    return BalanceResult(outcome, out_dir, resumed, final["advice"],
                         "; ".join(n for n in (by_ear, moved, unreadable, notice) if n) or None,
                         {k: str(v) for k, v in paths.items()}), ctx.measurements


def _outcome(final: AgentState, session: Session, sid: str, planner: str) -> BalanceOutcome:
    """What gains.json holds: the final gains, against the anchor too, and the levels before and after."""
    levels = final["measurements"]["loudness"]["stems"]  # at the applied gains (the finish node re-measures)
    applied = final.get("applied_gains_db") or {n: round(g, 2) for n, g in final["gains_db"].items()}
    after = {n: r["lu_vs_anchor"] for n, r in levels.items()}
    return BalanceOutcome.measured(
        final.get("initial_lu_vs_anchor", after), after, session.reference_lu, session.anchor,
        session=sid, daw_levels_db=session.faders_db or None, session_path=str(session.path.resolve()),
        planner=planner, status=final.get("status"), converged=final.get("converged", False),
        iterations=final.get("iteration", 0), strength_pct=final.get("strength_pct", 100.0), gains_db=applied,
        gains_vs_anchor_db=gains_vs_anchor(applied, session.anchor, session.names),
        advised_gains_db={n: round(g, 2) for n, g in final["gains_db"].items()},
        trim_db=(final.get("render") or {}).get("trim_db"), intervals_db=final.get("intervals") or None)
