"""``python -m scriptgateway stubs``: a typed module with one function per script."""

from __future__ import annotations

import importlib.util
import inspect
import pathlib
import shutil
import subprocess
import sys
import typing

import pytest

from scriptgateway import Gateway, RunFailed
from scriptgateway._stubs import function_names, identifier


@pytest.fixture(scope="module")
def stubs(server, tmp_path_factory):
    target = tmp_path_factory.mktemp("stubs") / "sg_scripts.py"
    done = subprocess.run([sys.executable, "-m", "scriptgateway", "stubs", "--url", server.url,
                           "-o", str(target)], capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    assert "6 functions" in done.stderr and "1 scripts with load errors" in done.stderr
    spec = importlib.util.spec_from_file_location("sg_scripts", target)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_one_function_per_loadable_script_named_after_its_path(stubs):
    assert sorted(stubs.__all__) == ["python_fail", "python_hello", "python_lines",
                                     "python_slow", "python_text", "python_upload"]


def test_parameters_are_typed_keywords_with_defaults_and_help(stubs):
    signature = inspect.signature(stubs.python_hello)
    hints = typing.get_type_hints(stubs.python_hello)
    assert list(signature.parameters) == ["gateway", "name", "times", "loud", "style", "check"]
    assert signature.parameters["name"].default is inspect.Parameter.empty
    assert signature.parameters["name"].kind is inspect.Parameter.KEYWORD_ONLY
    assert (signature.parameters["times"].default, signature.parameters["loud"].default) == (1, False)
    assert (hints["name"], hints["times"], hints["loud"]) == (str, int, bool)
    assert hints["style"] == typing.Literal["plain", "fancy"]
    assert "name: Who to greet" in stubs.python_hello.__doc__
    assert "Greets someone." in stubs.python_hello.__doc__


def test_the_functions_run_their_scripts_by_path(server, stubs):
    with Gateway(server.url) as gw:
        result = stubs.python_hello(gw, name="Stub", style="fancy")
        assert result.data == {"message": "*** Hello Stub ***"}
        upload = stubs.python_upload(gw, doc=b"stub bytes")
        assert upload.data["size"] == 10 and upload.data["label"] == "doc"
        with pytest.raises(RunFailed):
            stubs.python_fail(gw, check=True)


def test_names_are_identifiers_that_stay_apart():
    assert identifier("python/reports/daily-sales") == "python_reports_daily_sales"
    assert identifier("class") == "class_" and identifier("9lives") == "_9lives"
    names = function_names(["js/tool.js", "js/tool.mjs", "python/a.py"])
    assert names == {"js/tool.js": "js_tool_js", "js/tool.mjs": "js_tool_mjs", "python/a.py": "python_a"}
    assert len(set(function_names(["a/b_c.py", "a/b-c.py", "a_b/c.py"]).values())) == 3


def test_the_console_script_is_installed():
    script = pathlib.Path(sys.executable).parent / "scriptgateway-stubs"
    assert script.exists() or shutil.which("scriptgateway-stubs"), "pip install ./clients/python adds it"
