"""A typed client for ScriptGateway.

    from scriptgateway import Gateway

    with Gateway("http://127.0.0.1:8001", api_key="...") as gw:
        print(gw.run("python/hello.py", name="Ada").data)
"""

from ._async import AsyncGateway, AsyncRun
from ._errors import (
    Forbidden,
    GatewayError,
    InvalidParams,
    NotFound,
    RunFailed,
    RunTimeout,
    TooManyRuns,
    Unauthorized,
)
from ._models import (
    ApiKey,
    Page,
    RunErrorInfo,
    RunEvent,
    RunFile,
    RunRecord,
    RunResult,
    ScanReport,
    Script,
    ScriptDependencies,
    Setting,
)
from ._sync import Gateway, Run

__version__ = "0.1.0"

__all__ = [
    "ApiKey",
    "AsyncGateway",
    "AsyncRun",
    "Forbidden",
    "Gateway",
    "GatewayError",
    "InvalidParams",
    "NotFound",
    "Page",
    "Run",
    "RunErrorInfo",
    "RunEvent",
    "RunFailed",
    "RunFile",
    "RunRecord",
    "RunResult",
    "RunTimeout",
    "ScanReport",
    "Script",
    "ScriptDependencies",
    "Setting",
    "TooManyRuns",
    "Unauthorized",
]
