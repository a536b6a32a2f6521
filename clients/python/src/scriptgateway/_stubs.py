"""``python -m scriptgateway stubs``: writes a typed module with one function per script of a
live gateway, so an editor completes each script's parameters. A function is named after the
script's path (``python/reports/daily.py`` → ``python_reports_daily``), like the gateway's
OpenAPI operations, and runs the script by path, so the module stays right across rescans."""

from __future__ import annotations

import argparse
import hashlib
import keyword
import re
import sys
from typing import Any, Dict, Iterable, List, Optional, Sequence, Tuple

from ._models import Script
from ._sync import Gateway

_TYPES = {"str": "str", "url": "str", "int": "int", "float": "float", "bool": "bool",
          "file": "Upload", "json": "Any"}
_SCALARS = (str, int, float, bool)

HEADER = '''"""Typed helpers for the scripts of {url}, written by scriptgateway-stubs.

Each function runs its script by path with ``Gateway.run`` and returns the ``RunResult``;
regenerate this module when scripts or their parameters change.
"""

from __future__ import annotations

from typing import Any, Literal, Optional

from scriptgateway import Gateway, RunResult
from scriptgateway.types import Upload

__all__ = {names!r}
'''


def identifier(text: str) -> str:
    """``text`` as a Python name: other characters become ``_``, never a keyword or a digit first."""
    name = re.sub(r"\W", "_", text, flags=re.ASCII).strip("_").lower() or "script"
    if name[0].isdigit():
        name = "_" + name
    return name + "_" if keyword.iskeyword(name) or name in ("gateway", "check") else name


def function_names(paths: Iterable[str]) -> Dict[str, str]:
    """A function name per path: without the extension, with it where two would meet, and
    past that with a short hash of the path (like the gateway's operationIds)."""
    paths = sorted(paths)
    stems = {path: identifier(re.sub(r"\.[A-Za-z0-9]+$", "", path)) for path in paths}
    names: Dict[str, str] = {}
    for path in paths:
        name = stems[path]
        if list(stems.values()).count(name) > 1:
            name = identifier(path)
        if name in names.values():
            name = f"{name}_{hashlib.sha256(path.encode()).hexdigest()[:8]}"
        names[path] = name
    return names


def _annotation(entry: Dict[str, Any]) -> str:
    kind = entry.get("type") or "str"
    choices = entry.get("choices")
    if kind == "choice" and isinstance(choices, list) and choices and all(
            isinstance(choice, (str, int)) and not isinstance(choice, bool) for choice in choices):
        return "Literal[" + ", ".join(repr(choice) for choice in choices) + "]"
    return _TYPES.get(kind, "Any")


def _default(entry: Dict[str, Any]) -> Optional[str]:
    """The default as Python source, when it is a plain value the annotation accepts."""
    value = entry.get("default")
    if isinstance(value, _SCALARS) and entry.get("type") != "file":
        return repr(value)
    return None


def _docstring(script: Script, params: List[Tuple[str, str, Dict[str, Any]]]) -> str:
    lines = [script.description or f"Runs ``{script.path}``.", ""]
    if params:
        lines.append("Args:")
        for name, _, entry in params:
            help_text = " ".join(str(entry.get("help") or entry.get("type") or "str").split())
            lines.append(f"    {name}: {help_text}")
        lines.append("")
    lines.append(f"Runs ``{script.path}``; ``check=True`` raises ``RunFailed`` unless it succeeds.")
    text = "\n".join(lines).replace("\\", "\\\\").replace('"""', '\\"\\"\\"')
    return '    """' + text.replace("\n", "\n    ").replace("\n    \n", "\n\n") + '\n    """'


def render_function(script: Script, name: str) -> str:
    """One function: typed keyword arguments (required first), its docstring, the run."""
    schema = script.args_schema or {}
    params: List[Tuple[str, str, Dict[str, Any]]] = []
    taken = {"gateway", "check"}
    for wire, entry in schema.items():
        py = identifier(wire)
        while py in taken:
            py += "_"
        taken.add(py)
        params.append((py, wire, entry if isinstance(entry, dict) else {}))
    signature, sends = ["gateway: Gateway", "*"], []
    for py, wire, entry in sorted(params, key=lambda item: not item[2].get("required")):
        annotation, default = _annotation(entry), _default(entry)
        if entry.get("required"):
            signature.append(f"{py}: {annotation}")
        elif default is not None:
            signature.append(f"{py}: {annotation} = {default}")
        else:
            signature.append(f"{py}: Optional[{annotation}] = None")
    for py, wire, entry in params:
        sends.append(f"    if {py} is not None:\n        params[{wire!r}] = {py}"
                     if not entry.get("required") and _default(entry) is None
                     else f"    params[{wire!r}] = {py}")
    signature.append("check: bool = False")
    body = ["    params: dict[str, Any] = {}", *sends,
            f"    return gateway.run({script.path!r}, params, check=check)"]
    head = f"def {name}(\n" + "".join(f"    {part},\n" for part in signature) + ") -> RunResult:"
    return "\n".join([head, _docstring(script, params), *body])


def render_module(url: str, scripts: Sequence[Script]) -> str:
    runnable = [script for script in scripts if script.load_status == "ok"]
    names = function_names(script.path for script in runnable)
    functions = [render_function(script, names[script.path])
                 for script in sorted(runnable, key=lambda s: s.path)]
    header = HEADER.format(url=url, names=sorted(names.values()))
    return header + "".join("\n\n" + function + "\n" for function in functions)


def main(argv: Optional[Sequence[str]] = None) -> int:
    parser = argparse.ArgumentParser(
        prog="scriptgateway-stubs",
        description="Write a typed module with one function per script of a live gateway.")
    parser.add_argument("--url", help="the gateway (default: SG_URL, else http://127.0.0.1:8001)")
    parser.add_argument("--api-key", help="an API key (default: SG_API_KEY)")
    parser.add_argument("-o", "--output", required=True, help="the module to write, e.g. sg_scripts.py")
    args = parser.parse_args(argv)
    with Gateway(args.url, api_key=args.api_key) as gateway:
        scripts = list(gateway.scripts.iter())
        source = render_module(gateway.url, scripts)
    with open(args.output, "w", encoding="utf-8") as out:
        out.write(source)
    skipped = sum(script.load_status != "ok" for script in scripts)
    print(f"wrote {args.output}: {len(scripts) - skipped} functions"
          + (f" ({skipped} scripts with load errors left out)" if skipped else ""), file=sys.stderr)
    return 0
