"""Run one function over many jobs, here, in a pool of worker processes or as Ray tasks, advancing one progress bar."""

from __future__ import annotations

import ctypes
import multiprocessing
import os
import signal
import threading
import time
from concurrent.futures import ProcessPoolExecutor, as_completed
from typing import Any, Callable, Iterator, Sequence

from .ray_watchdog import watch_local_ray
from ..stages import stages_on
from ..views import progress

__all__ = ["run_jobs", "connect_ray", "die_with_parent", "RAY_NAMESPACE"]

_PR_SET_PDEATHSIG = 1  # linux/prctl.h

RAY_NAMESPACE = "anchormix"


def connect_ray(address: str | None, workers: int):
    """The ``ray`` module, connected: to the cluster at ``address`` (``auto``, ``ray://host:10001``), else to a
    local Ray started for this run with ``workers`` CPUs (or one already running in this process)."""
    import ray  # lazy: Ray takes seconds to import and only --ray needs it

    if not ray.is_initialized():
        if address:
            ray.init(address=address, namespace=RAY_NAMESPACE, log_to_driver=False)
        else:
            ray.init(num_cpus=max(1, workers), namespace=RAY_NAMESPACE, include_dashboard=False, log_to_driver=False,
                     object_store_memory=200 * 1024 * 1024)
            watch_local_ray()  # a killed run leaves none of this local Ray's processes behind
    return ray


def die_with_parent(parent_pid: int) -> None:
    """A worker's first act: end when the batch that started it ends, even killed with SIGKILL, so no worker goes
    on writing into the outputs or holds a checkpoint open. Linux: the kernel's parent-death signal
    (``prctl(PR_SET_PDEATHSIG)``); everywhere: a watchdog thread that sees the parent gone."""
    try:
        ctypes.CDLL(None, use_errno=True).prctl(_PR_SET_PDEATHSIG, signal.SIGKILL)
    except (OSError, AttributeError):  # not Linux: the watchdog alone
        pass
    if os.getppid() != parent_pid:  # the parent died before the signal was set
        os._exit(1)
    threading.Thread(target=_watch_parent, args=(parent_pid,), daemon=True, name="die-with-parent").start()


def _watch_parent(parent_pid: int) -> None:
    while os.getppid() == parent_pid:
        time.sleep(0.5)
    os._exit(1)


def run_jobs(work: Callable[[Any], Any], jobs: Sequence[Any], workers: int, description: str,
             label: Callable[[Any], str] | None = None, ray_address: str | None = None) -> Iterator[tuple[Any, Any]]:
    """Yield ``(job, work(job))`` as each finishes. ``work`` must not raise (a failure is a value) and, with
    ``workers`` > 1 or on Ray, must be importable by a worker process. ``label`` names the running job when one at
    a time, and the bar then shows the stage it says it is at (:func:`~anchormix.stages.stage`). ``ray_address``:
    run each job as a Ray task ("" for a local Ray with ``workers`` CPUs)."""
    with progress() as bar:
        task = bar.add_task(description, total=len(jobs))
        if ray_address is not None:
            ray = connect_ray(ray_address or None, workers)
            remote = ray.remote(num_cpus=1)(work)
            futures = {remote.remote(job): job for job in jobs}
            while futures:
                done, _ = ray.wait(list(futures), num_returns=1)
                yield futures.pop(done[0]), ray.get(done[0])
                bar.advance(task)
            return
        if workers <= 1:  # here: the job's stages (stages.stage) show on the bar, after its label
            for job in jobs:
                named = f"{description} {label(job)}" if label else description
                bar.update(task, description=named)
                with stages_on(lambda text, named=named: bar.update(task, description=f"{named}: {text}")):
                    done = work(job)
                bar.update(task, description=named)
                yield job, done
                bar.advance(task)
            return
        # spawn, not fork: a forked child of a process that has run torch (OpenMP threads) can deadlock.
        spawn = multiprocessing.get_context("spawn")
        with ProcessPoolExecutor(max_workers=workers, mp_context=spawn, initializer=die_with_parent,
                                 initargs=(os.getpid(),)) as pool:
            futures = {pool.submit(work, job): job for job in jobs}
            for future in as_completed(futures):
                yield futures[future], future.result()
                bar.advance(task)
