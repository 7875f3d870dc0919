"""anchormix.tools: audio I/O, loudness, masking, gain and render, mixing conventions, measurements, the tool registry."""

from .conventions import GENRES, ROLES
from .loudness import integrated_loudness
from .true_peak import true_peak_dbtp
from .registry import ToolCall, ToolError, ToolRegistry
from .measurements import MeasuredAt, Measurements
from .render import mix_down, write_outputs
from .load import load_session
from .session import Session, infer_role
from .toolbox import REGISTRY, ToolContext

__all__ = [
    "GENRES",
    "MeasuredAt",
    "Measurements",
    "REGISTRY",
    "ROLES",
    "Session",
    "ToolCall",
    "ToolContext",
    "ToolError",
    "ToolRegistry",
    "infer_role",
    "integrated_loudness",
    "load_session",
    "mix_down",
    "true_peak_dbtp",
    "write_outputs",
]
