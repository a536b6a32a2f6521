"""Typed views of the gateway's answers. Unknown fields are kept (``model_extra``), so a newer
gateway's additions never break an older client."""

from __future__ import annotations

import json
from typing import Any, Dict, Generic, List, Optional, TypeVar

from pydantic import BaseModel, ConfigDict

T = TypeVar("T")

#: Run statuses after which nothing changes any more.
FINISHED = frozenset(
    {"success", "error", "timeout", "limit_exceeded", "cancelled", "interrupted"}
)


class _View(BaseModel):
    model_config = ConfigDict(extra="allow", frozen=True)


class Script(_View):
    """A script of the catalog. ``path`` (e.g. ``python/hello.py``) addresses it everywhere."""

    id: int
    path: str
    name: str
    runtime: str
    enabled: bool = True
    load_status: str = "ok"
    load_error: Optional[str] = None
    alias: Optional[str] = None
    description: Optional[str] = None
    args_schema: Optional[Dict[str, Dict[str, Any]]] = None
    run_url: Optional[str] = None
    run_count: int = 0
    last_run_at: Optional[str] = None
    last_run_status: Optional[str] = None
    created_at: Optional[str] = None
    updated_at: Optional[str] = None


class RunFile(_View):
    """A file a run wrote into its working folder; ``url`` downloads it."""

    name: str
    size: int
    url: str


class RunErrorInfo(_View):
    """Why a run did not succeed: ``script_failed``, ``timeout``, ``limit_exceeded``, ``cancelled``..."""

    code: str
    message: Optional[str] = None


class _RunFields(_View):
    duration_ms: Optional[int] = None
    exit_code: Optional[int] = None
    data: Any = None
    stderr: str = ""
    files: List[RunFile] = []
    error: Optional[RunErrorInfo] = None
    # Output that was not JSON: a file at `url` (with `stdout_preview` for text).
    type: Optional[str] = None
    url: Optional[str] = None
    filename: Optional[str] = None
    size: Optional[int] = None
    content_type: Optional[str] = None
    stdout_preview: Optional[str] = None
    ignored_params: List[str] = []


class RunResult(_RunFields):
    """The answer to a finished run. ``status`` is ``success`` or ``error``; ``run_status`` says
    how it ended (``success``, ``error``, ``timeout``, ``cancelled``...). ``script_id`` is
    ``None`` for an ad-hoc run (``exec``)."""

    status: str
    run_status: str
    run_id: int
    script_id: Optional[int] = None

    @property
    def ok(self) -> bool:
        return self.run_status == "success"


class RunRecord(_RunFields):
    """A run as the history shows it (``GET /api/runs/{id}``). ``kind`` is ``script``, or
    ``exec`` for an ad-hoc run, which has no ``script_id`` and the ``script_path``
    ``exec:python`` or ``exec:node``."""

    id: int
    script_path: str
    status: str
    # Gateways from before ad-hoc runs send no kind: every run of theirs ran a script.
    kind: str = "script"
    script_id: Optional[int] = None
    params: Any = None
    queued_at: Optional[str] = None
    started_at: Optional[str] = None
    finished_at: Optional[str] = None
    queue_position: Optional[int] = None

    @property
    def finished(self) -> bool:
        return self.status in FINISHED

    def to_result(self) -> RunResult:
        """This run in the shape of a run answer (``run(...)`` returns that shape)."""
        fields = self.model_dump(exclude={"id", "status", "params", "queued_at", "started_at",
                                          "finished_at", "queue_position", "script_path", "kind"})
        status = "success" if self.status == "success" else "error"
        return RunResult(**fields, status=status, run_status=self.status, run_id=self.id)


class RunEvent(_View):
    """One live event of a run: ``stdout`` / ``stderr`` with one line in ``data``, then ``end``."""

    id: str
    event: str
    data: str

    @property
    def run(self) -> Optional[RunRecord]:
        """The finished run, carried by the ``end`` event."""
        if self.event != "end":
            return None
        return RunRecord.model_validate(json.loads(self.data))


class Page(_View, Generic[T]):
    """One page of a listing."""

    items: List[T]
    total: int
    page: int = 1
    page_size: int = 20


class Setting(_View):
    """A runtime setting: the value in force and where it comes from (``db``, ``cli``, ``env``,
    ``default``)."""

    key: str
    value: Any = None
    source: str
    type: str
    default: Any = None
    description: str = ""
    min: Optional[float] = None
    max: Optional[float] = None
    choices: Optional[List[str]] = None


class ApiKey(_View):
    """A named key; ``key`` (the secret) is only there in the answer that created it."""

    id: int
    name: str
    scope: str
    prefix: Optional[str] = None
    created_at: Optional[str] = None
    last_used_at: Optional[str] = None
    revoked_at: Optional[str] = None
    key: Optional[str] = None


class ScriptDependencies(_View):
    """A script's dependency set and whether its cache is ready."""

    script_id: int
    runtime: str
    deps: List[str] = []
    installed: bool = False
    source_file: Optional[str] = None
    hash: Optional[str] = None
    cache_dir: Optional[str] = None
    status: Optional[str] = None
    error: Optional[str] = None
    installer: Optional[str] = None


class ScanReport(_View):
    """What a rescan changed."""

    added: int = 0
    updated: int = 0
    removed: int = 0


class SessionInfo(_View):
    """A live interpreter session as the gateway shows it: ``status`` is ``idle`` or ``busy``,
    ``calls`` how many ``execute`` calls it answered, ``pid`` its worker (and process group)."""

    id: str
    runtime: str
    status: str
    created_at: Optional[str] = None
    last_used_at: Optional[str] = None
    pid: Optional[int] = None
    calls: int = 0


class ExecuteError(_View):
    """An exception the code raised: its class ``name`` (``ZeroDivisionError``, or
    ``KeyboardInterrupt`` / ``Interrupted`` on a timeout, ``Killed``, ``WorkerExited``...), its
    ``value`` (the message) and the formatted ``traceback``."""

    name: str
    value: str = ""
    traceback: str = ""


class ExecuteResult(_View):
    """What one ``execute`` produced. ``status``: ``ok``; ``error`` (an exception, in ``error``);
    ``interrupted`` (the timeout stopped it; the session lives on); ``exit`` (the session ended:
    ``exit()``, with ``exit_code``, or its worker died or was killed). ``result`` is the ``repr``
    of a final expression (as a REPL shows it), else ``None``; ``truncated`` says stdout or
    stderr was cut at the output limit."""

    status: str
    stdout: str = ""
    stderr: str = ""
    result: Optional[str] = None
    error: Optional[ExecuteError] = None
    exit_code: Optional[int] = None
    truncated: bool = False
    duration_ms: int = 0

    @property
    def ok(self) -> bool:
        return self.status == "ok"


class SessionFile(_View):
    """An entry of a session's working folder: ``path`` relative to it, ``kind`` (``file``,
    ``dir``, ``symlink`` or ``other``) and ``size`` in bytes."""

    path: str
    kind: str = "file"
    size: int = 0
