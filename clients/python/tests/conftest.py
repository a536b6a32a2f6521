"""Fixtures: each test module gets its own real gateway (see ``gateway_process.py``)."""

from __future__ import annotations

from typing import Iterator

import pytest

from gateway_process import GatewayProcess, fixture_scripts

ALL_SCRIPTS = ("hello", "upload", "lines", "slow", "fail", "text", "broken")


@pytest.fixture(scope="module")
def server() -> Iterator[GatewayProcess]:
    """An open gateway (no API key) over every fixture script."""
    process = GatewayProcess(fixture_scripts(*ALL_SCRIPTS)).start()
    yield process
    process.stop()


@pytest.fixture(scope="module")
def exec_server() -> Iterator[GatewayProcess]:
    """An open gateway on loopback with ``--exec-enabled``: sessions and ad-hoc runs."""
    process = GatewayProcess(fixture_scripts("hello"), args=["--exec-enabled"]).start()
    yield process
    process.stop()
