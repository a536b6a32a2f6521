"""Exceptions: every error answer of the gateway becomes one, carrying its code and message."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Dict, List, Optional

import httpx

if TYPE_CHECKING:
    from ._models import RunResult


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
    """404: no such script, run, file or key."""


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


class Unauthorized(GatewayError):
    """401: the API key is missing or wrong."""


class Forbidden(GatewayError):
    """403: the key's scope does not allow this."""


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
        return TooManyRuns(code, message, status, details, retry_after_seconds(response))
    kind = _BY_STATUS.get(status)
    if code == "invalid_params":
        kind = InvalidParams
    return (kind or GatewayError)(code, message, status, details)


_BY_STATUS = {401: Unauthorized, 403: Forbidden, 404: NotFound}


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
    "Unauthorized",
    "Forbidden",
    "RunFailed",
    "RunTimeout",
]
