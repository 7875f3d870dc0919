"""Batch balancing on Ray: an actor pool holding the planner, sessions scheduled to whichever worker is free.

``anchormix balance SESSIONS --out DIR --ray [ADDRESS]``: without an address a
local Ray is started for the run (one worker per ``--jobs``), with one (``auto``,
``ray://host:10001``) the jobs go to that cluster. Each actor builds its planner
once and balances session after session with it (anchormix/batch/balance_job.py: the
same outputs, traces and SQLite checkpoints as the local path). A worker that
dies mid-session is replaced and its session given to the next free worker, which
resumes it from its last completed step (the checkpoint lives in the output
folder, which every worker must reach: on a cluster, a shared file system).
"""

from __future__ import annotations

import os
from typing import Callable, Iterator, Sequence

from .balance_job import BalanceJob, balance_job
from .jobs import RAY_NAMESPACE as NAMESPACE
from .jobs import connect_ray
from ..planners import make_planner
from ..views import progress

__all__ = ["run_ray_balance", "ACTOR_PREFIX", "NAMESPACE"]

ACTOR_PREFIX = "anchormix-balance-"  # actors are named ACTOR_PREFIX + a number, in NAMESPACE


class _Worker:
    """A Ray actor: one planner, built once, balancing one session per call."""

    def __init__(self, planner: str) -> None:
        os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")  # torch on shared cores (the README says why)
        self.planner = make_planner(planner)

    def balance(self, job: BalanceJob) -> tuple[str, object]:
        return balance_job(job, self.planner)


def run_ray_balance(jobs: Sequence[BalanceJob], workers: int, address: str | None = None,
                    on_start: Callable[[BalanceJob, str], None] | None = None) -> Iterator[tuple[BalanceJob, tuple]]:
    """Yield ``(job, balance_job's outcome)`` as each session finishes on ``workers`` actors; ``on_start(job,
    actor name)`` as each starts (a test kills that actor)."""
    ray = connect_ray(address, workers)
    actor = ray.remote(num_cpus=1, max_restarts=0)(_Worker)
    pending, running, made = list(jobs), {}, 0

    def spawn():
        nonlocal made
        name = f"{ACTOR_PREFIX}{made}"
        made += 1
        return name, actor.options(name=name, namespace=NAMESPACE, lifetime=None).remote(jobs[0].planner)

    free = [spawn() for _ in range(min(max(1, workers), len(jobs)))]
    with progress() as bar:
        task = bar.add_task("balancing (ray)", total=len(jobs))
        while pending or running:
            while pending and free:
                name, handle = free.pop()
                job = pending.pop(0)
                running[handle.balance.remote(job)] = (job, name, handle)
                if on_start:
                    on_start(job, name)
            done, _ = ray.wait(list(running), num_returns=1)
            job, name, handle = running.pop(done[0])
            try:
                outcome = ray.get(done[0])
            except ray.exceptions.RayActorError:  # the worker died mid-session: a new one resumes it
                pending.insert(0, job.resumed())
                free.append(spawn())
                continue
            except ray.exceptions.RayTaskError as err:  # balance_job never raises; this is Ray's own trouble
                outcome = ("error", f"{job.path}: worker error ({err.cause!r})")
            free.append((name, handle))
            bar.advance(task)
            yield job, outcome
    for _, handle in free:
        ray.kill(handle)
