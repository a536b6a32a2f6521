"""The package is typed (``py.typed``, mypy --strict clean), and so is what uses it: a caller's
code and a module written by ``python -m scriptgateway stubs``."""

from __future__ import annotations

import pathlib
import shutil
import subprocess
import sys

import pytest

PACKAGE = pathlib.Path(__file__).resolve().parents[1] / "src" / "scriptgateway"

CALLER = '''
from pathlib import Path
from typing import Optional
from scriptgateway import ExecuteResult, Gateway, Run, RunResult, RunRecord, Script, SessionFile

def use(gw: Gateway) -> int:
    result: RunResult = gw.run("python/hello.py", name="Ada", photo=Path("x.png"))
    run = gw.run_async(4, {"check": 1})
    waited: RunResult = run.wait(timeout=1.0)
    record: RunRecord = run.status()
    scripts: list[Script] = list(gw.scripts.iter(type="python"))
    with gw.sessions.create(env={"A": "b"}) as session:
        done: ExecuteResult = session.execute("1 + 1", timeout=2.0, check=True)
        written: SessionFile = session.write_file("a.txt", Path("a.txt"))
        data: bytes = session.read_file(written.path)
        calls: int = session.refresh().calls + len(session.files()) + len(data)
    once: ExecuteResult = gw.interpreter.execute("1", env={"A": "b"})
    if done.error is not None and once.ok:
        calls += len(done.error.traceback)
    adhoc: RunResult = gw.exec("print(1)", "python", ["a"], {"A": "b"}, None,
                               {"in.txt": Path("a"), "b": b"x"}, 1.0, check=True)
    handle: Run = gw.exec_async("1", runtime="node", packages=["lodash@4"])
    kind: str = gw.runs.get(handle.id).kind
    no_script: Optional[int] = adhoc.script_id
    execs: list[RunRecord] = list(gw.runs.iter(kind="exec"))
    calls += len(kind) + (no_script or 0) + len(execs)
    return result.run_id + waited.run_id + record.id + len(scripts) + len(run.output()) + calls

def misuse(gw: Gateway) -> str:
    return gw.run("python/hello.py").run_id
'''


def mypy(*args: str) -> subprocess.CompletedProcess:
    found = shutil.which("mypy", path=str(pathlib.Path(sys.executable).parent))
    if not found:
        print("SKIPPED: mypy is not installed (pip install -r requirements-test.txt)", file=sys.stderr)
        pytest.skip("mypy is not installed")
    return subprocess.run([found, "--no-incremental", "--strict", *args],
                          capture_output=True, text=True, timeout=120)


def test_the_package_is_marked_typed_and_passes_mypy_strict():
    assert (PACKAGE / "py.typed").exists()
    done = mypy(str(PACKAGE))
    assert done.returncode == 0, done.stdout + done.stderr


def test_callers_get_real_types_not_any(tmp_path):
    caller = tmp_path / "caller.py"
    caller.write_text(CALLER)
    done = mypy(str(caller))
    errors = [line for line in done.stdout.splitlines() if ": error:" in line]
    assert len(errors) == 1, done.stdout
    assert 'Incompatible return value type (got "int", expected "str")' in errors[0], errors


def test_a_stubs_module_passes_mypy_strict(server, tmp_path):
    module = tmp_path / "sg_scripts.py"
    subprocess.run([sys.executable, "-m", "scriptgateway", "stubs", "--url", server.url,
                    "-o", str(module)], check=True, capture_output=True, timeout=60)
    done = mypy(str(module))
    assert done.returncode == 0, done.stdout + done.stderr
