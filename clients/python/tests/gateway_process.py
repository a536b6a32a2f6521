"""A real gateway for the tests: the binary from ``SG_BINARY`` (else the repository's
``target/release`` or ``target/debug`` build) on a free port, over a temporary scripts repo."""

from __future__ import annotations

import os
import pathlib
import subprocess
import tempfile
import time
from typing import Callable, Dict, Iterable, List, Optional, TypeVar

import httpx

REPO_ROOT = pathlib.Path(__file__).resolve().parents[3]
FIXTURES = pathlib.Path(__file__).resolve().parent / "fixtures"
T = TypeVar("T")


def binary() -> pathlib.Path:
    given = os.environ.get("SG_BINARY")
    if given:
        return pathlib.Path(given)
    for build in ("release", "debug"):
        candidate = REPO_ROOT / "target" / build / "script-gateway"
        if candidate.exists():
            return candidate
    raise RuntimeError("no gateway binary: set SG_BINARY or build the repository")


def poll(what: str, probe: Callable[[], Optional[T]], deadline_s: float = 20.0) -> T:
    """``probe()`` until it returns something, for at most ``deadline_s`` seconds."""
    end = time.monotonic() + deadline_s
    while True:
        value = probe()
        if value is not None:
            return value
        if time.monotonic() > end:
            raise TimeoutError(f"gave up waiting for {what} after {deadline_s}s")
        time.sleep(0.05)


class GatewayProcess:
    """``start()`` writes the scripts, starts the binary and waits for ``listening on``
    and for every script to be in the catalog; ``stop()`` ends it."""

    def __init__(self, scripts: Dict[str, str], args: Iterable[str] = (),
                 api_key: Optional[str] = None) -> None:
        self.dir = tempfile.TemporaryDirectory(prefix="sg-client-")
        self.root = pathlib.Path(self.dir.name)
        self.repo = self.root / "repo"
        self.scripts = dict(scripts)
        self.args: List[str] = list(args)
        self.api_key = api_key
        self.url = ""
        self.process: Optional[subprocess.Popen] = None
        for path, source in self.scripts.items():
            self.add_script(path, source)

    def add_script(self, path: str, source: str) -> None:
        target = self.repo / path
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(source)

    def start(self) -> "GatewayProcess":
        out = (self.root / "stdout").open("wb")
        err = (self.root / "stderr").open("wb")
        command = [str(binary()), "serve", "--port", "0", "--scan-interval-sec", "0", "--log", "warn",
                   "--scripts-repo", str(self.repo), "--data-dir", str(self.root / "data"), *self.args]
        if self.api_key:
            command += ["--api-key", self.api_key]
        self.process = subprocess.Popen(command, stdout=out, stderr=err, stdin=subprocess.DEVNULL)
        self.url = poll("the listening line", self._listening)
        poll("the first scan", self._scanned)
        return self

    def _listening(self) -> Optional[str]:
        assert self.process is not None
        if self.process.poll() is not None:
            raise RuntimeError(f"the gateway exited {self.process.returncode}: {self.stderr()}")
        for line in (self.root / "stdout").read_text().splitlines():
            if line.startswith("listening on "):
                return line[len("listening on "):].strip()
        return None

    def _scanned(self) -> Optional[bool]:
        headers = {"X-API-Key": self.api_key} if self.api_key else {}
        reply = httpx.get(f"{self.url}/api/scripts", params={"page_size": 500}, headers=headers)
        if reply.status_code != 200:
            return None
        listed = {item["path"] for item in reply.json()["items"]}
        return True if listed >= set(self.scripts) else None

    def stderr(self) -> str:
        return (self.root / "stderr").read_text(errors="replace")

    def stop(self) -> None:
        if self.process and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        self.dir.cleanup()


def fixture_scripts(*names: str) -> Dict[str, str]:
    """The fixture scripts ``tests/fixtures/NAME.py``, each at ``python/NAME.py``."""
    return {f"python/{name}.py": (FIXTURES / f"{name}.py").read_text() for name in names}
