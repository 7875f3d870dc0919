"""Balancing many sessions: one job per session, run here, in a process pool or on Ray, with a progress bar."""
