"""How the gateway starts an SDK script: ``python sg_launch.py SCRIPT [ARGS...]``.

The script is loaded as a module that is not ``__main__`` (so a local-testing
``if __name__ == "__main__": run(main)`` block stays quiet), with its own folder first on
``sys.path`` and ``sys.argv`` as if it had been started directly.
"""

import importlib.util
import os
import sys

from . import SCHEMA_FLAG, dispatch, report_error


def launch(argv):
    """Loads the script ``argv[0]`` and dispatches the rest of ``argv`` to its ``main``."""
    if not argv:
        print("usage: sg_launch.py SCRIPT [ARGS...]", file=sys.stderr)
        return 2
    script = os.path.abspath(argv[0])
    sys.path[0] = os.path.dirname(script)
    sys.argv = [script, *argv[1:]]
    try:
        module = _load(script)
        main = getattr(module, "main", None)
        if not callable(main):
            raise TypeError(f"{os.path.basename(script)} defines no main function")
    except Exception as error:
        if SCHEMA_FLAG in argv[1:]:
            print(f"{type(error).__name__}: {error}", file=sys.stderr, flush=True)
        else:
            report_error(error)
        return 1
    return dispatch(main, argv[1:])


def _load(script):
    stem = os.path.splitext(os.path.basename(script))[0]
    name = stem if stem.isidentifier() and stem not in sys.modules else "__sg_script__"
    spec = importlib.util.spec_from_file_location(name, script)
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    spec.loader.exec_module(module)
    return module
