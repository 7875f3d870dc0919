"""Run one function over many jobs, here or in a pool of worker processes, advancing one progress bar."""

from __future__ import annotations

import multiprocessing
from concurrent.futures import ProcessPoolExecutor, as_completed
from typing import Any, Callable, Iterator, Sequence

from .views import progress

__all__ = ["run_jobs"]


def run_jobs(work: Callable[[Any], Any], jobs: Sequence[Any], workers: int, description: str,
             label: Callable[[Any], str] | None = None) -> Iterator[tuple[Any, Any]]:
    """Yield ``(job, work(job))`` as each finishes. ``work`` must not raise (a failure is a value) and, with
    ``workers`` > 1, must be importable by a worker process. ``label`` names the running job when one at a time."""
    with progress() as bar:
        task = bar.add_task(description, total=len(jobs))
        if workers <= 1:
            for job in jobs:
                if label:
                    bar.update(task, description=f"{description} {label(job)}")
                yield job, work(job)
                bar.advance(task)
            return
        # spawn, not fork: a forked child of a process that has run torch (OpenMP threads) can deadlock.
        spawn = multiprocessing.get_context("spawn")
        with ProcessPoolExecutor(max_workers=workers, mp_context=spawn) as pool:
            futures = {pool.submit(work, job): job for job in jobs}
            for future in as_completed(futures):
                yield futures[future], future.result()
                bar.advance(task)
