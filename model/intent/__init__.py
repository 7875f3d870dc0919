"""The conversation's intent model: SmolLM2 with LoRA and a head, reading a request's intent."""
