# shellcheck shell=bash
# --- OpenAPI document and Swagger UI (issue 6): two blocks to paste into .ci/run. -----------------

# --- Block 1: paste BEFORE `cargo test`. ------------------------------------------------------------
# tests/api/openapi.rs validates the document with PyPI's openapi-spec-validator (through python3)
# and loads Swagger UI in Debian's chromium; each test skips, saying so, when its tool is missing,
# so install both here (each only when missing).
echo "--- tools for the OpenAPI tests: chromium, openapi-spec-validator"
if ! command -v chromium >/dev/null 2>&1; then
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends chromium >/dev/null
fi
chromium --version
if ! python3 -c "import openapi_spec_validator" 2>/dev/null; then
  python3 -m pip install --quiet "openapi-spec-validator==0.9.0"
fi

# --- Block 2: paste AFTER `cargo test` (it uses the debug binary cargo test built). -------------------
# A bounded schemathesis run over the live /openapi.json: no 5xx, no response that breaks its
# schema. docs/schemathesis.md explains the exclusions; in short, nothing it generates may make
# the gateway reach another host or a package registry.
echo "--- schemathesis over /openapi.json (bounded)"
if ! python3 -c "import schemathesis" 2>/dev/null; then
  python3 -m pip install --quiet "schemathesis==4.32.5"
  hash -r
fi
st_dir="$(mktemp -d)"
cp -r scripts_repo "$st_dir/repo"
# fetch_title fetches the URL it is given; dependency files would trigger installs from registries.
rm -f "$st_dir"/repo/js/fetch_title.*
find "$st_dir/repo" \( -name requirements.txt -o -name package.json \
  -o -name '*_requirements.txt' -o -name '*_package.json' \) -delete
./target/debug/script-gateway serve --port 0 --scripts-repo "$st_dir/repo" \
  --data-dir "$st_dir/data" --log warn >"$st_dir/out" 2>"$st_dir/err" &
st_pid=$!
for _ in $(seq 1 300); do
  grep -q '^listening on ' "$st_dir/out" && break
  sleep 0.1
done
st_base="$(sed -n 's/^listening on //p' "$st_dir/out")"
if [ -z "$st_base" ]; then
  echo "the gateway did not start:" >&2
  cat "$st_dir/err" >&2
  kill "$st_pid" 2>/dev/null || true
  exit 1
fi
st_status=0
schemathesis run "$st_base/openapi.json" \
  --checks not_a_server_error,response_schema_conformance \
  --max-examples 5 \
  --max-time 150 \
  --request-timeout 30 \
  --exclude-path-regex '(dependencies/install|deps/install|/settings)' \
  --exclude-method DELETE \
  --seed 1 \
  --no-color || st_status=$?
kill "$st_pid" 2>/dev/null || true
wait "$st_pid" 2>/dev/null || true
rm -rf "$st_dir"
if [ "$st_status" -ne 0 ]; then
  echo "schemathesis found a 5xx or a response that breaks the document" >&2
  exit "$st_status"
fi
echo "schemathesis: ok"
