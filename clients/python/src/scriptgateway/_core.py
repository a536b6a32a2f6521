"""What the sync and async clients share: addresses, request descriptions, uploads, parsing.
Nothing here does I/O on the network; the two transports send what is described here."""

from __future__ import annotations

import contextlib
import json
import os
import pathlib
from dataclasses import dataclass, field
from typing import (
    IO,
    Any,
    Callable,
    Dict,
    Generic,
    Iterator,
    List,
    Mapping,
    Optional,
    Sequence,
    Tuple,
    TypeVar,
    Union,
)
from urllib.parse import quote

import httpx

from ._models import (
    ApiKey,
    ExecuteResult,
    Page,
    RunRecord,
    RunResult,
    ScanReport,
    Script,
    ScriptDependencies,
    SessionFile,
    SessionInfo,
    Setting,
)

#: A script: its catalog id, its path in the scripts repository, or a ``Script``.
ScriptRef = Union[int, str, Script]
#: An upload: a file on disk, the bytes themselves, or an open binary file.
Upload = Union[pathlib.Path, bytes, bytearray, IO[bytes]]
#: A session file's content: bytes, text (sent as UTF-8), a file on disk or an open file.
FileContent = Union[bytes, bytearray, str, pathlib.Path, IO[bytes], IO[str]]

DEFAULT_TIMEOUT = 30.0
T = TypeVar("T")


def default_url(url: Optional[str]) -> str:
    """The gateway's base URL: the argument, else ``SG_URL``, else the gateway's default address."""
    return (url or os.environ.get("SG_URL") or "http://127.0.0.1:8001").rstrip("/")


def default_key(api_key: Optional[str]) -> Optional[str]:
    return api_key if api_key is not None else (os.environ.get("SG_API_KEY") or None)


def auth_headers(api_key: Optional[str]) -> Dict[str, str]:
    headers = {"User-Agent": "scriptgateway-python/0.1.0"}
    if api_key:
        headers["X-API-Key"] = api_key
    return headers


def script_path(script: ScriptRef) -> Optional[str]:
    """The path a reference names, or ``None`` when it is an id."""
    if isinstance(script, Script):
        return script.path
    if isinstance(script, bool) or not isinstance(script, (int, str)):
        raise TypeError(f"a script is an id, a path or a Script, not {type(script).__name__}")
    if isinstance(script, int) or script.isdigit():
        return None
    path = script.strip("/")
    if any(part in ("", ".", "..") for part in path.split("/")):
        # httpx would resolve dot segments itself and so reach another script than named.
        raise ValueError(f"a script path is plain names joined by '/', not {script!r}")
    return path


def script_url(script: ScriptRef) -> str:
    """``GET`` reads the script at this address."""
    path = script_path(script)
    if path is None:
        return f"/api/scripts/{int(script)}"  # type: ignore[arg-type]
    return f"/api/scripts/by-path/{quote(path, safe='/')}"


def run_url(script: ScriptRef) -> str:
    """``POST`` runs the script at this address (by path when there is one, so it is stable)."""
    path = script_path(script)
    if path is None:
        return f"/api/scripts/{int(script)}/run"  # type: ignore[arg-type]
    return f"/api/run/{quote(path, safe='/')}"


def known_id(script: ScriptRef) -> Optional[int]:
    if isinstance(script, Script):
        return script.id
    return int(script) if script_path(script) is None else None


@dataclass(frozen=True)
class UploadPart:
    """One file of a multipart request: the form ``field`` it goes in, its content, and the file
    name to send (``None``: the name of the file on disk or of the file object, else ``field``)."""

    field: str
    value: Upload
    file_name: Optional[str] = None


@dataclass
class Call(Generic[T]):
    """One request: what to send, and ``parse``, which reads a successful answer."""

    method: str
    url: str
    parse: Callable[[httpx.Response], T]
    params: Optional[Dict[str, Any]] = None
    json: Any = None
    data: Optional[Dict[str, str]] = None
    content: Optional[bytes] = None
    uploads: List[UploadPart] = field(default_factory=list)
    headers: Optional[Dict[str, str]] = None
    timeout: Any = httpx.USE_CLIENT_DEFAULT
    starts: Dict[int, int] = field(default_factory=dict)


# --- interpreter sessions ------------------------------------------------------------------

#: Code may run as long as the server lets it (``timeout_sec``), so answers are awaited unbounded.
UNBOUNDED_READ = httpx.Timeout(DEFAULT_TIMEOUT, read=None)


def session_url(session_id: str) -> str:
    return f"/api/sessions/{quote(str(session_id), safe='')}"


def session_file_url(session_id: str, path: Union[str, "os.PathLike[str]"]) -> str:
    """The address of a file in a session's folder. The path goes as one encoded segment
    (``/`` as ``%2F``), so httpx leaves its ``..`` alone and the server judges it (``unsafe_path``)."""
    return f"{session_url(session_id)}/files/{quote(os.fspath(path), safe='')}"


def create_session_call(runtime: str, env: Optional[Mapping[str, str]],
                        deps_of: Optional[str]) -> "Call[SessionInfo]":
    body: Dict[str, Any] = {"runtime": runtime}
    if env:
        body["env"] = dict(env)
    if deps_of is not None:
        body["deps_of"] = deps_of
    # deps_of may install the script's dependencies first: that takes as long as it takes.
    return Call("POST", "/api/sessions", as_session, json=body, timeout=UNBOUNDED_READ)


def execute_call(url: str, code: str, timeout: Optional[float],
                 envs: Optional[Mapping[str, str]] = None) -> "Call[ExecuteResult]":
    """``execute`` in a session, or (with ``envs``, its environment) a one-shot interpreter."""
    body: Dict[str, Any] = {"code": code}
    if timeout is not None:
        body["timeout"] = timeout
    if envs:
        body["envs"] = dict(envs)
    return Call("POST", url, as_execute_result, json=body, timeout=UNBOUNDED_READ)


def file_content(data: FileContent) -> bytes:
    """The bytes to store: text is encoded as UTF-8; a file is read whole."""
    if isinstance(data, (bytes, bytearray)):
        return bytes(data)
    if isinstance(data, str):
        return data.encode("utf-8")
    if isinstance(data, pathlib.PurePath):
        return pathlib.Path(data).read_bytes()
    if hasattr(data, "read"):
        read = data.read()
        return read.encode("utf-8") if isinstance(read, str) else bytes(read)
    raise TypeError(f"a file's content is bytes, str, a Path or a file object, not {type(data).__name__}")


def _is_upload(value: Any) -> bool:
    return isinstance(value, (pathlib.PurePath, bytes, bytearray)) or hasattr(value, "read")


def run_call(
    script: ScriptRef,
    params: Mapping[str, Any],
    parse: Callable[[httpx.Response], T],
    *,
    background: bool,
    run_timeout: Optional[float],
) -> "Call[T]":
    """The request that starts a run: JSON, or multipart when a parameter is an upload
    (the other parameters then travel as one ``payload`` field of JSON, keeping their types)."""
    query: Dict[str, Any] = {}
    if background:
        query["async"] = "true"
    if run_timeout is not None:
        query["timeout"] = run_timeout
    uploads = [UploadPart(name, value) for name, value in params.items() if _is_upload(value)]
    rest = {name: value for name, value in params.items() if not _is_upload(value)}
    call = Call("POST", run_url(script), parse, params=query or None)
    if uploads:
        call.uploads = uploads
        call.data = {"payload": json.dumps(rest)} if rest else {}
    else:
        call.json = rest
    if not background:
        call.timeout = httpx.Timeout(DEFAULT_TIMEOUT, read=None)
    return call


# --- ad-hoc runs ----------------------------------------------------------------------------

#: The form field input files go in: any name but ``code`` (a file there would be the code).
INPUTS_FIELD = "inputs"


def exec_call(
    code: str,
    runtime: str,
    args: Optional[Sequence[str]],
    env: Optional[Mapping[str, str]],
    packages: Optional[Sequence[str]],
    files: Optional[Mapping[str, Upload]],
    timeout: Optional[float],
    parse: Callable[[httpx.Response], T],
    *,
    background: bool,
) -> "Call[T]":
    """The request that runs code once (``POST /api/exec``): JSON, or multipart when there are
    input files, the fields then as text (``args``, ``env``, ``packages``, ``timeout`` as JSON)
    and each file under its name in the run's working folder."""
    fields: Dict[str, Any] = {"runtime": runtime, "code": code}
    if args is not None:
        fields["args"] = _strings("args", args)
    if env:
        fields["env"] = dict(env)
    if packages is not None:
        fields["packages"] = _strings("packages", packages)
    if timeout is not None:
        fields["timeout"] = timeout
    call = Call("POST", "/api/exec", parse, params={"async": "true"} if background else None)
    if files:
        call.uploads = [_input_part(name, value) for name, value in files.items()]
        call.data = {key: value if isinstance(value, str) else json.dumps(value)
                     for key, value in fields.items()}
    else:
        call.json = fields
    if not background:
        # Like a script run: as long as the code (and installing its packages) takes.
        call.timeout = UNBOUNDED_READ
    return call


def _strings(what: str, values: Sequence[str]) -> List[str]:
    if isinstance(values, (str, bytes)):
        raise TypeError(f"{what} is a list of strings, not one {type(values).__name__}")
    return list(values)


def _input_part(name: str, value: Upload) -> UploadPart:
    """An input file, sent under its own name (the gateway keeps only a name's last part, so a
    path would land elsewhere than asked: refused here)."""
    if not isinstance(name, str) or name in ("", ".", "..") or any(c in name for c in "/\\\0"):
        raise ValueError(f"an input file's name is a plain file name, not {name!r}")
    if not _is_upload(value):
        raise TypeError(f"input file {name!r} is a Path, bytes or a binary file object, "
                        f"not {type(value).__name__}")
    return UploadPart(INPUTS_FIELD, value, name)


def _upload_name(name: str, value: Upload) -> str:
    if isinstance(value, pathlib.PurePath):
        return value.name
    given = getattr(value, "name", None)
    return os.path.basename(given) if isinstance(given, str) and given else name


@contextlib.contextmanager
def opened_uploads(call: "Call[Any]") -> Iterator[Optional[List[Tuple[str, Tuple[str, Any]]]]]:
    """httpx's ``files`` for a call, with files on disk open for the send only. File objects
    are rewound to where they first were, so a retried request sends them whole again."""
    if not call.uploads:
        yield None
        return
    with contextlib.ExitStack() as stack:
        files = []
        for index, part in enumerate(call.uploads):
            value = part.value
            if isinstance(value, pathlib.PurePath):
                content: Any = stack.enter_context(open(value, "rb"))
            elif isinstance(value, (bytes, bytearray)):
                content = bytes(value)
            else:
                content = _rewound(call, index, value)
            files.append((part.field, (part.file_name or _upload_name(part.field, value), content)))
        yield files


def _rewound(call: "Call[Any]", index: int, stream: IO[bytes]) -> IO[bytes]:
    try:
        if index in call.starts:
            stream.seek(call.starts[index])
        else:
            call.starts[index] = stream.tell()
    except (OSError, ValueError, AttributeError):
        pass  # not seekable: sent as it is (a retry then sends what is left)
    return stream


# --- parsers -------------------------------------------------------------------------------


def as_json(response: httpx.Response) -> Any:
    return response.json()


def as_object(response: httpx.Response) -> Dict[str, Any]:
    body = response.json()
    if not isinstance(body, dict):
        raise ValueError(f"expected a JSON object from {response.request.url}")
    return body


def as_schema(response: httpx.Response) -> Dict[str, Dict[str, Any]]:
    return as_object(response)


def as_script(response: httpx.Response) -> Script:
    return Script.model_validate(response.json())


def as_script_page(response: httpx.Response) -> "Page[Script]":
    return Page[Script].model_validate(response.json())


def as_run_page(response: httpx.Response) -> "Page[RunRecord]":
    return Page[RunRecord].model_validate(response.json())


def as_record(response: httpx.Response) -> RunRecord:
    return RunRecord.model_validate(response.json())


def as_result(response: httpx.Response) -> RunResult:
    return RunResult.model_validate(response.json())


def as_scan(response: httpx.Response) -> ScanReport:
    return ScanReport.model_validate(response.json())


def as_dependencies(response: httpx.Response) -> ScriptDependencies:
    return ScriptDependencies.model_validate(response.json())


def as_key(response: httpx.Response) -> ApiKey:
    return ApiKey.model_validate(response.json())


def as_keys(response: httpx.Response) -> List[ApiKey]:
    return [ApiKey.model_validate(item) for item in as_object(response).get("items", [])]


def as_settings(response: httpx.Response) -> Dict[str, Setting]:
    body = as_object(response).get("settings", {})
    return {key: Setting.model_validate(value) for key, value in body.items()}


def as_session(response: httpx.Response) -> SessionInfo:
    return SessionInfo.model_validate(response.json())


def as_sessions(response: httpx.Response) -> List[SessionInfo]:
    return [SessionInfo.model_validate(item) for item in as_object(response).get("items", [])]


def as_execute_result(response: httpx.Response) -> ExecuteResult:
    return ExecuteResult.model_validate(response.json())


def as_session_files(response: httpx.Response) -> List[SessionFile]:
    return [SessionFile.model_validate(item) for item in as_object(response).get("items", [])]


def as_written_file(response: httpx.Response) -> SessionFile:
    return SessionFile.model_validate({"kind": "file", **as_object(response)})


def as_nothing(response: httpx.Response) -> None:
    return None


def as_bytes(response: httpx.Response) -> bytes:
    return response.content


def accepted_run_id(response: httpx.Response) -> int:
    """The run id of a ``202`` (or, had it already ended, of a ``200`` result)."""
    body = response.json()
    return int(body["run_id"])


def listing_query(**filters: Any) -> Dict[str, Any]:
    return {key: value for key, value in filters.items() if value is not None}


def safe_file_name(name: str) -> str:
    """A run file's name as a plain name in the download folder (never a path out of it)."""
    base = os.path.basename(name.replace("\\", "/"))
    if base in ("", ".", ".."):
        raise ValueError(f"refusing to write a run file named {name!r}")
    return base
