"""The advice writer: its network and constrained decoding, its training sentences, the reference grammar."""
