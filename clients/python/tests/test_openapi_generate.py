"""A client generated from ``/openapi.json`` by ``openapi-python-client`` (pinned in
``requirements-test.txt``) keeps its per-script module and function names across a rescan that
adds a script, and on another gateway that saw the same scripts in another order (other ids)."""

from __future__ import annotations

import ast
import pathlib
import shutil
import subprocess
import sys

import httpx
import pytest

from gateway_process import GatewayProcess, fixture_scripts


def generator() -> str:
    found = shutil.which("openapi-python-client", path=str(pathlib.Path(sys.executable).parent))
    found = found or shutil.which("openapi-python-client")
    if not found:
        reason = "openapi-python-client is not installed (pip install -r requirements-test.txt)"
        print(f"SKIPPED: {reason}", file=sys.stderr)
        pytest.skip(reason)
    return found


def generate(url: str, out: pathlib.Path) -> dict:
    """Generates a client from the gateway's document; returns {module: its code} for every
    per-script module (the ``python`` tag's operations)."""
    document = out.with_suffix(".json")
    document.write_bytes(httpx.get(f"{url}/openapi.json").content)
    done = subprocess.run([generator(), "generate", "--path", str(document), "--output-path", str(out),
                           "--meta", "none"], capture_output=True, text=True, timeout=120)
    if done.returncode != 0:
        output = done.stdout[-2000:] + done.stderr[-2000:]
        reason = f"openapi-python-client failed on /openapi.json: {output}"
        print(f"SKIPPED: {reason}", file=sys.stderr)
        pytest.skip(reason)
    return {path.name: path.read_text() for path in sorted((out / "api" / "python").glob("run_*.py"))}


def functions(code: str) -> list:
    return [node.name for node in ast.parse(code).body if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef))]


def started_in_order(*batches: tuple) -> GatewayProcess:
    """A gateway that first sees the first batch of scripts, then each next batch after a rescan."""
    process = GatewayProcess(fixture_scripts(*batches[0])).start()
    for batch in batches[1:]:
        for path, source in fixture_scripts(*batch).items():
            process.add_script(path, source)
            process.scripts[path] = source
        httpx.post(f"{process.url}/api/scan").raise_for_status()
    return process


def ids(url: str) -> dict:
    items = httpx.get(f"{url}/api/scripts", params={"page_size": 100}).json()["items"]
    return {item["path"]: item["id"] for item in items}


def test_generated_names_are_the_same_across_rescans_and_gateways(tmp_path):
    generator()
    first = started_in_order(("hello",), ("slow",), ("upload",))
    second = started_in_order(("upload",), ("slow",), ("hello",))
    try:
        assert ids(first.url) != ids(second.url), "the two gateways gave the scripts other ids"
        after = generate(first.url, tmp_path / "first")
        other = generate(second.url, tmp_path / "second")
        assert sorted(after) == sorted(other) == [
            "run_python_hello.py", "run_python_hello_get.py", "run_python_slow.py",
            "run_python_slow_get.py", "run_python_upload.py"]
        for module, code in after.items():
            assert functions(code) == functions(other[module]), module
            assert {"sync", "asyncio", "sync_detailed", "asyncio_detailed"} <= set(functions(code)), module
            assert code == other[module], f"{module} differs between the two gateways"
        assert '"/api/run/python/hello.py"' in after["run_python_hello.py"]
    finally:
        first.stop()
        second.stop()


def test_a_rescan_that_adds_a_script_keeps_the_existing_names(tmp_path):
    generator()
    process = GatewayProcess(fixture_scripts("hello", "slow")).start()
    try:
        before = generate(process.url, tmp_path / "before")
        for path, source in fixture_scripts("fail").items():
            process.add_script(path, source)
        httpx.post(f"{process.url}/api/scan").raise_for_status()
        after = generate(process.url, tmp_path / "after")
        assert set(after) - set(before) == {"run_python_fail.py", "run_python_fail_get.py"}
        for module, code in before.items():
            assert after[module] == code, module
    finally:
        process.stop()
