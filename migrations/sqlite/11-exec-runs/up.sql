-- Ad-hoc code runs (`POST /api/exec`) have a history row of their own: no script behind them
-- (`script_id` NULL) and a `kind` that says so; a script run keeps its script. SQLite cannot
-- loosen a NOT NULL or add a CHECK in place: the table is rebuilt with its rows, its ids and its
-- AUTOINCREMENT counter, as in 09 (the status rule stays written as comparisons).
CREATE TABLE runs_new (
    id                  INTEGER PRIMARY KEY AUTOINCREMENT,
    script_id           INTEGER REFERENCES scripts (id),   -- NULL for an ad-hoc run
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
    event_log           TEXT,
    kind                TEXT    NOT NULL DEFAULT 'script' CHECK (
                            (kind = 'script' AND script_id IS NOT NULL)
                            OR (kind = 'exec' AND script_id IS NULL))
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
