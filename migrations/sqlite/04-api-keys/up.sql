-- Named API keys. Only a SHA-256 of each key is stored; the key is shown once, at creation.
CREATE TABLE api_keys (
    id           INTEGER PRIMARY KEY AUTOINCREMENT,
    name         TEXT NOT NULL,
    key_hash     TEXT NOT NULL UNIQUE,
    prefix       TEXT NOT NULL,                      -- the first characters, to recognise a key
    scope        TEXT NOT NULL CHECK (scope IN ('run', 'admin')),
    created_at   TEXT NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%fZ', 'now')),
    last_used_at TEXT,
    revoked_at   TEXT
);
