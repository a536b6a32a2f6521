"""Error and response helpers for scripts written for the original script gateway.

ScriptGateway provides this module to every Python run and schema extraction (last on
PYTHONPATH, so a script's own ``src`` package wins), with the public names, signatures and
JSON shapes scripts of the original gateway rely on. Files named in a response are made
downloadable through ScriptGateway: ``/api/runs/<run id>/files/<name>``.
"""

import enum
import functools
import json
import os
import shutil
import sys
import traceback
from typing import Any, Callable, Dict, Optional, Tuple
from urllib.parse import quote

__all__ = [
    "ErrorType", "ScriptError", "ValidationError", "ExecutionError", "ResourceError",
    "TimeoutError", "PermissionError", "handle_script_errors", "validate_parameters",
    "create_success_response", "create_file_response", "create_content_response",
    "convert_to_url", "print_json_response",
]


class ErrorType(enum.Enum):
    """The kind of failure, as ``error_type`` in an error response."""

    VALIDATION = "validation"
    EXECUTION = "execution"
    TIMEOUT = "timeout"
    RESOURCE = "resource"
    PERMISSION = "permission"
    SYSTEM = "system"
    CUSTOM = "custom"


class ScriptError(Exception):
    """A failure a script reports as ``{"success": false, "error", "error_type", "code", "details"}``."""

    def __init__(self, message: str, error_type: ErrorType = ErrorType.CUSTOM,
                 code: int = 500, details: Optional[Dict[str, Any]] = None):
        super().__init__(message)
        self.message = message
        self.error_type = error_type
        self.code = code
        self.details = details or {}

    def to_dict(self) -> Dict[str, Any]:
        return {
            "success": False,
            "error": self.message,
            "error_type": self.error_type.value,
            "code": self.code,
            "details": self.details,
        }


def _present(**values: Any) -> Dict[str, Any]:
    """The details that were given (``None`` means not given)."""
    return {key: value for key, value in values.items() if value is not None}


class ValidationError(ScriptError):
    """A parameter was missing or wrong (code 400)."""

    def __init__(self, message: str, parameter: Optional[str] = None, value: Any = None):
        details = _present(parameter=parameter or None,
                           value=None if value is None else str(value))
        super().__init__(message, ErrorType.VALIDATION, 400, details)


class ExecutionError(ScriptError):
    """Something the script ran failed (code 500)."""

    def __init__(self, message: str, command: Optional[str] = None, exit_code: Optional[int] = None):
        super().__init__(message, ErrorType.EXECUTION, 500,
                         _present(command=command or None, exit_code=exit_code))


class ResourceError(ScriptError):
    """A file or other resource is missing (code 404)."""

    def __init__(self, message: str, resource_type: Optional[str] = None,
                 resource_path: Optional[str] = None):
        super().__init__(message, ErrorType.RESOURCE, 404,
                         _present(resource_type=resource_type or None,
                                  resource_path=resource_path or None))


class TimeoutError(ScriptError):  # noqa: A001 - the original's public name
    """Something took too long (code 504)."""

    def __init__(self, message: str, timeout_seconds: Optional[int] = None):
        super().__init__(message, ErrorType.TIMEOUT, 504,
                         _present(timeout_seconds=timeout_seconds))


class PermissionError(ScriptError):  # noqa: A001 - the original's public name
    """The script may not do what was asked (code 403)."""

    def __init__(self, message: str, required_permission: Optional[str] = None):
        super().__init__(message, ErrorType.PERMISSION, 403,
                         _present(required_permission=required_permission or None))


def handle_script_errors(func: Callable) -> Callable:
    """Turns whatever the wrapped function raises into an error response it returns."""

    @functools.wraps(func)
    def wrapper(*args, **kwargs):
        try:
            return func(*args, **kwargs)
        except ScriptError as error:
            return error.to_dict()
        except KeyboardInterrupt:
            return ScriptError("脚本被用户中断", ErrorType.EXECUTION, 130).to_dict()
        except Exception as error:  # noqa: BLE001 - every failure becomes a response
            return ScriptError(
                f"脚本执行出错: {error}", ErrorType.SYSTEM, 500,
                {"exception_type": type(error).__name__, "traceback": traceback.format_exc()},
            ).to_dict()

    return wrapper


def _is_empty(value: Any) -> bool:
    return value is None or value == ""


def validate_parameters(params: Dict[str, Any],
                        schema: Dict[str, Any]) -> Tuple[bool, Optional[Dict[str, Any]]]:
    """Checks ``params`` against an ARGS_MAP: required ones present, ``int``, ``float`` and
    ``bool`` ones converted in place. Returns ``(True, None)`` or ``(False, error response)``."""
    for name, spec in schema.items():
        value = params.get(name)
        if _is_empty(value):
            if spec.get("required", False):
                return False, ValidationError(f"缺少必需参数: {name}", parameter=name).to_dict()
            continue
        kind = spec.get("type", "str")
        try:
            if kind == "int":
                params[name] = int(value)
            elif kind == "float":
                params[name] = float(value)
            elif kind == "bool":
                params[name] = (value.lower() in ("true", "1", "yes", "on")
                                if isinstance(value, str) else bool(value))
        except (TypeError, ValueError):
            return False, ValidationError(f"参数 {name} 类型错误，期望 {kind}",
                                          parameter=name, value=value).to_dict()
    return True, None


def _with_metadata(response: Dict[str, Any], metadata: Optional[Dict[str, Any]]) -> Dict[str, Any]:
    if metadata:
        response["metadata"] = metadata
    return response


def create_success_response(data: Any, metadata: Optional[Dict[str, Any]] = None) -> Dict[str, Any]:
    return _with_metadata({"success": True, "data": data}, metadata)


def create_file_response(file_path: str, metadata: Optional[Dict[str, Any]] = None) -> Dict[str, Any]:
    """A response naming a file the caller downloads through the gateway."""
    if not os.path.isfile(file_path):
        return ResourceError("结果文件不存在", resource_path=file_path).to_dict()
    try:
        url, name = _serve(file_path)
        response = {
            "success": True,
            "type": "file",
            "url": url,
            "filename": name,
            "size": os.path.getsize(file_path),
        }
    except OSError as error:
        return ScriptError(f"处理文件响应时出错: {error}", ErrorType.SYSTEM).to_dict()
    return _with_metadata(response, metadata)


def create_content_response(content: str, metadata: Optional[Dict[str, Any]] = None) -> Dict[str, Any]:
    response = {
        "success": True,
        "type": "content",
        "content": content,
        "size": len(content.encode("utf-8")),
    }
    return _with_metadata(response, metadata)


def convert_to_url(file_path: str) -> str:
    """The URL a caller downloads ``file_path`` from.

    In a run, files in the run's working folder are listed with the run and served at
    ``/api/runs/<run id>/files/<name>`` (absolute when the gateway's ``base_url`` is set); a
    file elsewhere is copied into the working folder first, so the URL always works. Outside a
    run (the script started by hand), a ``file:`` URL.
    """
    return _serve(file_path)[0]


def _serve(file_path: str) -> Tuple[str, str]:
    """The file's URL and the name it is served under."""
    path = os.path.realpath(file_path)
    run_id, work = os.environ.get("SG_RUN_ID"), os.environ.get("HOME")
    if not run_id or not work:
        return "file://" + quote(path), os.path.basename(path)
    work = os.path.realpath(work)
    if os.path.commonpath([work, path]) != work:
        name = _unique_in(work, os.path.basename(path))
        shutil.copyfile(path, os.path.join(work, name))
        path = os.path.join(work, name)
    relative = os.path.relpath(path, work).replace(os.sep, "/")
    base = os.environ.get("SG_BASE_URL", "").rstrip("/")
    return f"{base}/api/runs/{run_id}/files/{quote(relative)}", os.path.basename(path)


def _unique_in(folder: str, name: str) -> str:
    stem, ext = os.path.splitext(name)
    candidate, n = name, 1
    while os.path.exists(os.path.join(folder, candidate)):
        n += 1
        candidate = f"{stem}_{n}{ext}"
    return candidate


def print_json_response(response: Dict[str, Any]) -> None:
    """Prints the response as the run's JSON result; a failure also exits with status 1."""
    print(json.dumps(response, ensure_ascii=False, indent=2))
    if not response.get("success", False):
        sys.exit(1)
