"""Interpreter sessions and one-shot exec, against gateways with and without ``--exec-enabled``
(and one with keys, for the ``exec`` scope)."""

from __future__ import annotations

import io
import pathlib
import shutil

import pytest

from gateway_process import GatewayProcess, fixture_scripts
from scriptgateway import (
    AsyncGateway,
    ExecDisabled,
    ExecuteResult,
    ExecutionFailed,
    Forbidden,
    Gateway,
    GatewayError,
    NotFound,
    Session,
    SessionFile,
    TooManyRuns,
    TooManySessions,
)

KEY = "client-sessions-master-key"


@pytest.fixture(scope="module")
def gw(exec_server):
    with Gateway(exec_server.url) as client:
        yield client


@pytest.fixture
def session(gw):
    with gw.sessions.create() as live:
        yield live


def test_state_output_and_the_final_expression(session):
    assert isinstance(session, Session) and session.runtime == "python" and session.id
    first = session.execute("import sys\nx = 40\nprint('out')\nprint('err', file=sys.stderr)")
    assert isinstance(first, ExecuteResult)
    assert first.ok and first.stdout == "out\n" and first.stderr == "err\n" and first.result is None
    second = session.execute("x + 2")
    assert second.ok and second.result == "42" and second.error is None
    assert session.refresh().calls == 2 and session.status == "idle"
    assert session.info().id == session.id


def test_an_exception_is_a_typed_error_and_check_raises_it(session):
    failed = session.execute("1/0")
    assert failed.status == "error" and not failed.ok
    assert failed.error is not None and failed.error.name == "ZeroDivisionError"
    assert failed.error.value == "division by zero" and "Traceback" in failed.error.traceback
    with pytest.raises(ExecutionFailed) as caught:
        session.execute("raise KeyError('k')", check=True)
    assert caught.value.code == "error" and caught.value.result.error is not None
    assert caught.value.result.error.name == "KeyError" and "KeyError" in caught.value.message
    assert session.execute("'still here'", check=True).result == "'still here'"


def test_a_timeout_interrupts_the_code_and_the_session_lives_on(session):
    session.execute("kept = 'yes'")
    slow = session.execute("import time\ntime.sleep(10)", timeout=0.3)
    assert slow.status == "interrupted" and slow.error is not None
    assert slow.error.name == "KeyboardInterrupt" and slow.duration_ms < 5000
    assert session.execute("kept").result == "'yes'"


def test_exit_ends_the_session(gw):
    with gw.sessions.create() as live:
        ended = live.execute("import sys\nsys.exit(3)")
        assert ended.status == "exit" and ended.exit_code == 3
        with pytest.raises(NotFound):
            live.info()
    # leaving the block after the session ended by itself is fine (close() tolerates it)
    with pytest.raises(ExecutionFailed) as caught:
        with gw.sessions.create() as other:
            other.execute("exit()", check=True)
    assert caught.value.code == "exit"


def test_files_round_trip(session, tmp_path):
    assert session.write_file("notes/a.txt", "héllo") == SessionFile(path="notes/a.txt", kind="file", size=6)
    source = tmp_path / "b.bin"
    source.write_bytes(b"\x00\x01binary")
    session.write_file("b.bin", source)
    session.write_file(pathlib.PurePosixPath("c.bin"), io.BytesIO(b"from a stream"))
    listed = {entry.path: entry for entry in session.files()}
    assert listed["notes"].kind == "dir" and listed["notes/a.txt"].size == 6
    assert {"b.bin", "c.bin"} <= set(listed)
    assert session.read_file("notes/a.txt").decode() == "héllo"
    assert session.read_file("b.bin") == b"\x00\x01binary"
    # the code sees the same folder
    assert session.execute("open('c.bin').read()").result == "'from a stream'"
    session.execute("open('made.txt', 'w').write('by code')")
    assert session.read_file("made.txt") == b"by code"
    session.delete_file("made.txt")
    with pytest.raises(NotFound):
        session.read_file("made.txt")


@pytest.mark.parametrize("path", ["../x", "notes/../../x", "/etc/passwd"])
def test_paths_out_of_the_folder_are_refused(session, path):
    with pytest.raises(GatewayError) as caught:
        session.read_file(path)
    assert caught.value.status == 400 and caught.value.code == "unsafe_path"
    with pytest.raises(GatewayError) as caught:
        session.write_file(path, b"x")
    assert caught.value.code == "unsafe_path"


def test_one_shot_interpreter(gw):
    result = gw.interpreter.execute("import os\nprint('hi')\nos.environ['GREETING']",
                                    env={"GREETING": "hello"})
    assert result.ok and result.stdout == "hi\n" and result.result == "'hello'"
    assert gw.interpreter.execute("1/0").error is not None
    with pytest.raises(ExecutionFailed):
        gw.interpreter.execute("import time; time.sleep(10)", timeout=0.3, check=True)


def test_the_context_manager_deletes_the_session_and_list_get_see_it(gw):
    with gw.sessions.create(env={"MY_VAR": "v"}) as live:
        assert live.execute("import os; os.environ['MY_VAR']").result == "'v'"
        assert live.id in [item.id for item in gw.sessions.list()]
        again = gw.sessions.get(live.id)
        assert again.id == live.id and again.pid == live.pid
        assert again.execute("1 + 1").result == "2"
    with pytest.raises(NotFound):
        gw.sessions.get(live.id)
    assert live.id not in [item.id for item in gw.sessions.list()]
    with pytest.raises(NotFound):
        live.delete()


@pytest.mark.skipif(shutil.which("node") is None, reason="node is not installed")
def test_a_node_session(gw):
    with gw.sessions.create("node") as live:
        assert live.runtime == "node"
        first = live.execute("var a = 2; console.log('x'); a * 21")
        assert first.ok and first.stdout == "x\n" and first.result == "42"
        thrown = live.execute("throw new TypeError('bad')")
        assert thrown.error is not None and (thrown.error.name, thrown.error.value) == ("TypeError", "bad")
        waited = live.execute("new Promise(r => setTimeout(r, 10000))", timeout=0.3)
        assert waited.status == "interrupted" and live.execute("a").result == "2"
        ended = live.execute("process.exit(2)")
        assert ended.status == "exit" and ended.exit_code == 2


def test_bad_creation_requests(gw):
    with pytest.raises(GatewayError) as caught:
        gw.sessions.create("ruby")
    assert caught.value.status == 400
    with pytest.raises(NotFound):
        gw.sessions.create(deps_of="python/missing.py")


def test_too_many_sessions_is_a_429_with_retry_after(gw):
    gw.settings.update(max_sessions=1)
    try:
        with gw.sessions.create():
            with pytest.raises(TooManySessions) as caught:
                gw.sessions.create()
            assert isinstance(caught.value, TooManyRuns)
            assert caught.value.status == 429 and caught.value.code == "too_many_sessions"
            assert caught.value.retry_after is not None
    finally:
        gw.settings.reset("max_sessions")


async def test_async_sessions(exec_server):
    async with AsyncGateway(exec_server.url) as agw:
        async with await agw.sessions.create() as live:
            assert (await live.execute("y = 2")).ok
            assert (await live.execute("y * 21")).result == "42"
            slow = await live.execute("import time; time.sleep(10)", timeout=0.3)
            assert slow.status == "interrupted"
            failed = await live.execute("int('x')")
            assert failed.error is not None and failed.error.name == "ValueError"
            await live.write_file("d/e.txt", b"async bytes")
            assert [f.path for f in await live.files()] == ["d", "d/e.txt"]
            assert await live.read_file("d/e.txt") == b"async bytes"
            await live.delete_file("d/e.txt")
            with pytest.raises(GatewayError) as caught:
                await live.read_file("../x")
            assert caught.value.code == "unsafe_path"
            assert (await live.refresh()).calls == 4
            assert live.id in [item.id for item in await agw.sessions.list()]
            assert (await agw.sessions.get(live.id)).id == live.id
        with pytest.raises(NotFound):
            await agw.sessions.get(live.id)
        one_shot = await agw.interpreter.execute("2 ** 10")
        assert one_shot.ok and one_shot.result == "1024"
        with pytest.raises(ExecutionFailed):
            await agw.interpreter.execute("raise SystemExit(4)", check=True)


def test_exec_disabled_is_a_403_exception():
    process = GatewayProcess(fixture_scripts("hello")).start()
    try:
        with Gateway(process.url) as plain:
            for attempt in (plain.sessions.list, plain.sessions.create,
                            lambda: plain.interpreter.execute("1")):
                with pytest.raises(ExecDisabled) as caught:
                    attempt()
                assert isinstance(caught.value, Forbidden)
                assert caught.value.status == 403 and caught.value.code == "exec_disabled"
    finally:
        process.stop()


async def test_exec_disabled_async():
    process = GatewayProcess(fixture_scripts("hello")).start()
    try:
        async with AsyncGateway(process.url) as plain:
            with pytest.raises(ExecDisabled):
                await plain.sessions.create()
    finally:
        process.stop()


def test_only_exec_keys_reach_sessions():
    process = GatewayProcess(fixture_scripts("hello"), args=["--exec-enabled"], api_key=KEY).start()
    try:
        with Gateway(process.url, api_key=KEY) as admin:
            runner = admin.keys.create("runner", "run").key
            agent = admin.keys.create("agent", "exec").key
            assert runner and agent
            with Gateway(process.url, api_key=runner) as refused:
                with pytest.raises(Forbidden) as caught:
                    refused.sessions.create()
                assert not isinstance(caught.value, ExecDisabled)
                with pytest.raises(Forbidden):
                    refused.interpreter.execute("1")
            with Gateway(process.url, api_key=agent) as allowed:
                with allowed.sessions.create() as live:
                    assert live.execute("6 * 7").result == "42"
                assert allowed.interpreter.execute("'ok'").result == "'ok'"
                with pytest.raises(Forbidden):
                    allowed.run("python/hello.py", name="no")   # an exec key reaches nothing else
            with admin.sessions.create() as live:                   # the master key does
                assert live.execute("1").ok
    finally:
        process.stop()
