"""A local Ray's watchdog: ends the Ray processes a driver started when the driver ends, even killed with SIGKILL.

Ray ends most of a local cluster with its driver (the GCS, the raylet and the
workers share its fate), but its dashboard and runtime-env agents outlive a
driver killed with SIGKILL (seen with Ray 2.x: both reparented to init, running
on). :func:`watch_local_ray` starts this module as its own process, in its own
session, holding the read end of a pipe from the driver and the list of the
driver's child processes; when the pipe closes (the driver exited, however) it
kills those that still run. Each is named by pid and start time, so a pid the
system has since given to another process is left alone.

    python -m anchormix.batch.ray_watchdog PID:START_TIME ...    (started by watch_local_ray; reads stdin to its end)
"""

from __future__ import annotations

import atexit
import subprocess
import sys

__all__ = ["watch_local_ray"]


def watch_local_ray() -> None:
    """Start the watchdog over this process's children now (call it right after ``ray.init`` started a local Ray)."""
    import psutil  # lazy: only --ray needs it (Ray depends on it)

    children = [f"{p.pid}:{p.create_time()!r}" for p in psutil.Process().children(recursive=True)]
    watchdog = subprocess.Popen([sys.executable, "-m", "anchormix.batch.ray_watchdog", *children], stdin=subprocess.PIPE,
                                stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)
    atexit.register(watchdog.stdin.close)  # a clean exit closes it too: leftovers of ray.shutdown() go as well


def _end(processes: list[str]) -> None:
    import psutil  # lazy: only the watchdog process needs it

    for entry in processes:
        pid, started = entry.split(":", 1)
        try:
            process = psutil.Process(int(pid))
            if repr(process.create_time()) == started:
                process.kill()
        except (psutil.Error, ValueError):
            pass


if __name__ == "__main__":
    sys.stdin.buffer.read()  # blocks until the driver closes the pipe or dies
    _end(sys.argv[1:])
