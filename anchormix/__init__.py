"""anchormix: anchor-relative mixing assistant. The planner registry and its default are in anchormix/planners.py."""

import os

# numpy's OpenBLAS on one thread (unless the user says otherwise), set before numpy loads it: anchormix runs its own
# work two stems at a time, and OpenBLAS's threads, spinning after each small product, took the other core from it
# (torch has its own threads, which this leaves alone).
os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")

__all__ = ["__version__"]

__version__ = "0.1.0"
