"""anchormix.tui"""
