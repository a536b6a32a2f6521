-- Named keys may also have the `metrics` scope (read /metrics, nothing else). SQLite cannot
-- change a CHECK constraint in place: the table is rebuilt with its rows and ids.
CREATE TABLE api_keys_new (
    id           INTEGER PRIMARY KEY AUTOINCREMENT,
    name         TEXT NOT NULL,
    key_hash     TEXT NOT NULL UNIQUE,
    prefix       TEXT NOT NULL,                      -- the first characters, to recognise a key
    scope        TEXT NOT NULL CHECK (scope IN ('run', 'metrics', 'admin')),
    created_at   TEXT NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%fZ', 'now')),
    last_used_at TEXT,
    revoked_at   TEXT
);
INSERT INTO api_keys_new (id, name, key_hash, prefix, scope, created_at, last_used_at, revoked_at)
    SELECT id, name, key_hash, prefix, scope, created_at, last_used_at, revoked_at FROM api_keys;
DROP TABLE api_keys;
ALTER TABLE api_keys_new RENAME TO api_keys;
