"""anchormix: anchor-relative mixing assistant."""

__all__ = ["__version__", "DEFAULT_PLANNER"]

__version__ = "0.1.0"

# The planner of balance, demo and chat when none is named: the shipped ALM, which beats the rules on
# the test split (README, "The ALM"); `--planner rules` is the fallback that needs no model.
DEFAULT_PLANNER = "alm"
