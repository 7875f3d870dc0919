"""anchormix: anchor-relative mixing assistant."""

__all__ = ["__version__", "DEFAULT_PLANNER"]

__version__ = "0.1.0"

# The planner of balance, demo and chat when none is named (README, "The ALM": why this one).
DEFAULT_PLANNER = "rules"
