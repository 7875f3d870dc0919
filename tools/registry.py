"""The tool registry: typed functions in, JSON schemas and validated dispatch out.

A tool is a plain function whose first parameter is the :class:`ToolContext`-like
object the caller supplies (named ``ctx``, never part of the schema) and whose
other parameters are typed and described in a Google-style ``Args:`` section.
Registering builds a pydantic model from the signature, so the JSON schema a
planner sees and the validation its calls go through are one and the same.
A parameter without a description is an error at registration.
"""

from __future__ import annotations

import inspect
import re
import time
import typing
from dataclasses import dataclass
from typing import Any, Callable

import pydantic

__all__ = ["Tool", "ToolCall", "ToolError", "ToolRegistry", "parse_docstring"]


class ToolError(Exception):
    """A tool call that could not run: unknown tool, invalid arguments, or the tool refused."""


@dataclass(frozen=True)
class ToolCall:
    """What an observer sees for every dispatched call."""

    name: str
    arguments: dict[str, Any]
    result: Any
    error: str | None
    wall_ms: float


@dataclass(frozen=True)
class Tool:
    name: str
    description: str
    fn: Callable[..., Any]
    model: type[pydantic.BaseModel]

    @property
    def schema(self) -> dict[str, Any]:
        """``{"name", "description", "parameters"}`` with a JSON-schema ``parameters`` object."""
        params = self.model.model_json_schema()
        params.pop("title", None)
        for prop in params.get("properties", {}).values():
            prop.pop("title", None)
        return {"name": self.name, "description": self.description, "parameters": params}


_ARG = re.compile(r"^(\w+)\s*(?:\([^)]*\))?\s*:\s*(.*)$")


def parse_docstring(doc: str) -> tuple[str, dict[str, str]]:
    """Split a Google-style docstring into its summary paragraph and ``Args:`` descriptions."""
    lines = inspect.cleandoc(doc or "").splitlines()
    summary: list[str] = []
    args: dict[str, str] = {}
    section, current, indent = None, None, None
    for line in lines:
        stripped = line.strip()
        if re.match(r"^[A-Z][A-Za-z ]*:$", stripped) and not line.startswith(" "):
            section, current = stripped[:-1].lower(), None
            continue
        if section is None:
            if not stripped and summary:
                section = "body"
            elif stripped:
                summary.append(stripped)
        elif section == "args" and stripped:
            this_indent = len(line) - len(line.lstrip())
            match = _ARG.match(stripped)
            if match and (indent is None or this_indent <= indent):
                indent, current = this_indent, match.group(1)
                args[current] = match.group(2).strip()
            elif current:
                args[current] = f"{args[current]} {stripped}".strip()
    return " ".join(summary), args


class ToolRegistry:
    """Tools by name, their schemas, validated dispatch, and call observers."""

    def __init__(self) -> None:
        self._tools: dict[str, Tool] = {}
        self._observers: list[Callable[[ToolCall], None]] = []

    def register(self, fn: Callable[..., Any]) -> Callable[..., Any]:
        """Add ``fn`` as a tool (usable as a decorator); raises ``ValueError`` on an undescribed argument."""
        summary, described = parse_docstring(fn.__doc__ or "")
        if not summary:
            raise ValueError(f"tool {fn.__name__}: needs a docstring summary")
        hints = typing.get_type_hints(fn)
        fields: dict[str, Any] = {}
        for index, (name, param) in enumerate(inspect.signature(fn).parameters.items()):
            if index == 0 and name == "ctx":
                continue
            if name not in hints:
                raise ValueError(f"tool {fn.__name__}: argument '{name}' has no type annotation")
            if not described.get(name):
                raise ValueError(f"tool {fn.__name__}: argument '{name}' is not described in its Args: section")
            default = ... if param.default is inspect.Parameter.empty else param.default
            fields[name] = (hints[name], pydantic.Field(default, description=described[name]))
        config = pydantic.ConfigDict(extra="forbid", strict=True)
        model = pydantic.create_model(f"{fn.__name__}_args", __config__=config, **fields)
        self._tools[fn.__name__] = Tool(fn.__name__, summary, fn, model)
        return fn

    def __contains__(self, name: str) -> bool:
        return name in self._tools

    def __iter__(self):
        return iter(self._tools.values())

    def get(self, name: str) -> Tool:
        if name not in self._tools:
            raise ToolError(f"unknown tool '{name}'; tools: {', '.join(self._tools)}")
        return self._tools[name]

    def schemas(self) -> list[dict[str, Any]]:
        return [tool.schema for tool in self._tools.values()]

    def validate(self, name: str, arguments: Any) -> dict[str, Any]:
        """Return the arguments as the tool will receive them, or raise ``ToolError`` saying what is wrong."""
        tool = self.get(name)
        if not isinstance(arguments, dict):
            raise ToolError(f"{name}: arguments must be a JSON object, got {type(arguments).__name__}")
        try:
            parsed = tool.model.model_validate(arguments)
        except pydantic.ValidationError as err:
            problems = "; ".join(
                f"{'.'.join(str(p) for p in e['loc']) or 'arguments'}: {e['msg']}" for e in err.errors()
            )
            raise ToolError(f"{name}: invalid arguments ({problems})") from None
        return {key: getattr(parsed, key) for key in tool.model.model_fields}

    def observe(self, callback: Callable[[ToolCall], None]) -> Callable[[], None]:
        """Call ``callback`` after every dispatch; returns a function that stops it."""
        self._observers.append(callback)
        return lambda: self._observers.remove(callback)

    def call(self, name: str, arguments: Any, ctx: Any = None) -> Any:
        """Validate and run a tool; every failure surfaces as ``ToolError`` and is reported to observers."""
        start = time.perf_counter()
        result, error = None, None
        try:
            kwargs = self.validate(name, arguments)
            try:
                result = self._tools[name].fn(ctx, **kwargs)
            except (ValueError, KeyError, TypeError, OSError) as err:
                raise ToolError(f"{name}: {err}") from err
            return result
        except ToolError as err:
            error = str(err)
            raise
        finally:
            record = ToolCall(name, dict(arguments) if isinstance(arguments, dict) else {"_raw": repr(arguments)},
                              result, error, (time.perf_counter() - start) * 1000.0)
            for callback in list(self._observers):
                callback(record)
