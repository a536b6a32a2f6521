"""Public type aliases: what a script reference, an upload and a session file's content may be."""

from ._core import FileContent, ScriptRef, Upload

__all__ = ["FileContent", "ScriptRef", "Upload"]
