"""Reads a ``main`` function's signature into an ARGS_MAP, and keeps how each value is converted."""

import enum
import inspect
import json
import pathlib
import re
import types
import typing

SCHEMA_FLAG = "--_sys_get_schema"

_SIMPLE = {str: "str", int: "int", float: "float", bool: "bool"}
_JSON = (dict, list, typing.Dict, typing.List)


class File(pathlib.PosixPath):
    """An uploaded file: the script receives the path of its copy in the run's folder."""


class SchemaError(TypeError):
    """A parameter whose annotation the SDK cannot turn into an ARGS_MAP entry."""


class Param:
    """One parameter: its ARGS_MAP entry and the Python type its text is converted to."""

    def __init__(self, name, entry, annotation=None):
        self.name = name
        self.entry = entry
        self.annotation = annotation


def describe(main):
    """The first paragraph of ``main``'s docstring, and the help of each parameter in it."""
    doc = inspect.getdoc(main) or ""
    paragraphs = re.split(r"\n\s*\n", doc.strip(), maxsplit=1)
    first = paragraphs[0].strip()
    description = "" if _is_section(first) else " ".join(first.split())
    return description, _args_section(doc)


def _is_section(text):
    return re.match(r"^(Args|Arguments|Parameters|Returns|Raises):", text) is not None


def _args_section(doc):
    helps, current, indent = {}, None, None
    lines = doc.splitlines()
    start = next((i for i, l in enumerate(lines) if l.strip() in ("Args:", "Arguments:")), None)
    if start is None:
        return helps
    for line in lines[start + 1:]:
        if not line.strip():
            continue
        depth = len(line) - len(line.lstrip())
        if indent is None:
            indent = depth
        if depth < indent or (depth == indent and _is_section(line.strip())):
            break
        match = re.match(r"^(\*{0,2}\w+)\s*(\([^)]*\))?\s*:\s*(.*)$", line.strip())
        if depth == indent and match:
            current = match.group(1).lstrip("*")
            helps[current] = match.group(3).strip()
        elif current:
            helps[current] = (helps[current] + " " + line.strip()).strip()
    return helps


def params_of(main, overrides=None, args_map=None):
    """The parameters of ``main`` in signature order, each with its ARGS_MAP entry."""
    _, helps = describe(main)
    hints = _hints(main)
    signature = inspect.signature(main)
    params, takes_any = [], False
    for name, parameter in signature.parameters.items():
        if parameter.kind == parameter.VAR_KEYWORD:
            takes_any = True
            continue
        if parameter.kind in (parameter.VAR_POSITIONAL, parameter.POSITIONAL_ONLY):
            raise SchemaError(f"parameter {name!r} of main: only named parameters can be set")
        annotation = hints.get(name, parameter.annotation)
        params.append(_param(name, annotation, parameter.default, helps.get(name)))
    explicit = dict(args_map or {})
    for name, extra in (overrides or {}).items():
        explicit[name] = {**explicit.get(name, {}), **extra}
    known = {p.name: p for p in params}
    for name, extra in explicit.items():
        if name in known:
            known[name].entry.update(extra)
        elif takes_any:
            params.append(Param(name, {"flag": f"--{name}", "type": "str", **extra}))
        else:
            raise SchemaError(f"ARGS_MAP entry {name!r} is not a parameter of main")
    return params


def _hints(main):
    try:
        return typing.get_type_hints(main, include_extras=True)
    except Exception:  # a forward reference that does not resolve: fall back to the raw text
        return {}


def _param(name, annotation, default, help_text):
    annotation, extra_help = _unwrap_annotated(annotation)
    annotation, optional = _unwrap_optional(annotation)
    try:
        entry = _entry_for(annotation)
    except SchemaError as error:
        raise SchemaError(f"parameter {name!r} of main: {error}") from None
    entry = {"flag": f"--{name}", **entry}
    has_default = default is not inspect.Parameter.empty
    if has_default and default is not None:
        entry["default"] = _default_value(default)
    if not has_default and not optional:
        entry["required"] = True
    text = extra_help or help_text
    if text:
        entry["help"] = text
    return Param(name, entry, annotation)


def _unwrap_annotated(annotation):
    if typing.get_origin(annotation) is typing.Annotated:
        base, *extras = typing.get_args(annotation)
        text = next((e for e in extras if isinstance(e, str)), None)
        return base, text
    return annotation, None


def _unwrap_optional(annotation):
    origin = typing.get_origin(annotation)
    if origin is typing.Union or (hasattr(types, "UnionType") and origin is types.UnionType):
        members = [a for a in typing.get_args(annotation) if a is not type(None)]
        if len(members) == 1 and len(members) < len(typing.get_args(annotation)):
            return members[0], True
    return annotation, False


def _entry_for(annotation):
    if annotation is inspect.Parameter.empty or annotation is typing.Any:
        return {"type": "str"}
    if annotation in _SIMPLE:
        return {"type": _SIMPLE[annotation]}
    origin = typing.get_origin(annotation)
    if annotation in _JSON or origin in (dict, list):
        return {"type": "json"}
    if origin is typing.Literal:
        return {"type": "choice", "choices": [_plain(c) for c in typing.get_args(annotation)]}
    if isinstance(annotation, type) and issubclass(annotation, enum.Enum):
        return {"type": "choice", "choices": [_plain(m.value) for m in annotation]}
    if isinstance(annotation, type) and issubclass(annotation, pathlib.PurePath):
        return {"type": "file"}
    raise SchemaError(f"the annotation {annotation!r} is not supported "
                      "(use str, int, float, bool, Literal, an Enum, dict, list or File)")


def _plain(value):
    if isinstance(value, (str, int, float)) and not isinstance(value, bool):
        return value
    raise SchemaError(f"choice {value!r} is not a string or a number")


def _default_value(default):
    if isinstance(default, enum.Enum):
        return default.value
    if isinstance(default, pathlib.PurePath):
        raise SchemaError("a file parameter cannot have a default other than None")
    try:
        json.dumps(default)
    except (TypeError, ValueError):
        return str(default)
    return default


def args_map(params):
    """The ARGS_MAP the gateway reads: name → entry, in signature order."""
    return {p.name: p.entry for p in params}
