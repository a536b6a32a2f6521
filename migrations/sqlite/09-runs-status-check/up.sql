-- The status CHECK was `status IN (<8 words>)`: SQLite codes a constant IN list of that length
-- as a temporary b-tree built on every INSERT and on every UPDATE of the status, a page cache
-- opened and torn down twice per run. The same rule, written as comparisons, costs a few
-- instructions. SQLite cannot change a CHECK in place: the table is rebuilt with its rows, its
-- ids and its AUTOINCREMENT counter (so ids of deleted runs are never handed out again).
CREATE TABLE runs_new (
    id                  INTEGER PRIMARY KEY AUTOINCREMENT,
    script_id           INTEGER NOT NULL REFERENCES scripts (id),
    script_path         TEXT    NOT NULL,
    status              TEXT    NOT NULL CHECK (
                            status = 'queued' OR status = 'running' OR status = 'success'
                            OR status = 'error' OR status = 'timeout'
                            OR status = 'limit_exceeded' OR status = 'cancelled'
                            OR status = 'interrupted'),
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
    deps_hash           TEXT,
    pid                 INTEGER,
    event_log           TEXT
);
INSERT INTO runs_new (id, script_id, script_path, status, params, ignored_params, run_dir,
        queued_at, started_at, finished_at, duration_ms, exit_code, data, stdout_preview,
        output_file, output_size, output_content_type, stderr, files, error_code,
        error_message, deps_hash, pid, event_log)
    SELECT id, script_id, script_path, status, params, ignored_params, run_dir,
        queued_at, started_at, finished_at, duration_ms, exit_code, data, stdout_preview,
        output_file, output_size, output_content_type, stderr, files, error_code,
        error_message, deps_hash, pid, event_log
    FROM runs;
DELETE FROM sqlite_sequence WHERE name = 'runs_new';
INSERT INTO sqlite_sequence (name, seq) SELECT 'runs_new', seq FROM sqlite_sequence WHERE name = 'runs';
DROP TABLE runs;
ALTER TABLE runs_new RENAME TO runs;
CREATE INDEX runs_by_script ON runs (script_id, id DESC);
CREATE INDEX runs_by_status ON runs (status, id DESC);
CREATE INDEX runs_by_queued_at ON runs (queued_at);
