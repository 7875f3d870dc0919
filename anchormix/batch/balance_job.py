"""One session's balance as a batch job: never raises, a failure is a row of the summary.

Shared by the local runs (anchormix/batch/jobs.py: here, or a process pool) and the
Ray actors (anchormix/batch/ray_pool.py), so every path writes the same outputs,
traces and SQLite checkpoints and reports errors the same way.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, replace
from pathlib import Path

from anchormix.agent import MAX_STEPS, balance_session
from anchormix.agent.planning import Planner

from ..planners import make_planner
from ..report import write_report
from ..roles import models_held, read_unknown_roles
from ..stages import reading_roles, stage

__all__ = ["BalanceJob", "balance_job", "after_step"]


@dataclass(frozen=True)
class BalanceJob:
    """What to balance and how (the ``balance`` command's arguments for one session)."""

    path: Path
    out: Path
    planner: str
    anchor: str | None = None
    max_steps: int = MAX_STEPS
    fresh: bool = False
    delay_s: float = 0.0
    strength: float = 100.0
    daw: tuple[str, ...] = ()
    report: bool = False
    hold_while: Path | None = None  # tests: after each traced step, wait while this file exists (a kill lands mid-run)

    def resumed(self) -> "BalanceJob":
        """The same job, taken up again after its worker died: it resumes from its checkpoint, never afresh."""
        return replace(self, fresh=False)


class _MadeWhenFirstUsed:
    """A planner made when the balance first asks it for something: after the session's names, headers and memory
    are checked, so a wrong anchor or an oversized session is refused before the ALM is loaded (issue 25: fail fast)."""

    def __init__(self, name: str) -> None:
        self._name, self._made = name, None

    def __getattr__(self, attribute: str):
        if self._made is None:
            self._made = make_planner(self._name)
        return getattr(self._made, attribute)


def balance_job(job: BalanceJob, planner: Planner | None = None) -> tuple[str, object]:
    """("ok", BalanceResult) or ("error", one line naming the file); ``planner``: one already built (a worker's).
    Says its stages as it goes (:func:`~anchormix.stages.stage`: the progress bar shows them when it runs here)."""
    def report(result, session, measured) -> None:  # from what the balance holds in memory: nothing decoded or
        # measured again
        stage("writing the report: both mixes, matched and encoded")
        result.files["report.html"] = str(write_report(result.out_dir, result.outcome, session, result.advice,
                                                       measured))

    def loaded(session) -> None:
        stage(reading_roles(len(session.names), session.duration_s))
        read_unknown_roles(session)
        stage("listening: loudness and true peak of every stem")

    def step(state) -> None:  # after each step: what comes next; a test may hold the session here (its checkpoint
        # committed) once it has a trace
        if state.get("trace"):
            stage(after_step(state["trace"][-1]))
        while job.hold_while is not None and state.get("trace") and job.hold_while.exists():
            time.sleep(0.05)

    stage("decoding the stems")
    try:
        return "ok", balance_session(job.path, job.out, planner or _MadeWhenFirstUsed(job.planner), job.anchor,
                                     job.max_steps, job.fresh, on_step=step, step_delay_s=job.delay_s,
                                     strength_pct=job.strength, daw=job.daw, on_done=report if job.report else None,
                                     on_load=loaded, models=models_held(job.planner))
    except ValueError as err:
        return "error", str(err)
    except OSError as err:  # full or read-only disk: the path and the reason
        return "error", f"{err.filename or job.path}: {err.strerror or err}"
    except Exception as err:  # a bug must not take the other sessions down
        return "error", f"{job.path}: internal error ({type(err).__name__}: {err})"


def after_step(record: dict) -> str:
    """What the balance does next, after the step a trace ``record`` tells of: the stage a progress bar shows."""
    node, tool = record.get("node"), record.get("tool")
    if node == "plan":
        return "rendering mix.wav and writing the advice" if tool == "finish" else f"running {tool}"
    if node == "finish":
        return "writing gains.json, advice.md and the trace"
    return "planning" if node == "listen" else "listening again"
