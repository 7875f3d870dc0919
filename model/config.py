"""Training configs as YAML: a base file plus small overlays, read into strict dataclasses.

An overlay names the file it extends with ``include:`` (a path relative to the
overlay) and gives only what differs. Merging is key by key; a mapping value
(``model:``) is merged key by key too; a key set to ``null`` is removed, so the
dataclass default applies again. Every key must be a field of the dataclass it
configures: a typo is an error naming the file, never silently ignored.
"""

from __future__ import annotations

from dataclasses import fields
from pathlib import Path
from typing import Any, ClassVar, TypeVar

import yaml

__all__ = ["read_config", "strict_fields", "CONF", "FromYaml"]

CONF = Path(__file__).resolve().parent / "conf"  # every learner's hyperparameters

T = TypeVar("T")
_MAX_DEPTH = 8  # includes deeper than this are a loop, not a design


def _merge(base: dict[str, Any], overlay: dict[str, Any]) -> dict[str, Any]:
    merged = dict(base)
    for key, value in overlay.items():
        if value is None:
            merged.pop(key, None)
        elif isinstance(value, dict) and isinstance(merged.get(key), dict):
            merged[key] = _merge(merged[key], value)
        else:
            merged[key] = value
    return merged


def read_config(path: str | Path, depth: int = 0) -> dict[str, Any]:
    """The YAML mapping at ``path`` with its ``include:`` chain merged underneath; ``ValueError`` naming the file."""
    path = Path(path)
    if depth > _MAX_DEPTH:
        raise ValueError(f"{path}: includes nest deeper than {_MAX_DEPTH} (a loop?)")
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    except (OSError, yaml.YAMLError) as err:
        raise ValueError(f"{path}: cannot read config ({err})") from None
    if not isinstance(data, dict):
        raise ValueError(f"{path}: a config is a mapping of keys to values")
    include = data.pop("include", None)
    if include is None:
        return data
    return _merge(read_config(path.parent / str(include), depth + 1), data)


def strict_fields(cls: type[T], data: dict[str, Any], where: str) -> T:
    """``cls(**data)``, refusing keys that are not fields of ``cls`` (``where`` names the source in the error)."""
    known = {f.name for f in fields(cls)}
    unknown = sorted(set(data) - known)
    if unknown:
        raise ValueError(f"{where}: unknown keys {unknown}; known: {sorted(known)}")
    return cls(**data)


class FromYaml:
    """A learner's config dataclass read from ``model/conf/<FILE>`` (or another file): ``Config.from_yaml()``."""

    FILE: ClassVar[str]

    @classmethod
    def from_yaml(cls: type[T], path: str | Path | None = None) -> T:
        path = Path(path) if path is not None else CONF / cls.FILE
        return strict_fields(cls, read_config(path), str(path))
