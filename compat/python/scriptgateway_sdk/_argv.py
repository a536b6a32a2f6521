"""Turns the gateway's argv (``--flag value`` pairs, bools as ``1``/``0``) into typed values."""

import enum
import json
import os

from ._schema import File

_TRUE = ("1", "true", "yes", "on")
_FALSE = ("0", "false", "no", "off")


class ArgvError(ValueError):
    """Arguments that do not fit the script's parameters."""


def parse(argv, params):
    """The keyword arguments for ``main``: every parameter given on ``argv``, converted."""
    by_flag = {p.entry["flag"]: p for p in params}
    values, index = {}, 0
    while index < len(argv):
        flag, inline = argv[index], None
        if flag.startswith("--") and "=" in flag:
            flag, inline = flag.split("=", 1)
        param = by_flag.get(flag)
        if param is None:
            raise ArgvError(f"unknown argument {argv[index]!r}")
        index += 1
        if inline is not None:
            text = inline
        elif _is_bool(param) and (index == len(argv) or argv[index] in by_flag):
            text = "1"
        elif index < len(argv):
            text, index = argv[index], index + 1
        else:
            raise ArgvError(f"{flag} needs a value")
        values[param.name] = convert(param, text)
    missing = [p.entry["flag"] for p in params
               if p.entry.get("required") and p.name not in values]
    if missing:
        raise ArgvError("missing required argument(s): " + ", ".join(missing))
    return values


def _is_bool(param):
    return param.entry.get("type") == "bool" or param.entry.get("action") == "store_true"


def convert(param, text):
    """``text`` as the parameter's type (its ARGS_MAP type, and its annotation for choices)."""
    kind = "bool" if _is_bool(param) else param.entry.get("type", "str")
    try:
        return _CONVERTERS.get(kind, str)(param, text)
    except (ValueError, TypeError) as error:
        raise ArgvError(f"{param.entry['flag']}: {error}") from None


def _bool(_param, text):
    lowered = text.strip().lower()
    if lowered in _TRUE:
        return True
    if lowered in _FALSE:
        return False
    raise ValueError(f"{text!r} is not a boolean (use 1/0, true/false or yes/no)")


def _choice(param, text):
    annotation = param.annotation
    for choice in param.entry.get("choices", []):
        if str(choice) == text:
            if isinstance(annotation, type) and issubclass(annotation, enum.Enum):
                return annotation(choice)
            return choice
    raise ValueError(f"{text!r} is not one of {param.entry.get('choices')}")


def _file(_param, text):
    return File(os.path.abspath(text))


_CONVERTERS = {
    "str": lambda _p, t: t,
    "url": lambda _p, t: t,
    "int": lambda _p, t: int(t),
    "float": lambda _p, t: float(t),
    "bool": _bool,
    "json": lambda _p, t: json.loads(t),
    "choice": _choice,
    "file": _file,
}
