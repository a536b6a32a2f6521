"""Public type aliases: what a script reference and an upload may be."""

from ._core import ScriptRef, Upload

__all__ = ["ScriptRef", "Upload"]
