"""The name reader: a track name read as a role by SmolLM2 with LoRA (model/names/name_reader.py)."""
