"""Ad-hoc runs (``exec`` / ``exec_async``): code run once like a script, against a gateway with
``--exec-enabled`` (and gateways without it, or with keys, for the errors)."""

from __future__ import annotations

import io
import json
import shutil

import pytest

from gateway_process import GatewayProcess, fixture_scripts
from scriptgateway import (
    AsyncGateway,
    AsyncRun,
    ExecDisabled,
    Forbidden,
    Gateway,
    GatewayError,
    Run,
    RunFailed,
    RunRecord,
    RunResult,
)

KEY = "client-exec-master-key"

ECHO = """
import json, os, sys
print(json.dumps({"args": sys.argv[1:], "greeting": os.environ.get("GREETING"),
                  "cwd_files": sorted(os.listdir("."))}))
"""

# Reads every input, writes one file, and says what it saw.
INPUTS = """
import json, os
seen = {name: open(name, "rb").read().decode() for name in sorted(os.listdir("."))}
with open("summary.txt", "w") as out:
    out.write("|".join(f"{name}={text}" for name, text in seen.items()))
print(json.dumps(seen))
"""


@pytest.fixture(scope="module")
def gw(exec_server):
    with Gateway(exec_server.url) as client:
        yield client


def test_python_code_gets_its_args_and_env_and_returns_data(gw):
    result = gw.exec(ECHO, args=["a", "b c"], env={"GREETING": "hi"})
    assert isinstance(result, RunResult)
    assert (result.status, result.run_status, result.ok) == ("success", "success", True)
    assert result.script_id is None and result.run_id > 0 and result.exit_code == 0
    assert result.data == {"args": ["a", "b c"], "greeting": "hi", "cwd_files": []}


@pytest.mark.skipif(shutil.which("node") is None, reason="node is not installed")
def test_node_code_runs_too(gw):
    code = "console.log(JSON.stringify({args: process.argv.slice(2), v: process.env.V}))"
    result = gw.exec(code, runtime="node", args=["x"], env={"V": "7"})
    assert result.ok, result
    assert result.data == {"args": ["x"], "v": "7"}
    assert gw.runs.get(result.run_id).script_path == "exec:node"


def test_a_failed_run_is_a_result_and_check_raises(gw):
    failed = gw.exec("import sys; print('bad', file=sys.stderr); sys.exit(4)")
    assert not failed.ok and failed.exit_code == 4 and failed.stderr.strip() == "bad"
    assert failed.error is not None and failed.error.code == "script_failed"
    with pytest.raises(RunFailed) as caught:
        gw.exec("raise SystemExit(5)", check=True)
    assert caught.value.result.exit_code == 5 and caught.value.result.script_id is None


def test_timeout_shortens_the_run(gw):
    result = gw.exec("import time; time.sleep(20)", timeout=0.5)
    assert result.run_status == "timeout" and result.error is not None
    assert result.duration_ms is not None and result.duration_ms < 10_000


def test_input_files_go_in_and_a_created_file_comes_back_through_the_run_handle(gw, tmp_path):
    on_disk = tmp_path / "ignored-name.csv"
    on_disk.write_bytes(b"from a path")
    files = {"prices.csv": on_disk, "raw.bin": b"from bytes", "notes.txt": io.BytesIO(b"from a stream")}
    run = gw.exec_async(INPUTS, files=files)
    assert isinstance(run, Run)
    result = run.wait(timeout=30, check=True)
    # each file under the name it was given, not the name of the file it came from
    assert result.data == {"notes.txt": "from a stream", "prices.csv": "from a path",
                           "raw.bin": "from bytes"}
    assert [item.name for item in result.files] == ["summary.txt"]
    written = run.download(tmp_path / "out")
    assert [path.name for path in written] == ["summary.txt"]
    assert written[0].read_text() == "notes.txt=from a stream|prices.csv=from a path|raw.bin=from bytes"


def test_files_go_with_args_env_and_timeout_as_multipart_fields(gw):
    result = gw.exec(ECHO, args=["1"], env={"GREETING": "multipart"}, timeout=30,
                     files={"code": b"an input named like the code field"})
    assert result.ok, result
    assert result.data == {"args": ["1"], "greeting": "multipart", "cwd_files": ["code"]}


def test_packages_are_sent_and_checked_by_the_gateway(gw):
    with pytest.raises(GatewayError) as caught:
        gw.exec("print(1)", packages=["--index-url=http://elsewhere"])
    assert caught.value.status == 400 and caught.value.code == "invalid_request"
    assert "packages" in caught.value.message


def test_bad_requests_are_refused(gw):
    with pytest.raises(GatewayError) as caught:
        gw.exec("1", runtime="ruby")
    assert caught.value.status == 400 and caught.value.code == "invalid_request"
    with pytest.raises(GatewayError) as caught:
        gw.exec("1", env={"SG_RUN_ID": "mine"})
    assert caught.value.status == 400 and "SG_" in caught.value.message
    # refused before sending: a bare string for a list, a path for a name, text for a file
    with pytest.raises(TypeError):
        gw.exec("1", args="a b")  # type: ignore[arg-type]
    for name in ("sub/a.txt", "..", "", "a\\b"):
        with pytest.raises(ValueError):
            gw.exec("1", files={name: b"x"})
    with pytest.raises(TypeError):
        gw.exec("1", files={"a.txt": "not bytes"})  # type: ignore[dict-item]


def test_history_shows_kind_exec_and_no_script(gw):
    script_run = gw.run("python/hello.py", name="history")
    done = gw.exec("print('{\"n\": 1}')")
    record = gw.runs.get(done.run_id)
    assert isinstance(record, RunRecord)
    assert (record.kind, record.script_id, record.script_path) == ("exec", None, "exec:python")
    assert record.to_result().script_id is None and record.to_result().data == {"n": 1}
    assert gw.runs.get(script_run.run_id).kind == "script"
    execs = gw.runs.list(kind="exec", page_size=500)
    assert done.run_id in [item.id for item in execs.items]
    assert script_run.run_id not in [item.id for item in execs.items]
    assert all(item.kind == "exec" and item.script_id is None for item in execs.items)
    scripts = list(gw.runs.iter(kind="script", page_size=2))
    assert script_run.run_id in [item.id for item in scripts]
    assert all(item.kind == "script" and item.script_id is not None for item in scripts)
    with pytest.raises(GatewayError) as caught:
        gw.runs.list(kind="other")
    assert caught.value.status == 400


def test_the_end_event_of_an_exec_run_parses(gw):
    run = gw.exec_async("print('one')\nprint('two')")
    events = list(run.events())
    assert [e.data for e in events if e.event == "stdout"] == ["one", "two"]
    end = events[-1].run
    assert end is not None and end.kind == "exec" and end.script_id is None


async def test_async_exec_events_wait_and_history(exec_server):
    async with AsyncGateway(exec_server.url) as agw:
        run = await agw.exec_async("import sys\nfor i in range(3):\n    print('line', i, flush=True)\n"
                                   "print(sys.argv[1], file=sys.stderr)", args=["async"])
        assert isinstance(run, AsyncRun)
        events = [event async for event in run.events()]
        assert [e.data for e in events if e.event == "stdout"] == ["line 0", "line 1", "line 2"]
        assert [e.data for e in events if e.event == "stderr"] == ["async"]
        assert events[-1].event == "end"
        result = await run.wait(timeout=30, check=True)
        assert result.run_id == run.id and result.script_id is None and result.stderr.strip() == "async"
        direct = await agw.exec(ECHO, files={"in.txt": b"x"}, env={"GREETING": "aio"})
        assert direct.data == {"args": [], "greeting": "aio", "cwd_files": ["in.txt"]}
        listed = [item async for item in agw.runs.iter(kind="exec", page_size=1)]
        assert {run.id, direct.run_id} <= {item.id for item in listed}
        assert all(item.kind == "exec" and item.script_id is None for item in listed)
        assert (await agw.runs.get(run.id)).kind == "exec"
        scripts = await agw.runs.list(kind="script", page_size=500)
        assert run.id not in [item.id for item in scripts.items]
        with pytest.raises(RunFailed):
            await agw.exec("raise SystemExit(1)", check=True)


def test_exec_while_disabled_raises_exec_disabled():
    process = GatewayProcess(fixture_scripts("hello")).start()
    try:
        with Gateway(process.url) as plain:
            for attempt in (lambda: plain.exec("print(1)"),
                            lambda: plain.exec_async("print(1)"),
                            lambda: plain.exec("print(1)", files={"a": b"x"})):
                with pytest.raises(ExecDisabled) as caught:
                    attempt()
                assert isinstance(caught.value, Forbidden)
                assert caught.value.status == 403 and caught.value.code == "exec_disabled"
            assert plain.runs.list(kind="exec").total == 0
    finally:
        process.stop()


async def test_exec_while_disabled_async():
    process = GatewayProcess(fixture_scripts("hello")).start()
    try:
        async with AsyncGateway(process.url) as plain:
            with pytest.raises(ExecDisabled):
                await plain.exec("print(1)")
            with pytest.raises(ExecDisabled):
                await plain.exec_async("print(1)")
    finally:
        process.stop()


def test_only_exec_and_admin_keys_may_exec():
    process = GatewayProcess(fixture_scripts("hello"), args=["--exec-enabled"], api_key=KEY).start()
    try:
        with Gateway(process.url, api_key=KEY) as admin:
            runner = admin.keys.create("runner", "run").key
            agent = admin.keys.create("agent", "exec").key
            assert runner and agent
            with Gateway(process.url, api_key=runner) as refused:
                with pytest.raises(Forbidden) as caught:
                    refused.exec("print(1)")
                assert caught.value.code == "forbidden" and not isinstance(caught.value, ExecDisabled)
            with Gateway(process.url, api_key=agent) as allowed:
                assert allowed.exec("print(2)").data == 2
            assert admin.exec("print(3)").data == 3
    finally:
        process.stop()


def test_json_and_multipart_send_the_same_fields(gw):
    """The same request with and without a file: the code sees the same args and env."""
    plain = gw.exec(ECHO, args=["same"], env={"GREETING": json.dumps({"k": 1})})
    with_file = gw.exec(ECHO, args=["same"], env={"GREETING": json.dumps({"k": 1})},
                        files={"f": b""})
    assert plain.data["args"] == with_file.data["args"] == ["same"]
    assert plain.data["greeting"] == with_file.data["greeting"] == '{"k": 1}'
    assert with_file.data["cwd_files"] == ["f"]


def test_records_of_older_gateways_are_script_runs():
    """A gateway from before ad-hoc runs sends no ``kind``: its runs all ran scripts."""
    old = RunRecord.model_validate({"id": 1, "script_id": 2, "script_path": "python/a.py",
                                    "status": "success"})
    assert old.kind == "script" and old.to_result().script_id == 2
    assert "kind" not in old.to_result().model_dump()
