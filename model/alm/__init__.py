"""The ALM: its network, the call head, building and loading it, its training stages and its planner."""
