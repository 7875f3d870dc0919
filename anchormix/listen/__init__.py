"""A MUSHRA-style listening test (ITU-R BS.1534) of balances and their advice: build, serve, analyse."""
