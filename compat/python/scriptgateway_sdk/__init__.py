"""ScriptGateway's script SDK: a ``main`` function whose signature is its parameters.

    from scriptgateway_sdk import script

    @script
    def main(name: str, times: int = 1, loud: bool = False) -> dict:
        \"\"\"Greets someone.\"\"\"
        return {"message": ("HELLO " if loud else "Hello ") * times + name}

The gateway starts such a script through its launcher, which answers ``--_sys_get_schema``
from the signature, parses the arguments, calls ``main`` and prints what it returns as
JSON. ``run(main)`` does the same when the script is started by hand
(``python script.py --name Ada``).
"""

import enum
import inspect
import json
import os
import sys
import traceback

from ._argv import ArgvError, parse
from ._schema import SCHEMA_FLAG, File, SchemaError, args_map, params_of

__all__ = ["script", "run", "File", "output_file", "log", "ArgvError", "SchemaError"]


def script(main=None, *, params=None):
    """Marks ``main`` as the script's entry point; returns it unchanged.

    ``params`` overrides entries of the inferred ARGS_MAP by parameter name, e.g.
    ``@script(params={"site": {"type": "url"}})``. A module-level ``ARGS_MAP`` is merged
    the same way, under these overrides.
    """
    if main is None:
        return lambda function: script(function, params=params)
    main.__sg_params__ = dict(params or {})
    return main


def schema(main):
    """The ARGS_MAP of ``main`` as the gateway reads it (a dict of entries)."""
    return args_map(_params(main))


def run(main, argv=None):
    """Answers ``--_sys_get_schema`` or calls ``main`` with the parsed arguments, prints
    its result as JSON and exits: 0, or 1 after printing an error object when it raised."""
    sys.exit(dispatch(main, sys.argv[1:] if argv is None else list(argv)))


def dispatch(main, argv):
    """What :func:`run` does, returning the exit code instead of exiting."""
    if SCHEMA_FLAG in argv:
        return _print_schema(main)
    try:
        params = _params(main)
        values = parse(argv, params)
        for param in params:
            if param.name not in values and _needs_none(main, param.name):
                values[param.name] = None
        result = main(**values)
        if inspect.iscoroutine(result):
            import asyncio  # only here: importing it costs more than the rest of the SDK

            result = asyncio.run(result)
        if result is not None:
            print(json.dumps(result, ensure_ascii=False, default=_jsonable), flush=True)
        return 0
    except Exception as error:
        report_error(error)
        return 1


def report_error(error):
    """Prints ``error`` as the run's error object on stdout and its traceback on stderr."""
    traceback.print_exception(type(error), error, error.__traceback__, file=sys.stderr)
    body = {"status": "error", "error": {"type": type(error).__name__, "message": str(error)}}
    print(json.dumps(body, ensure_ascii=False, default=str), flush=True)


def output_file(name, data):
    """Writes ``data`` (bytes, or text as UTF-8) as ``name`` in the run's working folder,
    where it becomes one of the run's ``files``; returns its path. ``name`` is a plain
    file name: no ``/``, no ``..``, no NUL."""
    if not name or name in (".", "..") or "/" in name or "\0" in name:
        raise ValueError(f"{name!r} is not a plain file name")
    path = File(os.path.abspath(name))
    if isinstance(data, str):
        path.write_text(data, encoding="utf-8")
    else:
        path.write_bytes(bytes(data))
    return path


def log(*parts):
    """Prints ``parts`` to stderr (the run's log), leaving stdout for the result."""
    print(*parts, file=sys.stderr, flush=True)


def _jsonable(value):
    if isinstance(value, enum.Enum):
        return value.value
    return str(value)


def _params(main):
    module = sys.modules.get(getattr(main, "__module__", None) or "")
    explicit = getattr(module, "ARGS_MAP", None) if module else None
    overrides = getattr(main, "__sg_params__", None)
    return params_of(main, overrides=overrides, args_map=explicit)


def _needs_none(main, name):
    parameter = inspect.signature(main).parameters.get(name)
    return parameter is not None and parameter.default is inspect.Parameter.empty and \
        parameter.kind != parameter.VAR_KEYWORD


def _print_schema(main):
    try:
        text = json.dumps(schema(main), ensure_ascii=False)
    except Exception as error:
        print(f"{type(error).__name__}: {error}", file=sys.stderr, flush=True)
        return 1
    print(text, flush=True)
    return 0

