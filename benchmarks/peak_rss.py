"""The peak RSS the benchmarks report: this process's own (VmHWM), not ru_maxrss, which keeps a forking parent's."""

from __future__ import annotations


def peak_rss_bytes() -> int:
    """This process's own peak resident set size, bytes (Linux: /proc/self/status, VmHWM)."""
    with open("/proc/self/status", encoding="ascii") as status:
        return 1024 * int(next(line for line in status if line.startswith("VmHWM:")).split()[1])
