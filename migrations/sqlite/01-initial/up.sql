-- Scripts found under scripts_repo. A row is never deleted: a removed file sets
-- deleted_at, so its id stays reserved for its path and its run history keeps a name.
CREATE TABLE scripts (
    id              INTEGER PRIMARY KEY AUTOINCREMENT,
    path            TEXT    NOT NULL UNIQUE,          -- relative to scripts_repo, '/'-separated
    runtime         TEXT    NOT NULL CHECK (runtime IN ('python', 'js')),
    name            TEXT    NOT NULL,
    group_path      TEXT,                             -- folder holding the group's dependency file
    alias           TEXT,
    description     TEXT,
    enabled         INTEGER NOT NULL DEFAULT 1,
    notify_enabled  INTEGER NOT NULL DEFAULT 0,
    timeout_sec     INTEGER,                          -- per-script override
    max_concurrent  INTEGER,                          -- per-script override
    load_status     TEXT    NOT NULL CHECK (load_status IN ('ok', 'error')),
    load_error      TEXT,
    args_schema     TEXT,                             -- the ARGS_MAP as JSON text
    file_hash       TEXT    NOT NULL,                 -- MD5 of the file's bytes
    file_size       INTEGER NOT NULL DEFAULT 0,
    deps_file       TEXT,
    deps_hash       TEXT,
    deps_status     TEXT,
    created_at      TEXT    NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%fZ', 'now')),
    updated_at      TEXT    NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%fZ', 'now')),
    loaded_at       TEXT,                             -- last schema extraction
    deleted_at      TEXT,
    last_run_at     TEXT,
    last_run_status TEXT,
    run_count       INTEGER NOT NULL DEFAULT 0
);
CREATE INDEX scripts_live ON scripts (deleted_at, runtime, load_status);

-- One row per run request, from queued to finished.
CREATE TABLE runs (
    id                  INTEGER PRIMARY KEY AUTOINCREMENT,
    script_id           INTEGER NOT NULL REFERENCES scripts (id),
    script_path         TEXT    NOT NULL,
    status              TEXT    NOT NULL CHECK (status IN
                            ('queued', 'running', 'success', 'error', 'timeout',
                             'limit_exceeded', 'cancelled', 'interrupted')),
    params              TEXT,                         -- JSON, uploads replaced by their names
    ignored_params      TEXT,                         -- JSON array
    run_dir             TEXT,
    queued_at           TEXT    NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%fZ', 'now')),
    started_at          TEXT,
    finished_at         TEXT,
    duration_ms         INTEGER,
    exit_code           INTEGER,
    data                TEXT,                         -- JSON stdout
    stdout_preview      TEXT,
    output_file         TEXT,                         -- non-JSON stdout kept as a file
    output_size         INTEGER,
    output_content_type TEXT,
    stderr              TEXT,
    files               TEXT,                         -- JSON array of {name, size}
    error_code          TEXT,
    error_message       TEXT,
    deps_hash           TEXT
);
CREATE INDEX runs_by_script ON runs (script_id, id DESC);
CREATE INDEX runs_by_status ON runs (status, id DESC);
CREATE INDEX runs_by_queued_at ON runs (queued_at);

-- Runtime settings set over the API; they beat the environment and the defaults.
CREATE TABLE settings (
    key        TEXT PRIMARY KEY,
    value      TEXT NOT NULL,                         -- JSON
    updated_at TEXT NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%fZ', 'now'))
);

-- Installed dependency sets, keyed by the MD5 of the normalised set.
CREATE TABLE dep_caches (
    runtime      TEXT NOT NULL CHECK (runtime IN ('python', 'js')),
    hash         TEXT NOT NULL,
    status       TEXT NOT NULL CHECK (status IN ('installing', 'ready', 'failed')),
    deps         TEXT NOT NULL,                       -- JSON array of the normalised entries
    cache_dir    TEXT NOT NULL,
    size_bytes   INTEGER,
    error        TEXT,
    created_at   TEXT NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%fZ', 'now')),
    installed_at TEXT,
    last_used_at TEXT,
    PRIMARY KEY (runtime, hash)
);

-- The full output of every install attempt.
CREATE TABLE install_logs (
    id          INTEGER PRIMARY KEY AUTOINCREMENT,
    runtime     TEXT NOT NULL,
    hash        TEXT NOT NULL,
    trigger     TEXT NOT NULL,                        -- scan | run | api | shared
    status      TEXT NOT NULL CHECK (status IN ('running', 'success', 'failed')),
    command     TEXT,
    log         TEXT,
    started_at  TEXT NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%fZ', 'now')),
    finished_at TEXT,
    duration_ms INTEGER
);
CREATE INDEX install_logs_by_hash ON install_logs (runtime, hash, id DESC);
