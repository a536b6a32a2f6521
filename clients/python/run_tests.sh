#!/usr/bin/env bash
# The Python client's test suite against a real gateway binary.
#
#   SG_BINARY=path/to/script-gateway clients/python/run_tests.sh [pytest args...]
#
# Makes (or reuses) a venv (SG_CLIENT_VENV, default clients/python/.venv), installs the client
# (editable) and its test dependencies from requirements-test.txt, each only when missing, then
# runs pytest. Exits 77 when the Python tools are missing (no `python3 -m venv`, or PyPI out of
# reach for a missing package), so callers can report the suite as skipped rather than failed.
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
venv="${SG_CLIENT_VENV:-$here/.venv}"
python="${SG_PYTHON:-python3}"

skip() {
  echo "SKIPPED the Python client suite: $*" >&2
  exit 77
}

if [ ! -x "$venv/bin/python" ]; then
  "$python" -m venv "$venv" >/dev/null 2>&1 \
    || { rm -rf "$venv"; skip "'$python -m venv' does not work here (apt-get install python3-venv)"; }
fi
py="$venv/bin/python"
pip() { "$py" -m pip install --quiet --disable-pip-version-check "$@"; }

# The client itself, editable, so the tests always see this checkout's code.
if ! "$py" - "$here/src" <<'PY' 2>/dev/null
import pathlib, sys
import httpx, httpx_sse, pydantic, scriptgateway
assert pydantic.VERSION.startswith("2.")
assert pathlib.Path(scriptgateway.__file__).resolve().is_relative_to(pathlib.Path(sys.argv[1]).resolve())
PY
then
  pip -e "$here" || skip "could not install the client and its dependencies (is PyPI reachable?)"
fi
# pytest and pytest-asyncio are required; openapi-python-client and mypy only for their own
# tests, which say SKIPPED when they cannot be installed.
if ! "$py" -c "import pytest, pytest_asyncio" 2>/dev/null; then
  pip -r <(grep -E '^(pytest|pytest-asyncio)==' "$here/requirements-test.txt") \
    || skip "could not install pytest (is PyPI reachable?)"
fi
for tool in openapi-python-client mypy; do
  if [ ! -x "$venv/bin/$tool" ]; then
    pip -r <(grep -E "^$tool==" "$here/requirements-test.txt") \
      || echo "WARNING: $tool could not be installed; its test will be SKIPPED" >&2
  fi
done

cd "$here"
started=$(date +%s)
status=0
"$py" -m pytest -q -rs "$@" || status=$?
echo "the Python client suite took $(( $(date +%s) - started )) s" >&2
exit "$status"
