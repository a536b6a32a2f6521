//! Dependency caches, install logs and the `deps_*` columns of scripts.

use rusqlite::{params, Connection, OptionalExtension, Row};

use crate::domain::Runtime;

#[cfg(test)]
use super::Catalog;
use super::CatalogError;

mod facade;

const NOW: &str = "strftime('%Y-%m-%dT%H:%M:%fZ', 'now')";

/// A script's dependency columns.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ScriptDepsState {
    /// The dependency file, relative to scripts_repo.
    pub file: Option<String>,
    pub hash: Option<String>,
    /// `installing`, `ready` or `failed`; `None` for a script without dependencies.
    pub status: Option<String>,
    pub error: Option<String>,
}

/// A live script and its dependency columns.
#[derive(Debug, Clone)]
pub struct ScriptDepsRow {
    pub id: i64,
    pub path: String,
    pub runtime: Runtime,
    pub state: ScriptDepsState,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CacheStatus {
    Installing,
    Ready,
    Failed,
}

impl CacheStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            CacheStatus::Installing => "installing",
            CacheStatus::Ready => "ready",
            CacheStatus::Failed => "failed",
        }
    }

    fn parse(text: &str) -> CacheStatus {
        match text {
            "ready" => CacheStatus::Ready,
            "failed" => CacheStatus::Failed,
            _ => CacheStatus::Installing,
        }
    }
}

/// One dependency set the gateway installed (or tried to).
#[derive(Debug, Clone)]
pub struct DepCache {
    pub runtime: Runtime,
    pub hash: String,
    pub status: CacheStatus,
    pub deps: Vec<String>,
    pub cache_dir: String,
    pub size_bytes: Option<i64>,
    pub error: Option<String>,
    pub created_at: String,
    pub installed_at: Option<String>,
    pub last_used_at: Option<String>,
    /// Days since it was last used (or installed, or first recorded).
    pub idle_days: f64,
}

/// An install about to start.
#[derive(Debug, Clone)]
pub struct NewInstall {
    pub runtime: Runtime,
    pub hash: String,
    pub deps: Vec<String>,
    pub cache_dir: String,
    /// `scan`, `run`, `api` or `shared`.
    pub trigger: &'static str,
    pub command: String,
}

/// How an install ended.
#[derive(Debug, Clone)]
pub enum InstallEnd {
    Ready {
        size_bytes: i64,
    },
    /// `cache_still_ready`: an earlier install of the same set is intact and stays in use.
    Failed {
        error: String,
        cache_still_ready: bool,
    },
}

/// One install attempt and its full output.
#[derive(Debug, Clone)]
pub struct InstallLog {
    pub id: i64,
    pub trigger: String,
    pub status: String,
    pub command: Option<String>,
    pub log: Option<String>,
    pub started_at: String,
    pub finished_at: Option<String>,
    pub duration_ms: Option<i64>,
}

fn deps_row(row: &Row<'_>) -> rusqlite::Result<ScriptDepsRow> {
    let runtime: String = row.get("runtime")?;
    Ok(ScriptDepsRow {
        id: row.get("id")?,
        path: row.get("path")?,
        runtime: Runtime::parse(&runtime).unwrap_or(Runtime::Python),
        state: ScriptDepsState {
            file: row.get("deps_file")?,
            hash: row.get("deps_hash")?,
            status: row.get("deps_status")?,
            error: row.get("deps_error")?,
        },
    })
}

const DEPS_ROW: &str =
    "SELECT id, path, runtime, deps_file, deps_hash, deps_status, deps_error FROM scripts";

pub fn script_rows(conn: &Connection) -> Result<Vec<ScriptDepsRow>, CatalogError> {
    let sql = format!("{DEPS_ROW} WHERE deleted_at IS NULL ORDER BY path");
    let mut statement = conn.prepare(&sql)?;
    let rows = statement.query_map([], deps_row)?;
    Ok(rows.collect::<Result<Vec<_>, _>>()?)
}

pub fn script_row(conn: &Connection, id: i64) -> Result<Option<ScriptDepsRow>, CatalogError> {
    let sql = format!("{DEPS_ROW} WHERE id = ?1 AND deleted_at IS NULL");
    Ok(conn.query_row(&sql, [id], deps_row).optional()?)
}

pub fn set_script_state(
    conn: &Connection,
    path: &str,
    state: &ScriptDepsState,
) -> Result<(), CatalogError> {
    conn.execute(
        "UPDATE scripts SET deps_file = ?2, deps_hash = ?3, deps_status = ?4, deps_error = ?5
         WHERE path = ?1",
        params![path, state.file, state.hash, state.status, state.error],
    )?;
    Ok(())
}

/// Copies the cache's status (and error) to every live script using it.
fn sync_scripts(conn: &Connection, runtime: Runtime, hash: &str) -> Result<(), CatalogError> {
    conn.execute(
        "UPDATE scripts SET
             deps_status = (SELECT status FROM dep_caches WHERE runtime = ?1 AND hash = ?2),
             deps_error = (SELECT error FROM dep_caches WHERE runtime = ?1 AND hash = ?2)
         WHERE runtime = ?1 AND deps_hash = ?2 AND deleted_at IS NULL",
        params![runtime.as_str(), hash],
    )?;
    Ok(())
}

fn cache_from_row(row: &Row<'_>) -> rusqlite::Result<DepCache> {
    let runtime: String = row.get("runtime")?;
    let status: String = row.get("status")?;
    let deps: String = row.get("deps")?;
    Ok(DepCache {
        runtime: Runtime::parse(&runtime).unwrap_or(Runtime::Python),
        hash: row.get("hash")?,
        status: CacheStatus::parse(&status),
        deps: serde_json::from_str(&deps).unwrap_or_default(),
        cache_dir: row.get("cache_dir")?,
        size_bytes: row.get("size_bytes")?,
        error: row.get("error")?,
        created_at: row.get("created_at")?,
        installed_at: row.get("installed_at")?,
        last_used_at: row.get("last_used_at")?,
        idle_days: row.get("idle_days")?,
    })
}

const CACHE_ROW: &str = "SELECT runtime, hash, status, deps, cache_dir, size_bytes, error,
    created_at, installed_at, last_used_at,
    julianday('now') - julianday(COALESCE(last_used_at, installed_at, created_at)) AS idle_days
    FROM dep_caches";

pub fn cache(
    conn: &Connection,
    runtime: Runtime,
    hash: &str,
) -> Result<Option<DepCache>, CatalogError> {
    let sql = format!("{CACHE_ROW} WHERE runtime = ?1 AND hash = ?2");
    Ok(conn
        .query_row(&sql, params![runtime.as_str(), hash], cache_from_row)
        .optional()?)
}

pub fn caches(conn: &Connection) -> Result<Vec<DepCache>, CatalogError> {
    let sql = format!("{CACHE_ROW} ORDER BY runtime, hash");
    let mut statement = conn.prepare(&sql)?;
    let rows = statement.query_map([], cache_from_row)?;
    Ok(rows.collect::<Result<Vec<_>, _>>()?)
}

/// Records a cache found complete on disk as ready (without touching its install history).
pub fn mark_found_ready(
    conn: &Connection,
    runtime: Runtime,
    hash: &str,
    deps: &[String],
    cache_dir: &str,
) -> Result<(), CatalogError> {
    conn.execute(
        &format!(
            "INSERT INTO dep_caches (runtime, hash, status, deps, cache_dir, installed_at)
             VALUES (?1, ?2, 'ready', ?3, ?4, {NOW})
             ON CONFLICT (runtime, hash) DO UPDATE SET status = 'ready', error = NULL
             WHERE status <> 'ready'"
        ),
        params![
            runtime.as_str(),
            hash,
            serde_json::to_string(deps)?,
            cache_dir
        ],
    )?;
    sync_scripts(conn, runtime, hash)
}

/// Records the start of an install; a ready cache stays ready while it is rebuilt.
pub fn begin_install(conn: &Connection, install: &NewInstall) -> Result<i64, CatalogError> {
    let runtime = install.runtime.as_str();
    conn.execute(
        "INSERT INTO dep_caches (runtime, hash, status, deps, cache_dir)
         VALUES (?1, ?2, 'installing', ?3, ?4)
         ON CONFLICT (runtime, hash) DO UPDATE SET
             status = CASE status WHEN 'ready' THEN 'ready' ELSE 'installing' END,
             error = CASE status WHEN 'ready' THEN error ELSE NULL END,
             deps = excluded.deps, cache_dir = excluded.cache_dir",
        params![
            runtime,
            install.hash,
            serde_json::to_string(&install.deps)?,
            install.cache_dir
        ],
    )?;
    conn.execute(
        "INSERT INTO install_logs (runtime, hash, trigger, status, command)
         VALUES (?1, ?2, ?3, 'running', ?4)",
        params![runtime, install.hash, install.trigger, install.command],
    )?;
    let id = conn.last_insert_rowid();
    sync_scripts(conn, install.runtime, &install.hash)?;
    Ok(id)
}

/// Records how an install ended, on the cache, its log and every script using it.
pub fn finish_install(
    conn: &Connection,
    runtime: Runtime,
    hash: &str,
    log_id: i64,
    end: &InstallEnd,
    log: &str,
    duration_ms: i64,
) -> Result<(), CatalogError> {
    let log_status = match end {
        InstallEnd::Ready { .. } => "success",
        InstallEnd::Failed { .. } => "failed",
    };
    conn.execute(
        &format!(
            "UPDATE install_logs SET status = ?2, log = ?3, duration_ms = ?4, finished_at = {NOW}
             WHERE id = ?1"
        ),
        params![log_id, log_status, log, duration_ms],
    )?;
    let runtime_text = runtime.as_str();
    match end {
        InstallEnd::Ready { size_bytes } => conn.execute(
            &format!(
                "UPDATE dep_caches SET status = 'ready', error = NULL, size_bytes = ?3,
                     installed_at = {NOW} WHERE runtime = ?1 AND hash = ?2"
            ),
            params![runtime_text, hash, size_bytes],
        )?,
        InstallEnd::Failed {
            cache_still_ready: true,
            ..
        } => 0,
        InstallEnd::Failed { error, .. } => conn.execute(
            "UPDATE dep_caches SET status = 'failed', error = ?3 WHERE runtime = ?1 AND hash = ?2",
            params![runtime_text, hash, error],
        )?,
    };
    sync_scripts(conn, runtime, hash)
}

pub fn last_install(
    conn: &Connection,
    runtime: Runtime,
    hash: &str,
) -> Result<(Option<InstallLog>, i64), CatalogError> {
    let attempts: i64 = conn.query_row(
        "SELECT COUNT(*) FROM install_logs WHERE runtime = ?1 AND hash = ?2",
        params![runtime.as_str(), hash],
        |r| r.get(0),
    )?;
    let last = conn
        .query_row(
            "SELECT id, trigger, status, command, log, started_at, finished_at, duration_ms
             FROM install_logs WHERE runtime = ?1 AND hash = ?2 ORDER BY id DESC LIMIT 1",
            params![runtime.as_str(), hash],
            |row| {
                Ok(InstallLog {
                    id: row.get(0)?,
                    trigger: row.get(1)?,
                    status: row.get(2)?,
                    command: row.get(3)?,
                    log: row.get(4)?,
                    started_at: row.get(5)?,
                    finished_at: row.get(6)?,
                    duration_ms: row.get(7)?,
                })
            },
        )
        .optional()?;
    Ok((last, attempts))
}

pub fn touch(conn: &Connection, runtime: Runtime, hash: &str) -> Result<(), CatalogError> {
    conn.execute(
        &format!("UPDATE dep_caches SET last_used_at = {NOW} WHERE runtime = ?1 AND hash = ?2"),
        params![runtime.as_str(), hash],
    )?;
    Ok(())
}

pub fn delete_cache(conn: &Connection, runtime: Runtime, hash: &str) -> Result<(), CatalogError> {
    conn.execute(
        "DELETE FROM dep_caches WHERE runtime = ?1 AND hash = ?2",
        params![runtime.as_str(), hash],
    )?;
    Ok(())
}

/// Forgets installs a stopped gateway left unfinished, so they start again when needed.
pub fn forget_unfinished(conn: &Connection) -> Result<(), CatalogError> {
    conn.execute("DELETE FROM dep_caches WHERE status = 'installing'", [])?;
    conn.execute(
        &format!(
            "UPDATE install_logs SET status = 'failed', finished_at = {NOW},
                 log = COALESCE(log, '') || 'interrupted: the gateway stopped during the install'
             WHERE status = 'running'"
        ),
        [],
    )?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::catalog::builders::script_upsert;
    use crate::catalog::scripts::{upsert, ScriptUpsert};

    fn open() -> (
        tempfile::TempDir,
        r2d2::PooledConnection<r2d2_sqlite::SqliteConnectionManager>,
    ) {
        let dir = tempfile::tempdir().unwrap();
        let catalog = Catalog::open(&dir.path().join("gateway.db")).unwrap();
        let conn = catalog.pool().get().unwrap();
        (dir, conn)
    }

    fn add_script(conn: &Connection, path: &str, hash: Option<&str>) {
        upsert(
            conn,
            &ScriptUpsert {
                load: None,
                ..script_upsert(path)
            },
        )
        .unwrap();
        let state = ScriptDepsState {
            file: Some("python/requirements.txt".into()),
            hash: hash.map(str::to_string),
            status: Some("installing".into()),
            error: None,
        };
        set_script_state(conn, path, &state).unwrap();
    }

    fn install(hash: &str) -> NewInstall {
        NewInstall {
            runtime: Runtime::Python,
            hash: hash.into(),
            deps: vec!["six".into()],
            cache_dir: format!("/c/{hash}"),
            trigger: "scan",
            command: "pip install six".into(),
        }
    }

    fn status_of(conn: &Connection, path: &str) -> (Option<String>, Option<String>) {
        let row = script_rows(conn)
            .unwrap()
            .into_iter()
            .find(|r| r.path == path)
            .unwrap();
        (row.state.status, row.state.error)
    }

    #[test]
    fn an_install_updates_the_cache_its_log_and_every_script_using_it() {
        let (_dir, conn) = open();
        add_script(&conn, "python/a.py", Some("h1"));
        add_script(&conn, "python/b.py", Some("h1"));
        add_script(&conn, "python/c.py", Some("h2"));
        let log_id = begin_install(&conn, &install("h1")).unwrap();
        finish_install(
            &conn,
            Runtime::Python,
            "h1",
            log_id,
            &InstallEnd::Ready { size_bytes: 10 },
            "ok",
            5,
        )
        .unwrap();
        assert_eq!(status_of(&conn, "python/a.py").0.as_deref(), Some("ready"));
        assert_eq!(status_of(&conn, "python/b.py").0.as_deref(), Some("ready"));
        assert_eq!(
            status_of(&conn, "python/c.py").0.as_deref(),
            Some("installing")
        );
        let cached = cache(&conn, Runtime::Python, "h1").unwrap().unwrap();
        assert_eq!(
            (cached.status, cached.size_bytes),
            (CacheStatus::Ready, Some(10))
        );
        assert!(cached.idle_days < 1.0);

        let log_id = begin_install(&conn, &install("h2")).unwrap();
        let failed = InstallEnd::Failed {
            error: "no six".into(),
            cache_still_ready: false,
        };
        finish_install(&conn, Runtime::Python, "h2", log_id, &failed, "ERROR", 5).unwrap();
        assert_eq!(
            status_of(&conn, "python/c.py"),
            (Some("failed".into()), Some("no six".into()))
        );
        let (last, attempts) = last_install(&conn, Runtime::Python, "h2").unwrap();
        assert_eq!((last.unwrap().status, attempts), ("failed".to_string(), 1));
    }

    #[test]
    fn a_failed_rebuild_of_a_ready_cache_keeps_it_ready() {
        let (_dir, conn) = open();
        add_script(&conn, "python/a.py", Some("h1"));
        mark_found_ready(&conn, Runtime::Python, "h1", &["six".into()], "/c/h1").unwrap();
        let log_id = begin_install(&conn, &install("h1")).unwrap();
        assert_eq!(
            status_of(&conn, "python/a.py").0.as_deref(),
            Some("ready"),
            "ready while rebuilt"
        );
        let failed = InstallEnd::Failed {
            error: "offline".into(),
            cache_still_ready: true,
        };
        finish_install(&conn, Runtime::Python, "h1", log_id, &failed, "", 1).unwrap();
        assert_eq!(
            status_of(&conn, "python/a.py"),
            (Some("ready".into()), None)
        );
    }

    #[test]
    fn unfinished_installs_are_forgotten() {
        let (_dir, conn) = open();
        begin_install(&conn, &install("h1")).unwrap();
        forget_unfinished(&conn).unwrap();
        assert!(cache(&conn, Runtime::Python, "h1").unwrap().is_none());
        let (last, _) = last_install(&conn, Runtime::Python, "h1").unwrap();
        assert_eq!(last.unwrap().status, "failed");
    }
}
