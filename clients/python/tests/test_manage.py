"""Administration through the client, sync and async: rescans, dependency installs, settings
and named keys (on a gateway with a master key, so creating keys changes nothing else)."""

from __future__ import annotations

import pytest

from gateway_process import GatewayProcess, fixture_scripts
from scriptgateway import AsyncGateway, Gateway, GatewayError, InvalidParams, Setting

KEY = "client-manage-master-key"


@pytest.fixture(scope="module")
def admin():
    process = GatewayProcess(fixture_scripts("hello"), api_key=KEY).start()
    yield process
    process.stop()


def test_scan_picks_up_a_new_script(admin):
    admin.add_script("python/added.py", "def main(x: int = 1) -> dict:\n    return {'x': x}\n")
    with Gateway(admin.url, api_key=KEY) as gw:
        report = gw.scripts.scan()
        assert report.added == 1, report
        assert gw.run("python/added", x=5).data == {"x": 5}


async def test_async_scan_reports_nothing_new(admin):
    async with AsyncGateway(admin.url, api_key=KEY) as gw:
        report = await gw.scripts.scan()
        assert (report.added, report.removed) == (0, 0)


def test_dependencies_of_a_script_without_any(admin):
    with Gateway(admin.url, api_key=KEY) as gw:
        assert gw.dependencies.get("python/hello").deps == []
        installed = gw.dependencies.install("python/hello")
        assert installed["deps"] == [] and installed["error"] is None
        assert isinstance(gw.dependencies.cache_status(), dict)


async def test_async_dependencies_and_settings(admin):
    async with AsyncGateway(admin.url, api_key=KEY) as gw:
        assert (await gw.dependencies.get("python/hello.py")).installed
        assert (await gw.dependencies.install("python/hello.py", force=True))["error"] is None
        assert isinstance(await gw.dependencies.cache_status(), dict)
        changed = await gw.settings.update(max_runs_per_script=50)
        assert changed["max_runs_per_script"].value == 50
        after = await gw.settings.reset("max_runs_per_script")
        assert isinstance(after["max_runs_per_script"], Setting)
        assert after["max_runs_per_script"].source == "default"


def test_settings_reset_answers_every_setting(admin):
    with Gateway(admin.url, api_key=KEY) as gw:
        gw.settings.update(timeout_sec=120)
        settings = gw.settings.reset("timeout_sec")
        assert settings["timeout_sec"].source == "default" and "execution_mode" in settings


async def test_async_keys(admin):
    async with AsyncGateway(admin.url, api_key=KEY) as gw:
        created = await gw.keys.create("metrics-reader", "metrics")
        assert created.key and created.scope == "metrics"
        assert created.id in [key.id for key in await gw.keys.list()]
        revoked = await gw.keys.revoke(created.id)
        assert revoked.revoked_at is not None


def test_a_bad_key_scope_is_an_error_with_its_code(admin):
    with Gateway(admin.url, api_key=KEY) as gw:
        with pytest.raises(GatewayError) as caught:
            gw.keys.create("odd", "superuser")
        assert caught.value.status == 400 and caught.value.message
        assert not isinstance(caught.value, InvalidParams)
