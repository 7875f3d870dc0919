"""anchormix: anchor-relative mixing assistant. The planner registry and its default are in anchormix/planners.py."""

__all__ = ["__version__"]

__version__ = "0.1.0"
