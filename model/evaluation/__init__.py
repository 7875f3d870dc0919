"""Both evaluation protocols (AnchorBalance and the flat start) and the baselines printed beside every model."""
