# ScriptGateway: the release binary on a slim runtime with Python 3.11, Node 22 LTS, pip, npm and uv.
#
#   docker build -t script-gateway .
#   docker run -d -p 8001:8001 -e SG_API_KEY=change-me -v "$PWD/scripts_repo:/app/scripts_repo" \
#       -v script-gateway-data:/data script-gateway
#
# docker-compose.yml does the same with a .env file; see docs/docker.md.
# Build args: APP_UID / APP_GID (default 1000) set the uid/gid the gateway runs as; make them match
# the owner of a bind-mounted scripts_repo so the gateway can write sidecars and saved scripts.

# Node 22 LTS comes from the official image: only its node binary and npm are copied below.
# (Node 20 reached its end of life in April 2026.)
FROM node:22-bookworm-slim AS node

# ---------------------------------------------------------------------------------------------
FROM rust:1.95-slim-bookworm AS build
SHELL ["/bin/bash", "-o", "pipefail", "-c"]
WORKDIR /src

# 1. Dependencies only. This layer is rebuilt when Cargo.toml, Cargo.lock or build.rs change,
#    not when the sources do. The library and binary are empty stand-ins; every [[bench]] the
#    manifest names gets a stub so cargo accepts the manifest (benches/ is not in the context).
COPY Cargo.toml Cargo.lock build.rs ./
RUN mkdir -p src benches \
    && echo 'fn main() {}' > src/main.rs \
    && touch src/lib.rs \
    && sed -n '/^\[\[bench\]\]/,/^name/s/^name *= *"\(.*\)"/\1/p' Cargo.toml \
       | while read -r bench; do echo 'fn main() {}' > "benches/${bench}.rs"; done \
    && cargo build --release --locked \
    && rm -rf src

# 2. The real sources, and the folders they embed at compile time (include_dir!/include_str!).
#    The touch makes sure cargo sees them as newer than the stand-ins.
COPY migrations migrations
COPY templates templates
COPY static static
COPY compat compat
COPY src src
RUN touch src/main.rs src/lib.rs \
    && cargo build --release --locked \
    && strip --strip-debug target/release/script-gateway \
    && cp target/release/script-gateway /usr/local/bin/script-gateway

# ---------------------------------------------------------------------------------------------
FROM python:3.11-slim-bookworm AS runtime

ARG APP_UID=1000
ARG APP_GID=1000
# Scripts run as this user, which owns nothing of the gateway's: it cannot read the database
# or signal the gateway (see "What a script can touch" in the README).
ARG RUN_UID=1001
ARG UV_VERSION=0.13.8

# tini is PID 1: it forwards stop signals to the gateway and reaps the processes that scripts
# leave behind when a run is stopped (they are re-parented to PID 1).
RUN apt-get update \
    && apt-get install -y --no-install-recommends tini=0.19.* \
    && rm -rf /var/lib/apt/lists/*

COPY --from=node /usr/local/bin/node /usr/local/bin/node
COPY --from=node /usr/local/lib/node_modules/npm /usr/local/lib/node_modules/npm

RUN ln -s ../lib/node_modules/npm/bin/npm-cli.js /usr/local/bin/npm \
    && ln -s ../lib/node_modules/npm/bin/npx-cli.js /usr/local/bin/npx \
    && pip install --no-cache-dir "uv==${UV_VERSION}" \
    && groupadd --non-unique --gid "${APP_GID}" gateway \
    && useradd --non-unique --uid "${APP_UID}" --gid "${APP_GID}" --create-home \
           --home-dir /home/gateway --shell /usr/sbin/nologin gateway \
    && groupadd --gid "${RUN_UID}" scriptgateway \
    && useradd --uid "${RUN_UID}" --gid "${RUN_UID}" --no-create-home \
           --home-dir /nonexistent --shell /usr/sbin/nologin scriptgateway \
    && mkdir -p /app /data \
    && chown gateway:gateway /app /data \
    && python3 --version && pip --version && node --version && npm --version && uv --version

ENV SG_HOST=0.0.0.0 \
    SG_PORT=8001 \
    SG_SCRIPTS_REPO=/app/scripts_repo \
    SG_DATA_DIR=/data \
    SG_RUN_AS=scriptgateway \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    NPM_CONFIG_UPDATE_NOTIFIER=false \
    NPM_CONFIG_FUND=false

COPY --from=build /usr/local/bin/script-gateway /usr/local/bin/script-gateway
# The example scripts, used when no scripts_repo is mounted over them.
COPY --chown=gateway:gateway scripts_repo /app/scripts_repo

# The gateway itself runs as root inside the container so that it can start each run as the
# unprivileged `scriptgateway` user and take its folder back afterwards; the files it keeps
# belong to `gateway`. Set SG_RUN_AS=off and `user: gateway` in compose to run it unprivileged
# (scripts then share its user and can read its data folder).
WORKDIR /app
EXPOSE 8001

# /ready needs no API key: 200 once the first scan of scripts_repo is done (503 while it runs;
# the gateway listens and serves at once). Python is in the image anyway, so no curl is
# installed for this. The start period leaves a large repository time for its first scan.
HEALTHCHECK --interval=30s --timeout=5s --start-period=120s --retries=3 \
    CMD ["python3", "-c", "import os, urllib.request as r; r.build_opener(r.ProxyHandler({})).open('http://127.0.0.1:%s/ready' % os.environ.get('SG_PORT', '8001'), timeout=4)"]

# No API key is baked in: without SG_API_KEY the gateway refuses to listen on 0.0.0.0.
ENTRYPOINT ["/usr/bin/tini", "--", "script-gateway"]
CMD ["serve"]
