"""A typed client for ScriptGateway.

    from scriptgateway import Gateway

    with Gateway("http://127.0.0.1:8001", api_key="...") as gw:
        print(gw.run("python/hello.py", name="Ada").data)
"""

from ._async import AsyncGateway, AsyncInterpreter, AsyncRun, AsyncSession, AsyncSessions
from ._errors import (
    ExecDisabled,
    ExecutionFailed,
    Forbidden,
    GatewayError,
    InvalidParams,
    NotFound,
    RunFailed,
    RunTimeout,
    TooManyRuns,
    TooManySessions,
    Unauthorized,
)
from ._models import (
    ApiKey,
    ExecuteError,
    ExecuteResult,
    Page,
    RunErrorInfo,
    RunEvent,
    RunFile,
    RunRecord,
    RunResult,
    ScanReport,
    Script,
    ScriptDependencies,
    SessionFile,
    SessionInfo,
    Setting,
)
from ._sync import Gateway, Interpreter, Run, Session, Sessions

__version__ = "0.1.0"

__all__ = [
    "ApiKey",
    "AsyncGateway",
    "AsyncInterpreter",
    "AsyncRun",
    "AsyncSession",
    "AsyncSessions",
    "ExecDisabled",
    "ExecuteError",
    "ExecuteResult",
    "ExecutionFailed",
    "Forbidden",
    "Gateway",
    "GatewayError",
    "Interpreter",
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
    "Session",
    "SessionFile",
    "SessionInfo",
    "Sessions",
    "Setting",
    "TooManyRuns",
    "TooManySessions",
    "Unauthorized",
]
