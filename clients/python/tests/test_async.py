"""The async client against a real gateway: the same methods as the sync one, awaited."""

from __future__ import annotations

import asyncio
import io

import pytest

from scriptgateway import (
    AsyncGateway,
    AsyncRun,
    InvalidParams,
    NotFound,
    RunFailed,
    RunRecord,
    RunTimeout,
)


@pytest.fixture
async def gw(server):
    async with AsyncGateway(server.url) as client:
        yield client


async def test_run_by_path_and_by_id(gw):
    result = await gw.run("python/hello.py", name="Ada")
    assert result.ok and result.data == {"message": "Hello Ada"}
    by_id = await gw.run(result.script_id, {"name": "Ada"}, times=2)
    assert by_id.script_id == result.script_id and by_id.data == {"message": "Hello Hello Ada"}
    assert (await gw.health())["status"] == "ok"


async def test_runs_go_on_concurrently(gw):
    results = await asyncio.gather(*(gw.run("python/hello", name=str(i)) for i in range(4)))
    assert [r.data["message"] for r in results] == [f"Hello {i}" for i in range(4)]
    assert len({r.run_id for r in results}) == 4


@pytest.mark.parametrize("kind", ["path", "bytes", "file object"])
async def test_uploads(gw, tmp_path, kind):
    content = b"async upload"
    source = tmp_path / "a.txt"
    source.write_bytes(content)
    upload = {"path": source, "bytes": content, "file object": io.BytesIO(content)}[kind]
    result = await gw.run("python/upload.py", doc=upload, label=kind)
    assert result.ok and result.data["size"] == len(content) and result.data["label"] == kind


async def test_run_async_wait_download_output(gw, tmp_path):
    run = await gw.run_async("python/upload.py", doc=b"xyz")
    assert isinstance(run, AsyncRun)
    result = await run.wait(timeout=30, check=True)
    assert result.data["size"] == 3
    written = await run.download(tmp_path)
    assert (tmp_path / "copy.txt").read_bytes() == b"XYZ" and len(written) == 2
    text = await gw.run_async("python/text.py", words=1)
    await text.wait(timeout=30)
    assert await text.output() == b"word\n"


async def test_wait_on_a_long_run(gw):
    run = await gw.run_async("python/slow.py", seconds=1.2)
    with pytest.raises(RunTimeout):
        await run.wait(timeout=0.1)
    result = await run.wait(timeout=30)
    assert result.ok and result.data == {"slept": 1.2}


async def test_events_in_order_then_the_end(gw):
    run = await gw.run_async("python/lines.py", count=4)
    events = [event async for event in run.events()]
    assert [e.data for e in events if e.event == "stdout"] == [f"out {i}" for i in range(4)]
    assert [e.data for e in events if e.event == "stderr"] == [f"err {i}" for i in range(4)]
    assert events[-1].event == "end" and sum(e.event == "end" for e in events) == 1
    assert isinstance(events[-1].run, RunRecord) and events[-1].run.status == "success"


async def test_cancel(gw):
    run = await gw.run_async("python/slow.py", seconds=30)
    deadline = asyncio.get_running_loop().time() + 15
    while (await run.status()).status != "running":
        assert asyncio.get_running_loop().time() < deadline, "the run never started"
        await asyncio.sleep(0.05)
    assert (await run.cancel()).id == run.id
    assert (await run.wait(timeout=15)).run_status == "cancelled"


async def test_listings_and_management(gw):
    every = [script async for script in gw.scripts.iter(page_size=3)]
    assert len(every) == (await gw.scripts.list()).total == 7
    hello = await gw.scripts.get("python/hello")
    assert (await gw.scripts.schema(hello))["name"]["required"] is True
    await gw.run(hello, name="x")
    runs = [run async for run in gw.runs.iter(script_id=hello.id, page_size=1)]
    assert runs and all(run.script_id == hello.id for run in runs)
    assert (await gw.runs.get(runs[0].id)).id == runs[0].id
    assert (await gw.dependencies.get(hello)).installed
    assert "keys" not in (await gw.settings.get())
    assert isinstance(await gw.keys.list(), list)


async def test_errors(gw):
    with pytest.raises(NotFound):
        await gw.run("python/missing.py")
    with pytest.raises(InvalidParams) as caught:
        await gw.run("python/hello.py", times="x")
    assert set(caught.value.errors) == {"name", "times"}
    with pytest.raises(RunFailed) as failed:
        await gw.run("python/fail.py", check=True)
    assert failed.value.result.exit_code == 3
