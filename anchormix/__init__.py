"""anchormix: anchor-relative mixing assistant."""

__all__ = ["__version__"]

__version__ = "0.1.0"
