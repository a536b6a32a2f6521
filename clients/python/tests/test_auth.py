"""Auth on: the master key, named keys and their scopes, and the errors without them."""

from __future__ import annotations

import pytest

from gateway_process import GatewayProcess, fixture_scripts
from scriptgateway import AsyncGateway, Forbidden, Gateway, Unauthorized

KEY = "client-test-master-key"


@pytest.fixture(scope="module")
def locked():
    process = GatewayProcess(fixture_scripts("hello"), api_key=KEY).start()
    yield process
    process.stop()


def test_the_master_key_opens_everything(locked):
    with Gateway(locked.url, api_key=KEY) as gw:
        assert gw.run("python/hello.py", name="key").ok
        assert "timeout_sec" in gw.settings.get()


def test_a_missing_or_wrong_key_is_unauthorized_but_health_stays_open(locked, monkeypatch):
    monkeypatch.delenv("SG_API_KEY", raising=False)
    for key in (None, "wrong"):
        with Gateway(locked.url, api_key=key) as gw:
            assert gw.health()["status"] == "ok"
            with pytest.raises(Unauthorized) as caught:
                gw.run("python/hello.py", name="x")
            assert caught.value.status == 401 and caught.value.code == "unauthorized"


def test_named_keys_have_scopes_and_can_be_revoked(locked):
    with Gateway(locked.url, api_key=KEY) as admin:
        created = admin.keys.create("runner", "run")
        assert created.key and created.scope == "run"
        assert created.id in [key.id for key in admin.keys.list()]
        assert all(key.key is None for key in admin.keys.list())
        with Gateway(locked.url, api_key=created.key) as runner:
            assert runner.run("python/hello", name="scoped").ok
            with pytest.raises(Forbidden) as caught:
                runner.settings.get()
            assert caught.value.status == 403 and caught.value.code == "forbidden"
            assert admin.keys.revoke(created.id).revoked_at
            with pytest.raises(Unauthorized):
                runner.run("python/hello", name="revoked")


async def test_the_async_client_sends_the_key_too(locked, monkeypatch):
    monkeypatch.setenv("SG_API_KEY", KEY)
    async with AsyncGateway(locked.url) as gw:
        assert (await gw.run("python/hello", name="env key")).ok
    async with AsyncGateway(locked.url, api_key="wrong") as gw:
        with pytest.raises(Unauthorized):
            await gw.scripts.list()
