"""anchormix.agent.chat: mixing by conversation (the conversation, its saved state, the rule reader of requests)."""

from .conversation import Conversation, Reply
from .request_rules import HELP, INTENTS, Intent, combine, parse_intent

__all__ = ["Conversation", "Reply", "Intent", "INTENTS", "HELP", "combine", "parse_intent"]
