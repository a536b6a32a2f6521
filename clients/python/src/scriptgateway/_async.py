"""The asynchronous client: ``AsyncGateway`` and its ``AsyncRun`` and ``AsyncSession`` handles,
the same methods as ``Gateway``, ``Run`` and ``Session``, awaited."""

from __future__ import annotations

import asyncio
import pathlib
import time
from typing import Any, AsyncIterator, Dict, List, Mapping, Optional, Sequence, Union

import httpx
from httpx_sse import aconnect_sse

from . import _core
from ._core import Call, FileContent, ScriptRef, T, Upload
from ._errors import GatewayError, NotFound, RunTimeout, TooManyRuns, error_from_response
from ._models import (
    ApiKey,
    ExecuteResult,
    Page,
    RunEvent,
    RunRecord,
    RunResult,
    ScanReport,
    Script,
    ScriptDependencies,
    SessionFile,
    SessionInfo,
    Setting,
)
from ._sync import EVENT_RECONNECTS, _checked, _checked_execution


class _AsyncTransport:
    def __init__(self, client: httpx.AsyncClient, retries: int) -> None:
        self.client = client
        self.retries = retries

    async def send(self, call: "Call[Any]") -> httpx.Response:
        """Sends a call; a 429 is retried ``retries`` times after its ``Retry-After``."""
        for attempt in range(self.retries + 1):
            response = await self._send_once(call)
            if response.status_code < 400:
                return response
            error = error_from_response(response)
            if not isinstance(error, TooManyRuns) or attempt == self.retries:
                raise error
            await asyncio.sleep(error.retry_after if error.retry_after is not None else 1.0)
        raise AssertionError("the loop returns or raises")

    async def _send_once(self, call: "Call[Any]") -> httpx.Response:
        with _core.opened_uploads(call) as files:
            return await self.client.request(
                call.method, call.url, params=call.params, json=call.json, data=call.data,
                content=call.content, files=files, headers=call.headers, timeout=call.timeout,
            )

    async def call(self, call: "Call[T]") -> T:
        return call.parse(await self.send(call))

    async def events(self, run_id: int, last_event_id: Optional[str]) -> AsyncIterator[RunEvent]:
        """The run's events until ``end``, reconnecting with ``Last-Event-ID`` if cut."""
        for _ in range(EVENT_RECONNECTS + 1):
            async for event in self._event_stream(run_id, last_event_id):
                yield event
                last_event_id = event.id
                if event.event == "end":
                    return
        raise GatewayError("stream_ended", f"the events of run {run_id} stopped before its end")

    async def _event_stream(self, run_id: int, last_event_id: Optional[str]) -> AsyncIterator[RunEvent]:
        headers = {"Last-Event-ID": last_event_id} if last_event_id else {}
        timeout = httpx.Timeout(_core.DEFAULT_TIMEOUT, read=None)
        async with aconnect_sse(self.client, "GET", f"/api/runs/{run_id}/events",
                                headers=headers, timeout=timeout) as source:
            if source.response.status_code >= 400:
                await source.response.aread()
                raise error_from_response(source.response)
            try:
                async for sse in source.aiter_sse():
                    yield RunEvent(id=sse.id, event=sse.event, data=sse.data)
            except httpx.TransportError:
                return


class AsyncRun:
    """A run going on in the background (async): follow it, wait for it, cancel it."""

    def __init__(self, transport: _AsyncTransport, run_id: int) -> None:
        self._t = transport
        self.id = run_id

    def __repr__(self) -> str:
        return f"AsyncRun(id={self.id})"

    async def status(self) -> RunRecord:
        return await self._t.call(Call("GET", f"/api/runs/{self.id}", _core.as_record))

    async def wait(self, timeout: Optional[float] = None, *, check: bool = False,
                   poll_interval: float = 0.1) -> RunResult:
        """Waits until the run ends and returns its result; ``RunTimeout`` after ``timeout``."""
        deadline = None if timeout is None else time.monotonic() + timeout
        interval = poll_interval
        while True:
            record = await self.status()
            if record.finished:
                return _checked(record.to_result(), check)
            if deadline is not None and time.monotonic() >= deadline:
                raise RunTimeout("wait_timeout", f"run {self.id} still {record.status} after {timeout}s")
            pause = interval if deadline is None else min(interval, max(0.0, deadline - time.monotonic()))
            await asyncio.sleep(pause)
            interval = min(interval * 1.5, 1.0)

    def events(self, last_event_id: Optional[str] = None) -> AsyncIterator[RunEvent]:
        """``async for`` over its ``stdout`` / ``stderr`` lines, then ``end``."""
        return self._t.events(self.id, last_event_id)

    async def cancel(self) -> RunRecord:
        return await self._t.call(Call("POST", f"/api/runs/{self.id}/cancel", _core.as_record))

    async def output(self) -> bytes:
        return await self._t.call(Call("GET", f"/api/runs/{self.id}/output", _core.as_bytes))

    async def download(self, directory: Union[str, pathlib.Path]) -> List[pathlib.Path]:
        target = pathlib.Path(directory)
        target.mkdir(parents=True, exist_ok=True)
        written = []
        for item in (await self.status()).files:
            content = await self._t.call(Call("GET", item.url, _core.as_bytes))
            path = target / _core.safe_file_name(item.name)
            path.write_bytes(content)
            written.append(path)
        return written


class AsyncScripts:
    def __init__(self, transport: _AsyncTransport) -> None:
        self._t = transport

    async def list(self, *, type: Optional[str] = None, search: Optional[str] = None,
                   status: Optional[str] = None, page: int = 1, page_size: int = 20) -> "Page[Script]":
        query = _core.listing_query(type=type, search=search, status=status, page=page, page_size=page_size)
        return await self._t.call(Call("GET", "/api/scripts", _core.as_script_page, params=query))

    async def iter(self, *, type: Optional[str] = None, search: Optional[str] = None,
                   status: Optional[str] = None, page_size: int = 100) -> AsyncIterator[Script]:
        page = 1
        while True:
            listing = await self.list(type=type, search=search, status=status, page=page, page_size=page_size)
            for item in listing.items:
                yield item
            if not listing.items or page * page_size >= listing.total:
                return
            page += 1

    async def get(self, script: ScriptRef) -> Script:
        return await self._t.call(Call("GET", _core.script_url(script), _core.as_script))

    async def id_of(self, script: ScriptRef) -> int:
        known = _core.known_id(script)
        return known if known is not None else (await self.get(script)).id

    async def schema(self, script: ScriptRef) -> Dict[str, Dict[str, Any]]:
        return await self._t.call(Call("GET", f"/api/scripts/{await self.id_of(script)}/schema", _core.as_schema))

    async def scan(self) -> ScanReport:
        return await self._t.call(Call("POST", "/api/scan", _core.as_scan))


class AsyncRuns:
    def __init__(self, transport: _AsyncTransport) -> None:
        self._t = transport

    async def list(self, *, script_id: Optional[int] = None, kind: Optional[str] = None,
                   status: Optional[str] = None, since: Optional[str] = None,
                   until: Optional[str] = None, page: int = 1,
                   page_size: int = 20) -> "Page[RunRecord]":
        query = _core.listing_query(script_id=script_id, kind=kind, status=status, since=since,
                                    until=until, page=page, page_size=page_size)
        return await self._t.call(Call("GET", "/api/runs", _core.as_run_page, params=query))

    async def iter(self, *, script_id: Optional[int] = None, kind: Optional[str] = None,
                   status: Optional[str] = None, since: Optional[str] = None,
                   until: Optional[str] = None, page_size: int = 100) -> AsyncIterator[RunRecord]:
        page = 1
        while True:
            listing = await self.list(script_id=script_id, kind=kind, status=status, since=since,
                                      until=until, page=page, page_size=page_size)
            for item in listing.items:
                yield item
            if not listing.items or page * page_size >= listing.total:
                return
            page += 1

    async def get(self, run_id: int) -> RunRecord:
        return await AsyncRun(self._t, run_id).status()

    def handle(self, run_id: int) -> AsyncRun:
        return AsyncRun(self._t, run_id)

    async def cancel(self, run_id: int) -> RunRecord:
        return await AsyncRun(self._t, run_id).cancel()


class AsyncDependencies:
    def __init__(self, transport: _AsyncTransport, scripts: AsyncScripts) -> None:
        self._t = transport
        self._scripts = scripts

    async def get(self, script: ScriptRef) -> ScriptDependencies:
        url = f"/api/scripts/{await self._scripts.id_of(script)}/dependencies"
        return await self._t.call(Call("GET", url, _core.as_dependencies))

    async def install(self, script: ScriptRef, *, force: bool = False) -> Dict[str, Any]:
        url = f"/api/scripts/{await self._scripts.id_of(script)}/dependencies/install"
        return await self._t.call(Call("POST", url, _core.as_object, json={"force": force}, timeout=None))

    async def cache_status(self) -> Dict[str, Any]:
        return await self._t.call(Call("GET", "/api/dependencies/cache/status", _core.as_object))


class AsyncSettings:
    def __init__(self, transport: _AsyncTransport) -> None:
        self._t = transport

    async def get(self) -> Dict[str, Setting]:
        return await self._t.call(Call("GET", "/api/settings", _core.as_settings))

    async def update(self, **values: Any) -> Dict[str, Setting]:
        return await self._t.call(Call("PUT", "/api/settings", _core.as_settings, json=values))

    async def reset(self, key: str) -> Dict[str, Setting]:
        return await self._t.call(Call("DELETE", f"/api/settings/{key}", _core.as_settings))


class AsyncKeys:
    def __init__(self, transport: _AsyncTransport) -> None:
        self._t = transport

    async def list(self) -> List[ApiKey]:
        return await self._t.call(Call("GET", "/api/keys", _core.as_keys))

    async def create(self, name: str, scope: str) -> ApiKey:
        return await self._t.call(Call("POST", "/api/keys", _core.as_key,
                                 json={"name": name, "scope": scope}))

    async def revoke(self, key_id: int) -> ApiKey:
        return await self._t.call(Call("DELETE", f"/api/keys/{key_id}", _core.as_key))


class AsyncSession:
    """A live interpreter session (async): ``execute`` code in it (variables, imports and data persist
    between calls), and read and write the files of its working folder. As an async context
    manager it ends the session on exit. ``status``, ``calls`` and ``last_used_at`` are as of the last
    ``refresh()`` (or creation)."""

    def __init__(self, transport: _AsyncTransport, info: SessionInfo) -> None:
        self._t = transport
        self._info = info

    def __repr__(self) -> str:
        return f"AsyncSession(id={self.id!r}, runtime={self.runtime!r})"

    async def __aenter__(self) -> "AsyncSession":
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.close()

    @property
    def id(self) -> str:
        return self._info.id

    @property
    def runtime(self) -> str:
        return self._info.runtime

    @property
    def status(self) -> str:
        return self._info.status

    @property
    def pid(self) -> Optional[int]:
        return self._info.pid

    @property
    def calls(self) -> int:
        return self._info.calls

    @property
    def created_at(self) -> Optional[str]:
        return self._info.created_at

    @property
    def last_used_at(self) -> Optional[str]:
        return self._info.last_used_at

    async def execute(self, code: str, timeout: Optional[float] = None, *,
                      check: bool = False) -> ExecuteResult:
        """Runs ``code`` in the session. An exception, a timeout (``interrupted``: the session
        lives on) or ``exit()`` is a result with ``ok == False``, or with ``check=True`` an
        ``ExecutionFailed``. ``timeout`` (seconds) never exceeds the server's ``timeout_sec``."""
        call = _core.execute_call(f"{_core.session_url(self.id)}/execute", code, timeout)
        return _checked_execution(await self._t.call(call), check)

    async def info(self) -> SessionInfo:
        """The session as the gateway shows it now (``NotFound`` once it has ended)."""
        self._info = await self._t.call(Call("GET", _core.session_url(self.id), _core.as_session))
        return self._info

    async def refresh(self) -> "AsyncSession":
        """Updates ``status``, ``calls`` and ``last_used_at`` from the gateway; returns itself."""
        await self.info()
        return self

    async def files(self) -> List[SessionFile]:
        """Every entry of its working folder, folders and symlinks included (never followed)."""
        return await self._t.call(Call("GET", f"{_core.session_url(self.id)}/files", _core.as_session_files))

    async def read_file(self, path: Union[str, pathlib.PurePath]) -> bytes:
        """A file's bytes; ``path`` is relative to the working folder (``..`` and absolute paths
        are refused: ``GatewayError`` 400 ``unsafe_path``)."""
        return await self._t.call(Call("GET", _core.session_file_url(self.id, path), _core.as_bytes))

    async def write_file(self, path: Union[str, pathlib.PurePath], data: FileContent) -> SessionFile:
        """Writes ``data`` (bytes, text as UTF-8, a ``Path`` to read, or a file object) at
        ``path``, replacing any file there and making its folders."""
        call = Call("PUT", _core.session_file_url(self.id, path), _core.as_written_file,
                    content=_core.file_content(data),
                    headers={"Content-Type": "application/octet-stream"})
        return await self._t.call(call)

    async def delete_file(self, path: Union[str, pathlib.PurePath]) -> None:
        await self._t.call(Call("DELETE", _core.session_file_url(self.id, path), _core.as_nothing))

    async def delete(self) -> None:
        """Ends the session and its worker's whole process tree (``NotFound`` if already ended)."""
        await self._t.call(Call("DELETE", _core.session_url(self.id), _core.as_nothing))

    async def close(self) -> None:
        """Ends the session, if it has not ended already (by ``exit()``, idle expiry...)."""
        try:
            await self.delete()
        except NotFound:
            pass


class AsyncSessions:
    """``gateway.sessions``: interpreter sessions (when the gateway runs with ``exec_enabled``;
    else every call raises ``ExecDisabled``)."""

    def __init__(self, transport: _AsyncTransport) -> None:
        self._t = transport

    async def create(self, runtime: str = "python", env: Optional[Mapping[str, str]] = None,
                     deps_of: Optional[str] = None) -> AsyncSession:
        """Starts a ``python`` or ``node`` session; ``env`` is added to its clean environment,
        ``deps_of`` (a script's path) gives it that script's dependency set.
        ``TooManySessions`` when ``max_sessions`` are alive."""
        return AsyncSession(self._t, await self._t.call(_core.create_session_call(runtime, env, deps_of)))

    async def list(self) -> List[AsyncSession]:
        """Every live session."""
        infos = await self._t.call(Call("GET", "/api/sessions", _core.as_sessions))
        return [AsyncSession(self._t, info) for info in infos]

    async def get(self, session_id: str) -> AsyncSession:
        """A handle on a live session (``NotFound`` once it has ended)."""
        return AsyncSession(self._t, await self._t.call(
            Call("GET", _core.session_url(session_id), _core.as_session)))


class AsyncInterpreter:
    """``gateway.interpreter``: code run once in a throw-away Python session."""

    def __init__(self, transport: _AsyncTransport) -> None:
        self._t = transport

    async def execute(self, code: str, timeout: Optional[float] = None,
                      env: Optional[Mapping[str, str]] = None, *, check: bool = False) -> ExecuteResult:
        """Runs ``code`` in a fresh Python worker (``env`` added to its environment), then ends it."""
        call = _core.execute_call("/api/interpreter/execute", code, timeout, envs=env)
        return _checked_execution(await self._t.call(call), check)


class AsyncGateway:
    """The async twin of ``Gateway``: ``async with AsyncGateway() as gw: await gw.run(...)``."""

    def __init__(self, url: Optional[str] = None, api_key: Optional[str] = None, *,
                 timeout: float = _core.DEFAULT_TIMEOUT, retries: int = 0,
                 client: Optional[httpx.AsyncClient] = None) -> None:
        self.url = _core.default_url(url)
        self._client = client or httpx.AsyncClient(
            base_url=self.url, headers=_core.auth_headers(_core.default_key(api_key)), timeout=timeout)
        self._t = _AsyncTransport(self._client, retries)
        self.scripts = AsyncScripts(self._t)
        self.runs = AsyncRuns(self._t)
        self.dependencies = AsyncDependencies(self._t, self.scripts)
        self.settings = AsyncSettings(self._t)
        self.keys = AsyncKeys(self._t)
        self.sessions = AsyncSessions(self._t)
        self.interpreter = AsyncInterpreter(self._t)

    async def __aenter__(self) -> "AsyncGateway":
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.aclose()

    async def aclose(self) -> None:
        await self._client.aclose()

    async def health(self) -> Dict[str, Any]:
        return await self._t.call(Call("GET", "/health", _core.as_object))

    async def run(self, script: ScriptRef, params: Optional[Mapping[str, Any]] = None, /, *,
                  check: bool = False, run_timeout: Optional[float] = None, **kwparams: Any) -> RunResult:
        call = _core.run_call(script, {**(params or {}), **kwparams}, _core.as_result,
                              background=False, run_timeout=run_timeout)
        return _checked(await self._t.call(call), check)

    async def run_async(self, script: ScriptRef, params: Optional[Mapping[str, Any]] = None, /, *,
                        run_timeout: Optional[float] = None, **kwparams: Any) -> AsyncRun:
        call = _core.run_call(script, {**(params or {}), **kwparams}, _core.accepted_run_id,
                              background=True, run_timeout=run_timeout)
        return AsyncRun(self._t, await self._t.call(call))

    async def exec(self, code: str, runtime: str = "python",
                   args: Optional[Sequence[str]] = None, env: Optional[Mapping[str, str]] = None,
                   packages: Optional[Sequence[str]] = None,
                   files: Optional[Mapping[str, Upload]] = None,
                   timeout: Optional[float] = None, *, check: bool = False) -> RunResult:
        """Runs ``code`` once like a script; see ``Gateway.exec``."""
        call = _core.exec_call(code, runtime, args, env, packages, files, timeout,
                               _core.as_result, background=False)
        return _checked(await self._t.call(call), check)

    async def exec_async(self, code: str, runtime: str = "python",
                         args: Optional[Sequence[str]] = None,
                         env: Optional[Mapping[str, str]] = None,
                         packages: Optional[Sequence[str]] = None,
                         files: Optional[Mapping[str, Upload]] = None,
                         timeout: Optional[float] = None) -> AsyncRun:
        """Starts ``code`` in the background like ``exec`` and returns its ``AsyncRun`` handle."""
        call = _core.exec_call(code, runtime, args, env, packages, files, timeout,
                               _core.accepted_run_id, background=True)
        return AsyncRun(self._t, await self._t.call(call))
