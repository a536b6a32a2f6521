"""429 too_many_runs: one slot, no queue, and a slow run holding the slot."""

from __future__ import annotations

import time

import pytest

from gateway_process import GatewayProcess, fixture_scripts, poll
from scriptgateway import AsyncGateway, Gateway, TooManyRuns


@pytest.fixture(scope="module")
def full():
    process = GatewayProcess(fixture_scripts("hello", "slow"),
                             args=["--max-concurrent-runs", "1", "--max-queued-runs", "0"]).start()
    yield process
    process.stop()


def hold_the_slot(gw: Gateway, seconds: float):
    run = gw.run_async("python/slow.py", seconds=seconds)
    poll("the slow run to start", lambda: gw.runs.get(run.id).status == "running" or None)
    return run


def test_too_many_runs_carries_retry_after(full):
    with Gateway(full.url) as gw:
        holder = hold_the_slot(gw, 3.0)  # long enough to still hold it on a loaded machine
        with pytest.raises(TooManyRuns) as caught:
            gw.run("python/hello", name="late")
        assert caught.value.status == 429 and caught.value.code == "too_many_runs"
        assert caught.value.retry_after is not None and caught.value.retry_after >= 0
        with pytest.raises(TooManyRuns):
            gw.run_async("python/hello", name="late")
        holder.wait(timeout=30)


def test_retries_honour_retry_after_until_a_slot_is_free(full):
    with Gateway(full.url, retries=10) as gw:
        holder = hold_the_slot(gw, 1.0)
        began = time.monotonic()
        result = gw.run("python/hello", name="patient")
        assert result.ok and result.data == {"message": "Hello patient"}
        assert time.monotonic() - began >= 0.5, "it waited for the slot"
        assert gw.runs.get(holder.id).status == "success"


async def test_async_retries_too(full):
    with Gateway(full.url) as sync:
        holder = hold_the_slot(sync, 1.0)
    async with AsyncGateway(full.url, retries=10) as gw:
        result = await gw.run("python/hello", name="async patient")
        assert result.ok
        assert (await gw.runs.get(holder.id)).status == "success"
