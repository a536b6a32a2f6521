"""The synchronous client against a real gateway: every method."""

from __future__ import annotations

import hashlib
import io

import pytest

from gateway_process import poll
from scriptgateway import (
    Gateway,
    GatewayError,
    InvalidParams,
    NotFound,
    Page,
    Run,
    RunFailed,
    RunRecord,
    RunResult,
    RunTimeout,
    Script,
)


@pytest.fixture
def gw(server):
    with Gateway(server.url) as client:
        yield client


def test_defaults_come_from_sg_url_and_sg_api_key(server, monkeypatch):
    monkeypatch.setenv("SG_URL", server.url + "/")
    monkeypatch.setenv("SG_API_KEY", "from-env")
    with Gateway() as client:
        assert client.url == server.url
        assert client._client.headers["X-API-Key"] == "from-env"
        assert client.health()["status"] == "ok"


def test_run_by_path_returns_a_typed_result(gw):
    result = gw.run("python/hello.py", name="Ada", times=2)
    assert isinstance(result, RunResult)
    assert (result.status, result.run_status, result.ok) == ("success", "success", True)
    assert result.data == {"message": "Hello Hello Ada"}
    assert result.run_id > 0 and result.error is None and result.files == []


def test_run_by_id_by_extensionless_path_and_by_script_are_the_same_script(gw):
    script = gw.scripts.get("python/hello.py")
    for ref in (script.id, str(script.id), "python/hello", script):
        result = gw.run(ref, name="Bo", loud=True)
        assert result.script_id == script.id, ref
        assert result.data == {"message": "HELLO Bo"}, ref


def test_params_dict_and_keywords_merge(gw):
    result = gw.run("python/hello", {"name": "Cy"}, style="fancy")
    assert result.data == {"message": "*** Hello Cy ***"}


def test_failed_run_is_a_result_and_check_raises_run_failed(gw):
    result = gw.run("python/fail.py")
    assert not result.ok and result.status == "error" and result.run_status == "error"
    assert result.error is not None and result.error.code == "script_failed"
    assert result.exit_code == 3 and "failing on purpose" in result.stderr
    with pytest.raises(RunFailed) as caught:
        gw.run("python/fail.py", reason="checked", check=True)
    assert caught.value.code == "script_failed"
    assert caught.value.result.exit_code == 3
    assert "failing checked" in caught.value.result.stderr


@pytest.mark.parametrize("kind", ["path", "bytes", "file object"])
def test_uploads_go_as_multipart_with_the_other_params_typed(gw, tmp_path, kind):
    content = b"some text to upload\n"
    source = tmp_path / "notes.txt"
    source.write_bytes(content)
    upload = {"path": source, "bytes": content, "file object": io.BytesIO(content)}[kind]
    result = gw.run("python/upload.py", doc=upload, label=kind)
    assert result.ok, result
    assert result.data == {"label": kind, "size": len(content),
                           "sha256": hashlib.sha256(content).hexdigest()}
    assert sorted(item.name for item in result.files) == ["copy.txt", "label.txt"]


def test_an_open_file_on_disk_is_uploaded_with_its_name(gw, tmp_path):
    source = tmp_path / "report.csv"
    source.write_bytes(b"a,b\n1,2\n")
    with source.open("rb") as handle:
        run = gw.run_async("python/upload.py", doc=handle)
    record = run.wait(timeout=30)
    assert record.ok
    params = gw.runs.get(run.id).params
    assert "report.csv" in str(params["doc"]), params


def test_run_async_download_and_output(gw, tmp_path):
    run = gw.run_async("python/upload.py", doc=b"abc", label="dl")
    assert isinstance(run, Run)
    result = run.wait(timeout=30, check=True)
    assert result.run_id == run.id and result.data["size"] == 3
    written = run.download(tmp_path / "out")
    assert sorted(path.name for path in written) == ["copy.txt", "label.txt"]
    assert (tmp_path / "out" / "copy.txt").read_bytes() == b"ABC"
    text = gw.run_async("python/text.py", words=2)
    assert text.wait(timeout=30).type == "file"
    assert text.output() == b"word word\n"
    with pytest.raises(NotFound):
        run.output()  # its stdout was JSON


def test_wait_on_a_long_run_and_wait_timeout(gw):
    run = gw.run_async("python/slow.py", seconds=1.5)
    with pytest.raises(RunTimeout) as caught:
        run.wait(timeout=0.2)
    assert isinstance(caught.value, TimeoutError)
    assert run.status().status in ("queued", "running")
    result = run.wait(timeout=30)
    assert result.ok and result.data == {"slept": 1.5}
    assert result.duration_ms is not None and result.duration_ms >= 1400


def test_events_come_in_order_then_the_end(gw):
    run = gw.run_async("python/lines.py", count=4)
    events = list(run.events())
    assert events[-1].event == "end"
    assert [e.event for e in events[:-1]].count("end") == 0
    stdout = [e.data for e in events if e.event == "stdout"]
    stderr = [e.data for e in events if e.event == "stderr"]
    assert stdout == [f"out {i}" for i in range(4)]
    assert stderr == [f"err {i}" for i in range(4)]
    end = events[-1].run
    assert isinstance(end, RunRecord) and end.status == "success" and end.id == run.id
    ids = [int(e.id) for e in events]
    assert ids == sorted(ids)


def test_events_of_a_finished_run_are_replayed_and_resume_after_an_id(gw):
    run = gw.run_async("python/lines.py", count=3, pause=0.0)
    run.wait(timeout=30)
    events = list(run.events())
    again = list(run.events(last_event_id=events[1].id))
    assert [e.id for e in again] == [e.id for e in events[2:]]


def test_cancel_stops_a_running_run(gw):
    run = gw.run_async("python/slow.py", seconds=30)
    poll("the run to start", lambda: run.status().status == "running" or None)
    record = run.cancel()
    assert record.id == run.id
    result = run.wait(timeout=15)
    assert result.run_status == "cancelled" and result.error and result.error.code == "cancelled"


def test_scripts_list_filters_and_iterates_over_pages(gw):
    page = gw.scripts.list(page_size=2)
    assert isinstance(page, Page) and len(page.items) == 2 and page.total == 7
    every = list(gw.scripts.iter(page_size=2))
    assert len(every) == 7 and len({s.id for s in every}) == 7
    assert all(isinstance(s, Script) for s in every)
    broken = gw.scripts.list(status="error")
    assert [s.path for s in broken.items] == ["python/broken.py"]
    assert broken.items[0].load_error
    found = gw.scripts.list(search="hello").items
    assert [s.path for s in found] == ["python/hello.py"]
    assert gw.scripts.list(type="js").total == 0


def test_script_get_and_schema_by_id_or_path(gw):
    by_path = gw.scripts.get("python/hello.py")
    assert gw.scripts.get(by_path.id).path == "python/hello.py"
    schema = gw.scripts.schema("python/hello.py")
    assert schema == gw.scripts.schema(by_path.id) == by_path.args_schema
    assert schema["times"]["type"] == "int" and schema["style"]["choices"] == ["plain", "fancy"]
    with pytest.raises(GatewayError) as caught:
        gw.scripts.schema("python/broken.py")
    assert caught.value.status == 422


def test_runs_list_filter_get_and_cancel(gw):
    hello = gw.scripts.get("python/hello.py")
    first = gw.run(hello, name="list")
    page = gw.runs.list(script_id=hello.id, status="success", page_size=1)
    assert page.total >= 1 and page.items[0].script_id == hello.id
    assert all(r.status == "error" for r in gw.runs.iter(status="error"))
    record = gw.runs.get(first.run_id)
    assert record.params == {"name": "list", "times": 1, "loud": False, "style": "plain"}
    assert record.to_result().data == first.data
    slow = gw.run_async("python/slow.py", seconds=30)
    assert gw.runs.cancel(slow.id).id == slow.id
    assert gw.runs.handle(slow.id).wait(timeout=15).run_status == "cancelled"


def test_dependencies_settings_and_keys(gw):
    deps = gw.dependencies.get("python/hello.py")
    assert deps.runtime == "python" and deps.installed and deps.deps == []
    assert isinstance(gw.dependencies.cache_status(), dict)
    settings = gw.settings.get()
    assert settings["timeout_sec"].source in ("default", "cli", "env")
    changed = gw.settings.update(run_retention_days=7)
    assert changed["run_retention_days"].value == 7 and changed["run_retention_days"].source == "db"
    gw.settings.reset("run_retention_days")
    assert gw.settings.get()["run_retention_days"].source != "db"
    with pytest.raises(GatewayError) as caught:
        gw.settings.update(run_retention_days="soon")
    assert caught.value.status == 400


def test_unknown_script_and_run_are_not_found(gw):
    with pytest.raises(NotFound) as caught:
        gw.run("python/nope.py")
    assert caught.value.code == "not_found" and caught.value.status == 404
    assert "python/nope" in caught.value.message
    with pytest.raises(NotFound):
        gw.scripts.get(99999)
    with pytest.raises(NotFound):
        gw.runs.get(99999)


def test_invalid_params_carry_each_field(gw):
    with pytest.raises(InvalidParams) as caught:
        gw.run("python/hello.py", times="many", style="odd")
    error = caught.value
    assert error.status == 400 and error.code == "invalid_params"
    assert set(error.errors) == {"name", "times", "style"}, error.details
    assert "integer" in error.errors["times"]


def test_a_script_is_an_id_a_digit_string_a_script_or_a_plain_path(gw):
    hello = gw.scripts.get("python/hello")
    assert gw.scripts.get(str(hello.id)) == hello
    with pytest.raises(TypeError):
        gw.scripts.get(1.5)  # type: ignore[arg-type]
    for odd in ("python/../python/hello", "python//hello", "./python/hello"):
        with pytest.raises(ValueError):
            gw.run(odd, name="x")
