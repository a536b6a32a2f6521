"""Exceptions: every error answer of the gateway becomes one, carrying its code and message."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Dict, List, Optional

import httpx

if TYPE_CHECKING:
    from ._models import ExecuteResult, RunResult


class GatewayError(Exception):
    """An error answer of the gateway: its snake_case ``code``, ``message``, ``details`` and
    HTTP ``status`` (0 when no answer arrived)."""

    def __init__(
        self, code: str, message: str, status: int = 0, details: Any = None
    ) -> None:
        super().__init__(f"{code}: {message}" if status == 0 else f"{status} {code}: {message}")
        self.code = code
        self.message = message
        self.status = status
        self.details = details


class NotFound(GatewayError):
    """404: no such script, run, file, key or (live) session."""


class InvalidParams(GatewayError):
    """400 ``invalid_params``: ``errors`` maps each bad parameter to what is wrong with it."""

    @property
    def errors(self) -> Dict[str, str]:
        items = self.details if isinstance(self.details, list) else []
        return {
            str(item.get("param")): str(item.get("message"))
            for item in items
            if isinstance(item, dict)
        }


class TooManyRuns(GatewayError):
    """429 ``too_many_runs``: the queue is full; ``retry_after`` is the server's hint in seconds."""

    def __init__(
        self,
        code: str,
        message: str,
        status: int = 429,
        details: Any = None,
        retry_after: Optional[float] = None,
    ) -> None:
        super().__init__(code, message, status, details)
        self.retry_after = retry_after


class TooManySessions(TooManyRuns):
    """429 ``too_many_sessions``: ``max_sessions`` are alive; ``retry_after`` is the server's hint.
    A ``TooManyRuns`` too, so ``Gateway(retries=...)`` waits and retries it the same way."""


class Unauthorized(GatewayError):
    """401: the API key is missing or wrong."""


class Forbidden(GatewayError):
    """403: the key's scope does not allow this."""


class ExecDisabled(Forbidden):
    """403 ``exec_disabled``: the gateway does not offer interpreter sessions or ad-hoc runs
    (``exec_enabled`` is off)."""


class RunFailed(GatewayError):
    """A run that did not succeed, raised by ``run(..., check=True)``; ``result`` is the run."""

    def __init__(self, result: "RunResult") -> None:
        error = result.error
        code = error.code if error else result.run_status
        message = (error.message if error else None) or (
            f"run {result.run_id} ended {result.run_status}"
        )
        super().__init__(code, message, 200, None)
        self.result = result


class ExecutionFailed(GatewayError):
    """Code that did not end ``ok``, raised by ``execute(..., check=True)``: ``code`` is the
    result's ``status`` (``error``, ``interrupted`` or ``exit``), ``message`` its exception
    (``ZeroDivisionError: division by zero``); ``result`` is the whole ``ExecuteResult``."""

    def __init__(self, result: "ExecuteResult") -> None:
        error = result.error
        if error is not None:
            message = f"{error.name}: {error.value}" if error.value else error.name
        elif result.exit_code is not None:
            message = f"the session exited with code {result.exit_code}"
        else:
            message = f"the code ended {result.status}"
        super().__init__(result.status, message, 200, None)
        self.result = result


class RunTimeout(GatewayError, TimeoutError):
    """``Run.wait(timeout)`` gave up: the run was still going (it is not stopped)."""


def retry_after_seconds(response: httpx.Response) -> Optional[float]:
    """The ``Retry-After`` header in seconds (only the delta-seconds form is sent by the gateway)."""
    value = response.headers.get("retry-after")
    try:
        return max(0.0, float(value)) if value is not None else None
    except ValueError:
        return None


def error_from_response(response: httpx.Response) -> GatewayError:
    """The exception for an error answer, from its JSON error body (or its status if it has none)."""
    code, message, details = _error_fields(response)
    status = response.status_code
    if status == 429:
        busy = TooManySessions if code == "too_many_sessions" else TooManyRuns
        return busy(code, message, status, details, retry_after_seconds(response))
    kind = _BY_CODE.get(code) or _BY_STATUS.get(status)
    return (kind or GatewayError)(code, message, status, details)


_BY_STATUS = {401: Unauthorized, 403: Forbidden, 404: NotFound}
_BY_CODE = {"invalid_params": InvalidParams, "exec_disabled": ExecDisabled}


def _error_fields(response: httpx.Response) -> "tuple[str, str, Any]":
    try:
        body = response.json()
    except ValueError:
        body = None
    error = body.get("error") if isinstance(body, dict) else None
    if isinstance(error, dict):
        return (
            str(error.get("code", "http_error")),
            str(error.get("message", "")),
            error.get("details"),
        )
    text = response.text[:200] if response.content else response.reason_phrase
    return ("http_error", text, None)


__all__: List[str] = [
    "GatewayError",
    "NotFound",
    "InvalidParams",
    "TooManyRuns",
    "TooManySessions",
    "Unauthorized",
    "Forbidden",
    "ExecDisabled",
    "RunFailed",
    "ExecutionFailed",
    "RunTimeout",
]
