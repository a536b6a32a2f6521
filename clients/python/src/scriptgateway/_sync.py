"""The synchronous client: ``Gateway``, its ``Run`` handle and its ``Session`` handle."""

from __future__ import annotations

import pathlib
import time
from typing import Any, Dict, Iterator, List, Mapping, Optional, Sequence, Union

import httpx
from httpx_sse import connect_sse

from . import _core
from ._core import Call, FileContent, ScriptRef, T, Upload
from ._errors import (
    ExecutionFailed,
    GatewayError,
    NotFound,
    RunFailed,
    RunTimeout,
    TooManyRuns,
    error_from_response,
)
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

#: Reconnections of an event stream that broke before its ``end`` event.
EVENT_RECONNECTS = 3


class _Transport:
    def __init__(self, client: httpx.Client, retries: int) -> None:
        self.client = client
        self.retries = retries

    def send(self, call: "Call[Any]") -> httpx.Response:
        """Sends a call; a 429 is retried ``retries`` times after its ``Retry-After``."""
        for attempt in range(self.retries + 1):
            response = self._send_once(call)
            if response.status_code < 400:
                return response
            error = error_from_response(response)
            if not isinstance(error, TooManyRuns) or attempt == self.retries:
                raise error
            time.sleep(error.retry_after if error.retry_after is not None else 1.0)
        raise AssertionError("the loop returns or raises")

    def _send_once(self, call: "Call[Any]") -> httpx.Response:
        with _core.opened_uploads(call) as files:
            return self.client.request(
                call.method, call.url, params=call.params, json=call.json, data=call.data,
                content=call.content, files=files, headers=call.headers, timeout=call.timeout,
            )

    def call(self, call: "Call[T]") -> T:
        return call.parse(self.send(call))

    def events(self, run_id: int, last_event_id: Optional[str]) -> Iterator[RunEvent]:
        """The run's events until ``end``, reconnecting with ``Last-Event-ID`` if cut."""
        for _ in range(EVENT_RECONNECTS + 1):
            for event in self._event_stream(run_id, last_event_id):
                yield event
                last_event_id = event.id
                if event.event == "end":
                    return
        raise GatewayError("stream_ended", f"the events of run {run_id} stopped before its end")

    def _event_stream(self, run_id: int, last_event_id: Optional[str]) -> Iterator[RunEvent]:
        headers = {"Last-Event-ID": last_event_id} if last_event_id else {}
        timeout = httpx.Timeout(_core.DEFAULT_TIMEOUT, read=None)
        with connect_sse(self.client, "GET", f"/api/runs/{run_id}/events",
                         headers=headers, timeout=timeout) as source:
            if source.response.status_code >= 400:
                source.response.read()
                raise error_from_response(source.response)
            try:
                for sse in source.iter_sse():
                    yield RunEvent(id=sse.id, event=sse.event, data=sse.data)
            except httpx.TransportError:
                return


class Run:
    """A run going on in the background: follow it, wait for it, cancel it, fetch its output."""

    def __init__(self, transport: _Transport, run_id: int) -> None:
        self._t = transport
        self.id = run_id

    def __repr__(self) -> str:
        return f"Run(id={self.id})"

    def status(self) -> RunRecord:
        """The run as the history shows it now (``status``: queued, running, success...)."""
        return self._t.call(Call("GET", f"/api/runs/{self.id}", _core.as_record))

    def wait(self, timeout: Optional[float] = None, *, check: bool = False,
             poll_interval: float = 0.1) -> RunResult:
        """Waits until the run ends and returns its result; ``RunTimeout`` after ``timeout``
        seconds (the run goes on). ``check=True`` raises ``RunFailed`` unless it succeeded."""
        deadline = None if timeout is None else time.monotonic() + timeout
        interval = poll_interval
        while True:
            record = self.status()
            if record.finished:
                return _checked(record.to_result(), check)
            if deadline is not None and time.monotonic() >= deadline:
                raise RunTimeout("wait_timeout", f"run {self.id} still {record.status} after {timeout}s")
            pause = interval if deadline is None else min(interval, max(0.0, deadline - time.monotonic()))
            time.sleep(pause)
            interval = min(interval * 1.5, 1.0)

    def events(self, last_event_id: Optional[str] = None) -> Iterator[RunEvent]:
        """Its ``stdout`` and ``stderr`` lines as they are printed, then ``end`` (the last one).
        A finished run is replayed from the start (or after ``last_event_id``)."""
        return self._t.events(self.id, last_event_id)

    def cancel(self) -> RunRecord:
        """Stops the run (queued or running) with its whole process tree."""
        return self._t.call(Call("POST", f"/api/runs/{self.id}/cancel", _core.as_record))

    def output(self) -> bytes:
        """The bytes it printed, when that was not one JSON value (``NotFound`` otherwise)."""
        return self._t.call(Call("GET", f"/api/runs/{self.id}/output", _core.as_bytes))

    def download(self, directory: Union[str, pathlib.Path]) -> List[pathlib.Path]:
        """Writes the files the run created into ``directory``; returns their paths."""
        target = pathlib.Path(directory)
        target.mkdir(parents=True, exist_ok=True)
        written = []
        for item in self.status().files:
            content = self._t.call(Call("GET", item.url, _core.as_bytes))
            path = target / _core.safe_file_name(item.name)
            path.write_bytes(content)
            written.append(path)
        return written


def _checked(result: RunResult, check: bool) -> RunResult:
    if check and not result.ok:
        raise RunFailed(result)
    return result


class Scripts:
    """``gateway.scripts``: the catalog."""

    def __init__(self, transport: _Transport) -> None:
        self._t = transport

    def list(self, *, type: Optional[str] = None, search: Optional[str] = None,
             status: Optional[str] = None, page: int = 1, page_size: int = 20) -> "Page[Script]":
        """One page of scripts; ``type`` is ``python`` or ``js``, ``status`` ``ok`` or ``error``."""
        query = _core.listing_query(type=type, search=search, status=status, page=page, page_size=page_size)
        return self._t.call(Call("GET", "/api/scripts", _core.as_script_page, params=query))

    def iter(self, *, type: Optional[str] = None, search: Optional[str] = None,
             status: Optional[str] = None, page_size: int = 100) -> Iterator[Script]:
        """Every script that matches, page after page."""
        page = 1
        while True:
            listing = self.list(type=type, search=search, status=status, page=page, page_size=page_size)
            yield from listing.items
            if not listing.items or page * page_size >= listing.total:
                return
            page += 1

    def get(self, script: ScriptRef) -> Script:
        """A script by id or by path (``python/hello.py``; the extension may be left out)."""
        return self._t.call(Call("GET", _core.script_url(script), _core.as_script))

    def id_of(self, script: ScriptRef) -> int:
        known = _core.known_id(script)
        return known if known is not None else self.get(script).id

    def schema(self, script: ScriptRef) -> Dict[str, Dict[str, Any]]:
        """The script's ARGS_MAP (``GatewayError`` 422 when it could not be extracted)."""
        return self._t.call(Call("GET", f"/api/scripts/{self.id_of(script)}/schema", _core.as_schema))

    def scan(self) -> ScanReport:
        """Rescans the scripts repository now (admin)."""
        return self._t.call(Call("POST", "/api/scan", _core.as_scan))


class Runs:
    """``gateway.runs``: the run history."""

    def __init__(self, transport: _Transport) -> None:
        self._t = transport

    def list(self, *, script_id: Optional[int] = None, kind: Optional[str] = None,
             status: Optional[str] = None, since: Optional[str] = None,
             until: Optional[str] = None, page: int = 1, page_size: int = 20) -> "Page[RunRecord]":
        """One page of runs, newest first; ``kind`` is ``script`` or ``exec`` (ad-hoc runs),
        ``since`` / ``until`` are ISO 8601 times."""
        query = _core.listing_query(script_id=script_id, kind=kind, status=status, since=since,
                                    until=until, page=page, page_size=page_size)
        return self._t.call(Call("GET", "/api/runs", _core.as_run_page, params=query))

    def iter(self, *, script_id: Optional[int] = None, kind: Optional[str] = None,
             status: Optional[str] = None, since: Optional[str] = None,
             until: Optional[str] = None, page_size: int = 100) -> Iterator[RunRecord]:
        """Every run that matches, page after page."""
        page = 1
        while True:
            listing = self.list(script_id=script_id, kind=kind, status=status, since=since,
                                until=until, page=page, page_size=page_size)
            yield from listing.items
            if not listing.items or page * page_size >= listing.total:
                return
            page += 1

    def get(self, run_id: int) -> RunRecord:
        return Run(self._t, run_id).status()

    def handle(self, run_id: int) -> Run:
        """A ``Run`` handle for a run started elsewhere."""
        return Run(self._t, run_id)

    def cancel(self, run_id: int) -> RunRecord:
        return Run(self._t, run_id).cancel()


class Dependencies:
    """``gateway.dependencies``: a script's dependency set and the caches (admin)."""

    def __init__(self, transport: _Transport, scripts: Scripts) -> None:
        self._t = transport
        self._scripts = scripts

    def get(self, script: ScriptRef) -> ScriptDependencies:
        url = f"/api/scripts/{self._scripts.id_of(script)}/dependencies"
        return self._t.call(Call("GET", url, _core.as_dependencies))

    def install(self, script: ScriptRef, *, force: bool = False) -> Dict[str, Any]:
        """Installs the script's set now (or again, with ``force``); the install log and status."""
        url = f"/api/scripts/{self._scripts.id_of(script)}/dependencies/install"
        return self._t.call(Call("POST", url, _core.as_object, json={"force": force}, timeout=None))

    def cache_status(self) -> Dict[str, Any]:
        return self._t.call(Call("GET", "/api/dependencies/cache/status", _core.as_object))


class Settings:
    """``gateway.settings``: runtime settings (admin)."""

    def __init__(self, transport: _Transport) -> None:
        self._t = transport

    def get(self) -> Dict[str, Setting]:
        return self._t.call(Call("GET", "/api/settings", _core.as_settings))

    def update(self, **values: Any) -> Dict[str, Setting]:
        """Validates and stores the values (all or nothing); they apply at once."""
        return self._t.call(Call("PUT", "/api/settings", _core.as_settings, json=values))

    def reset(self, key: str) -> Dict[str, Setting]:
        """Goes back to the flag, environment or default value of ``key``."""
        return self._t.call(Call("DELETE", f"/api/settings/{key}", _core.as_settings))



class Keys:
    """``gateway.keys``: named API keys (admin)."""

    def __init__(self, transport: _Transport) -> None:
        self._t = transport

    def list(self) -> List[ApiKey]:
        return self._t.call(Call("GET", "/api/keys", _core.as_keys))

    def create(self, name: str, scope: str) -> ApiKey:
        """A new key with ``scope`` ``run``, ``metrics`` or ``admin``; its ``key`` is shown once."""
        return self._t.call(Call("POST", "/api/keys", _core.as_key,
                                 json={"name": name, "scope": scope}))

    def revoke(self, key_id: int) -> ApiKey:
        return self._t.call(Call("DELETE", f"/api/keys/{key_id}", _core.as_key))



def _checked_execution(result: ExecuteResult, check: bool) -> ExecuteResult:
    if check and not result.ok:
        raise ExecutionFailed(result)
    return result


class Session:
    """A live interpreter session: ``execute`` code in it (variables, imports and data persist
    between calls), and read and write the files of its working folder. As a context manager it
    ends the session on exit. ``status``, ``calls`` and ``last_used_at`` are as of the last
    ``refresh()`` (or creation)."""

    def __init__(self, transport: _Transport, info: SessionInfo) -> None:
        self._t = transport
        self._info = info

    def __repr__(self) -> str:
        return f"Session(id={self.id!r}, runtime={self.runtime!r})"

    def __enter__(self) -> "Session":
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

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

    def execute(self, code: str, timeout: Optional[float] = None, *,
                check: bool = False) -> ExecuteResult:
        """Runs ``code`` in the session. An exception, a timeout (``interrupted``: the session
        lives on) or ``exit()`` is a result with ``ok == False``, or with ``check=True`` an
        ``ExecutionFailed``. ``timeout`` (seconds) never exceeds the server's ``timeout_sec``."""
        call = _core.execute_call(f"{_core.session_url(self.id)}/execute", code, timeout)
        return _checked_execution(self._t.call(call), check)

    def info(self) -> SessionInfo:
        """The session as the gateway shows it now (``NotFound`` once it has ended)."""
        self._info = self._t.call(Call("GET", _core.session_url(self.id), _core.as_session))
        return self._info

    def refresh(self) -> "Session":
        """Updates ``status``, ``calls`` and ``last_used_at`` from the gateway; returns itself."""
        self.info()
        return self

    def files(self) -> List[SessionFile]:
        """Every entry of its working folder, folders and symlinks included (never followed)."""
        return self._t.call(Call("GET", f"{_core.session_url(self.id)}/files", _core.as_session_files))

    def read_file(self, path: Union[str, pathlib.PurePath]) -> bytes:
        """A file's bytes; ``path`` is relative to the working folder (``..`` and absolute paths
        are refused: ``GatewayError`` 400 ``unsafe_path``)."""
        return self._t.call(Call("GET", _core.session_file_url(self.id, path), _core.as_bytes))

    def write_file(self, path: Union[str, pathlib.PurePath], data: FileContent) -> SessionFile:
        """Writes ``data`` (bytes, text as UTF-8, a ``Path`` to read, or a file object) at
        ``path``, replacing any file there and making its folders."""
        call = Call("PUT", _core.session_file_url(self.id, path), _core.as_written_file,
                    content=_core.file_content(data),
                    headers={"Content-Type": "application/octet-stream"})
        return self._t.call(call)

    def delete_file(self, path: Union[str, pathlib.PurePath]) -> None:
        self._t.call(Call("DELETE", _core.session_file_url(self.id, path), _core.as_nothing))

    def delete(self) -> None:
        """Ends the session and its worker's whole process tree (``NotFound`` if already ended)."""
        self._t.call(Call("DELETE", _core.session_url(self.id), _core.as_nothing))

    def close(self) -> None:
        """Ends the session, if it has not ended already (by ``exit()``, idle expiry...)."""
        try:
            self.delete()
        except NotFound:
            pass


class Sessions:
    """``gateway.sessions``: interpreter sessions (when the gateway runs with ``exec_enabled``;
    else every call raises ``ExecDisabled``)."""

    def __init__(self, transport: _Transport) -> None:
        self._t = transport

    def create(self, runtime: str = "python", env: Optional[Mapping[str, str]] = None,
               deps_of: Optional[str] = None) -> Session:
        """Starts a ``python`` or ``node`` session; ``env`` is added to its clean environment,
        ``deps_of`` (a script's path) gives it that script's dependency set.
        ``TooManySessions`` when ``max_sessions`` are alive."""
        return Session(self._t, self._t.call(_core.create_session_call(runtime, env, deps_of)))

    def list(self) -> List[Session]:
        """Every live session."""
        return [Session(self._t, info) for info in self._t.call(
            Call("GET", "/api/sessions", _core.as_sessions))]

    def get(self, session_id: str) -> Session:
        """A handle on a live session (``NotFound`` once it has ended)."""
        return Session(self._t, self._t.call(
            Call("GET", _core.session_url(session_id), _core.as_session)))


class Interpreter:
    """``gateway.interpreter``: code run once in a throw-away Python session."""

    def __init__(self, transport: _Transport) -> None:
        self._t = transport

    def execute(self, code: str, timeout: Optional[float] = None,
                env: Optional[Mapping[str, str]] = None, *, check: bool = False) -> ExecuteResult:
        """Runs ``code`` in a fresh Python worker (``env`` added to its environment), then ends it."""
        call = _core.execute_call("/api/interpreter/execute", code, timeout, envs=env)
        return _checked_execution(self._t.call(call), check)


class Gateway:
    """A ScriptGateway client. ``url`` and ``api_key`` default to ``SG_URL`` and ``SG_API_KEY``;
    ``timeout`` bounds ordinary calls (a synchronous run waits as long as the run takes);
    ``retries`` retries a ``429 too_many_runs`` that many times after its ``Retry-After``."""

    def __init__(self, url: Optional[str] = None, api_key: Optional[str] = None, *,
                 timeout: float = _core.DEFAULT_TIMEOUT, retries: int = 0,
                 client: Optional[httpx.Client] = None) -> None:
        self.url = _core.default_url(url)
        self._client = client or httpx.Client(
            base_url=self.url, headers=_core.auth_headers(_core.default_key(api_key)), timeout=timeout)
        self._t = _Transport(self._client, retries)
        self.scripts = Scripts(self._t)
        self.runs = Runs(self._t)
        self.dependencies = Dependencies(self._t, self.scripts)
        self.settings = Settings(self._t)
        self.keys = Keys(self._t)
        self.sessions = Sessions(self._t)
        self.interpreter = Interpreter(self._t)

    def __enter__(self) -> "Gateway":
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def close(self) -> None:
        self._client.close()

    def health(self) -> Dict[str, Any]:
        return self._t.call(Call("GET", "/health", _core.as_object))

    def run(self, script: ScriptRef, params: Optional[Mapping[str, Any]] = None, /, *,
            check: bool = False, run_timeout: Optional[float] = None, **kwparams: Any) -> RunResult:
        """Runs a script and returns its result. Parameters go as keyword arguments (or in
        ``params``, for names such as ``check``); a ``pathlib.Path``, ``bytes`` or binary file
        object is uploaded. A failed run is a result with ``ok == False``, or with
        ``check=True`` a ``RunFailed``. ``run_timeout`` shortens the run's timeout (seconds)."""
        call = _core.run_call(script, {**(params or {}), **kwparams}, _core.as_result,
                              background=False, run_timeout=run_timeout)
        return _checked(self._t.call(call), check)

    def run_async(self, script: ScriptRef, params: Optional[Mapping[str, Any]] = None, /, *,
                  run_timeout: Optional[float] = None, **kwparams: Any) -> Run:
        """Starts a run in the background and returns its ``Run`` handle at once."""
        call = _core.run_call(script, {**(params or {}), **kwparams}, _core.accepted_run_id,
                              background=True, run_timeout=run_timeout)
        return Run(self._t, self._t.call(call))

    def exec(self, code: str, runtime: str = "python", args: Optional[Sequence[str]] = None,
             env: Optional[Mapping[str, str]] = None, packages: Optional[Sequence[str]] = None,
             files: Optional[Mapping[str, Upload]] = None, timeout: Optional[float] = None, *,
             check: bool = False) -> RunResult:
        """Runs ``code`` once like a script (``python`` or ``node``) and returns its result, with
        ``script_id`` ``None``. ``args`` are its command-line arguments, ``env`` is added to its
        clean environment, ``packages`` (``requests==2.32.3``, ``lodash@4``) are installed first,
        ``files`` (name → ``Path``, bytes or binary file object) are put in its working folder,
        and ``timeout`` shortens the gateway's. A failed run is a result with ``ok == False``, or
        with ``check=True`` a ``RunFailed``; ``ExecDisabled`` when the gateway does not offer it."""
        call = _core.exec_call(code, runtime, args, env, packages, files, timeout,
                               _core.as_result, background=False)
        return _checked(self._t.call(call), check)

    def exec_async(self, code: str, runtime: str = "python", args: Optional[Sequence[str]] = None,
                   env: Optional[Mapping[str, str]] = None, packages: Optional[Sequence[str]] = None,
                   files: Optional[Mapping[str, Upload]] = None,
                   timeout: Optional[float] = None) -> Run:
        """Starts ``code`` in the background like ``exec`` and returns its ``Run`` handle at once."""
        call = _core.exec_call(code, runtime, args, env, packages, files, timeout,
                               _core.accepted_run_id, background=True)
        return Run(self._t, self._t.call(call))
