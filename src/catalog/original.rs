//! What the original gateway kept in its own SQLite database (its `gateway.db`), read once
//! and read only, for `script-gateway import-original`.

use std::path::Path;

use rusqlite::{Connection, OpenFlags};

use super::CatalogError;

/// A script as the original recorded it: its file under `scripts_repo/<python|js>/`.
#[derive(Debug, Clone, PartialEq)]
pub struct OriginalScript {
    /// Relative to the runtime folder, e.g. `hello.py` or `grp/main.py`.
    pub filename: String,
    /// `python` or `js`.
    pub runtime: String,
    pub alias: Option<String>,
    pub notify_enabled: bool,
}

#[derive(Debug, Clone, Default, PartialEq)]
pub struct OriginalDatabase {
    pub scripts: Vec<OriginalScript>,
    /// Every row of its `settings` table, as text.
    pub settings: Vec<(String, String)>,
}

/// Reads the original's scripts and settings; a database without its tables is refused.
pub fn read_original(path: &Path) -> Result<OriginalDatabase, CatalogError> {
    let conn = Connection::open_with_flags(
        path,
        OpenFlags::SQLITE_OPEN_READ_ONLY | OpenFlags::SQLITE_OPEN_NO_MUTEX,
    )?;
    let mut scripts = conn.prepare(
        "SELECT filename, script_type, alias_name, notify_enabled FROM scripts ORDER BY id",
    )?;
    let scripts = scripts
        .query_map([], |row| {
            Ok(OriginalScript {
                filename: row.get(0)?,
                runtime: row.get(1)?,
                alias: row
                    .get::<_, Option<String>>(2)?
                    .map(|a| a.trim().to_string())
                    .filter(|a| !a.is_empty()),
                notify_enabled: row.get::<_, Option<i64>>(3)?.unwrap_or(0) != 0,
            })
        })?
        .collect::<Result<Vec<_>, _>>()?;
    let mut settings = conn.prepare("SELECT key, value FROM settings ORDER BY key")?;
    let settings = settings
        .query_map([], |row| Ok((row.get(0)?, row.get(1)?)))?
        .collect::<Result<Vec<_>, _>>()?;
    Ok(OriginalDatabase { scripts, settings })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_scripts_and_settings_and_refuses_another_database() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("gateway.db");
        let conn = Connection::open(&path).unwrap();
        conn.execute_batch(
            "CREATE TABLE scripts (id INTEGER PRIMARY KEY, filename TEXT, alias_name TEXT,
                 script_type TEXT, notify_enabled INTEGER);
             CREATE TABLE settings (key TEXT PRIMARY KEY, value TEXT NOT NULL);
             INSERT INTO scripts VALUES (1, 'hello.py', ' Greeter ', 'python', 1),
                                        (2, 'tool.js', '', 'js', 0);
             INSERT INTO settings VALUES ('timeout_min', '5');",
        )
        .unwrap();
        let read = read_original(&path).unwrap();
        assert_eq!(
            read.scripts,
            [
                OriginalScript {
                    filename: "hello.py".into(),
                    runtime: "python".into(),
                    alias: Some("Greeter".into()),
                    notify_enabled: true
                },
                OriginalScript {
                    filename: "tool.js".into(),
                    runtime: "js".into(),
                    alias: None,
                    notify_enabled: false
                }
            ]
        );
        assert_eq!(read.settings, [("timeout_min".into(), "5".into())]);
        let other = dir.path().join("other.db");
        Connection::open(&other)
            .unwrap()
            .execute_batch("CREATE TABLE t (x)")
            .unwrap();
        assert!(read_original(&other).is_err());
        assert!(read_original(&dir.path().join("missing.db")).is_err());
    }
}
