"""anchormix.model: the audio-language model and its data, one way: corpus -> features -> prompt -> draws -> ALM ->
checkpoint -> {train, planner, evaluate}; the baselines and the conversation's intent model beside them.

Imports anchormix.agent and anchormix.tools, never the CLI or the chat app (lint-imports checks it).
"""
