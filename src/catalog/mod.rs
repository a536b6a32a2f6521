//! The SQLite catalog. All SQL lives in this module: sync query functions over a
//! `&Connection`, behind an async facade that runs them on the blocking pool.

#[cfg(test)]
mod access_tests;
#[cfg(test)]
pub mod builders;
#[cfg(test)]
mod clock_tests;
mod deps;
mod keys;
mod manage;
#[cfg(test)]
mod migration_tests;
mod original;
pub mod postgres;
mod retention;
mod runs;
mod scripts;
mod settings;

use std::path::Path;
use std::sync::LazyLock;
use std::time::Duration;

use include_dir::{include_dir, Dir};
use r2d2::Pool;
use r2d2_sqlite::SqliteConnectionManager;
use rusqlite::Connection;
use rusqlite_migration::Migrations;

pub use deps::{
    CacheStatus, DepCache, InstallEnd, InstallLog, NewInstall, ScriptDepsRow, ScriptDepsState,
};
pub use keys::{ApiKeyRecord, KeyMatch};
pub use manage::ScriptPatch;
pub use original::{read_original, OriginalDatabase, OriginalScript};
pub use retention::PrunedRun;
pub use runs::{NewRun, Run, RunEnd, RunFile, RunFilter, RunKind, RunStatus};
pub use scripts::{LoadStatus, Page, Script, ScriptFilter, ScriptIndexEntry, ScriptUpsert};

static MIGRATIONS_DIR: Dir = include_dir!("$CARGO_MANIFEST_DIR/migrations/sqlite");
static MIGRATIONS: LazyLock<Migrations<'static>> = LazyLock::new(|| {
    Migrations::from_directory(&MIGRATIONS_DIR).expect("migrations/sqlite/ is well-formed")
});

#[derive(Debug, thiserror::Error)]
pub enum CatalogError {
    #[error("catalog database error: {0}")]
    Sqlite(#[from] rusqlite::Error),
    #[error("catalog connection pool error: {0}")]
    Pool(#[from] r2d2::Error),
    #[error("catalog migration failed: {0}")]
    Migration(#[from] rusqlite_migration::Error),
    #[error("catalog task failed: {0}")]
    Task(String),
    #[error("catalog database error: {0}")]
    Postgres(#[from] tokio_postgres::Error),
    #[error("catalog connection pool error: {0}")]
    PgPool(#[from] deadpool_postgres::PoolError),
    #[error("stored JSON is unreadable: {0}")]
    Json(#[from] serde_json::Error),
}

/// How long a statement waits for another connection's lock before it fails.
const BUSY_TIMEOUT: Duration = Duration::from_secs(5);

/// A handle to the catalog; cheap to clone.
#[derive(Clone)]
pub struct Catalog {
    pool: Pool<SqliteConnectionManager>,
}

impl Catalog {
    /// Opens (creating if needed) the database file and applies pending migrations.
    pub fn open(path: &Path) -> Result<Catalog, CatalogError> {
        let mut first = Connection::open(path)?;
        first.pragma_update(None, "journal_mode", "WAL")?;
        MIGRATIONS.to_latest(&mut first)?;
        drop(first);
        let manager = SqliteConnectionManager::file(path).with_init(|conn| {
            conn.busy_timeout(BUSY_TIMEOUT)?;
            // Every statement of a run's life is prepared once per connection, not per run.
            conn.set_prepared_statement_cache_capacity(64);
            conn.execute_batch("PRAGMA foreign_keys = ON; PRAGMA synchronous = NORMAL;")
        });
        // A SQLite connection cannot go stale: checking each one out with a query is pure cost.
        let pool = Pool::builder()
            .max_size(8)
            .test_on_check_out(false)
            .build(manager)?;
        Ok(Catalog { pool })
    }

    /// Runs `query` on a pooled connection in the blocking pool.
    async fn call<T, F>(&self, query: F) -> Result<T, CatalogError>
    where
        T: Send + 'static,
        F: FnOnce(&mut Connection) -> Result<T, CatalogError> + Send + 'static,
    {
        let catalog = self.clone();
        tokio::task::spawn_blocking(move || catalog.call_here(query))
            .await
            .map_err(|e| CatalogError::Task(e.to_string()))?
    }

    /// Runs a short read on the calling thread when a connection is free and no lock is in
    /// the way (a WAL reader rarely meets one), else on the blocking pool like [`Self::call`]:
    /// the point reads made on every run request, key check or poll of a run then cost no
    /// trip between threads. Lists and anything that may scan stay on the pool.
    async fn read<T, F>(&self, query: F) -> Result<T, CatalogError>
    where
        T: Send + 'static,
        F: FnOnce(&mut Connection) -> Result<T, CatalogError> + Clone + Send + 'static,
    {
        if let Some(mut conn) = self.pool.try_get() {
            conn.busy_timeout(Duration::ZERO)?;
            let answer = query.clone()(&mut conn);
            conn.busy_timeout(BUSY_TIMEOUT)?;
            match answer {
                Err(CatalogError::Sqlite(error)) if is_busy(&error) => {}
                answer => return answer,
            }
        }
        self.call(query).await
    }

    /// Runs `query` on a pooled connection on the calling thread, which may block.
    fn call_here<T>(
        &self,
        query: impl FnOnce(&mut Connection) -> Result<T, CatalogError>,
    ) -> Result<T, CatalogError> {
        let mut conn = self.pool.get()?;
        query(&mut conn)
    }

    pub async fn list_scripts(&self, filter: ScriptFilter) -> Result<Page<Script>, CatalogError> {
        self.call(move |conn| scripts::list(conn, &filter)).await
    }

    pub async fn script(&self, id: i64) -> Result<Option<Script>, CatalogError> {
        self.read(move |conn| scripts::by_id(conn, id)).await
    }

    /// The live scripts at `address` (a path, with or without its extension).
    pub async fn scripts_at(&self, address: String) -> Result<Vec<Script>, CatalogError> {
        self.call(move |conn| scripts::by_address(conn, &address))
            .await
    }

    pub async fn script_count(&self) -> Result<i64, CatalogError> {
        self.call(|conn| scripts::live_count(conn)).await
    }

    /// Every script row ever seen, deleted ones included, keyed by path.
    pub async fn script_index(&self) -> Result<Vec<ScriptIndexEntry>, CatalogError> {
        self.call(|conn| scripts::index(conn)).await
    }

    /// Applies one scan's changes in a single transaction.
    pub async fn apply_scan(
        &self,
        upserts: Vec<ScriptUpsert>,
        deleted_ids: Vec<i64>,
    ) -> Result<(), CatalogError> {
        self.call(move |conn| {
            let tx = conn.transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)?;
            for upsert in &upserts {
                scripts::upsert(&tx, upsert)?;
            }
            for id in &deleted_ids {
                scripts::mark_deleted(&tx, *id)?;
            }
            tx.commit()?;
            Ok(())
        })
        .await
    }

    /// Records a new run (queued, or starting now) and its folder, which `run_dir` names once
    /// the id is known; returns the id. Runs on the calling thread, which may block.
    pub fn start_run_here(
        &self,
        run: NewRun,
        run_dir: impl FnOnce(i64) -> std::path::PathBuf,
        queued: bool,
    ) -> Result<i64, CatalogError> {
        self.call_here(move |conn| {
            // One commit for the row and its folder: each commit is a WAL write.
            in_write_transaction(conn, |tx| {
                let id = runs::insert(tx, &run, queued)?;
                runs::set_run_dir(tx, id, &run_dir(id).display().to_string())?;
                Ok(id)
            })
        })
    }

    pub async fn mark_run_running(&self, id: i64) -> Result<(), CatalogError> {
        self.call(move |conn| runs::mark_running(conn, id)).await
    }

    pub async fn set_run_pid(&self, id: i64, pid: u32) -> Result<(), CatalogError> {
        self.call(move |conn| runs::set_pid(conn, id, pid)).await
    }

    /// Marks runs a stopped gateway left behind as interrupted; returns their (id, pid).
    pub async fn interrupt_leftover_runs(&self) -> Result<Vec<(i64, Option<u32>)>, CatalogError> {
        self.call(runs::interrupt_leftovers).await
    }

    /// Records how a run ended and returns the complete record.
    pub async fn finish_run(&self, id: i64, end: RunEnd) -> Result<Run, CatalogError> {
        let catalog = self.clone();
        tokio::task::spawn_blocking(move || catalog.finish_run_here(id, end))
            .await
            .map_err(|e| CatalogError::Task(e.to_string()))?
    }

    /// [`Catalog::finish_run`] on the calling thread, for a caller already in the blocking
    /// pool (the end of a run tidies its folder and records it in one trip there).
    pub fn finish_run_here(&self, id: i64, end: RunEnd) -> Result<Run, CatalogError> {
        self.call_here(move |conn| runs::finish(conn, id, &end))
    }

    pub async fn run_event_log(&self, id: i64) -> Result<Option<String>, CatalogError> {
        self.read(move |conn| runs::event_log(conn, id)).await
    }

    /// One run's record: what a client polling an async run asks for, so read inline.
    pub async fn run(&self, id: i64) -> Result<Option<Run>, CatalogError> {
        self.read(move |conn| runs::by_id(conn, id)).await
    }

    pub async fn list_runs(&self, filter: RunFilter) -> Result<Page<Run>, CatalogError> {
        self.call(move |conn| runs::list(conn, &filter)).await
    }

    /// Settings stored over the API.
    pub async fn stored_settings(
        &self,
    ) -> Result<std::collections::BTreeMap<String, serde_json::Value>, CatalogError> {
        self.call(|conn| settings::load(conn)).await
    }

    pub async fn store_settings(
        &self,
        values: Vec<(String, serde_json::Value)>,
    ) -> Result<(), CatalogError> {
        self.call(move |conn| settings::store(conn, &values)).await
    }

    pub async fn remove_settings(&self, keys: Vec<String>) -> Result<(), CatalogError> {
        self.call(move |conn| settings::remove(conn, &keys)).await
    }

    /// Applies an operator's choices to a script; None when it does not exist.
    pub async fn patch_script(
        &self,
        id: i64,
        patch: ScriptPatch,
    ) -> Result<Option<Script>, CatalogError> {
        self.call(move |conn| manage::patch(conn, id, &patch)).await
    }

    /// The live script at a path.
    pub async fn script_by_path(&self, path: String) -> Result<Option<Script>, CatalogError> {
        self.call(move |conn| manage::live_by_path(conn, &path))
            .await
    }

    /// Deletes finished runs that ended at least `age` ago; returns them with their folders.
    pub async fn delete_runs_older_than(
        &self,
        age: Duration,
    ) -> Result<Vec<PrunedRun>, CatalogError> {
        self.call(move |conn| retention::delete_older_than(conn, age.as_secs()))
            .await
    }

    /// Deletes each script's finished runs beyond its `keep` newest; returns them.
    pub async fn delete_runs_beyond_cap(&self, keep: u64) -> Result<Vec<PrunedRun>, CatalogError> {
        self.call(move |conn| retention::delete_beyond_cap(conn, keep))
            .await
    }

    pub async fn create_api_key(
        &self,
        name: String,
        key_hash: String,
        prefix: String,
        scope: String,
    ) -> Result<ApiKeyRecord, CatalogError> {
        self.call(move |conn| keys::insert(conn, &name, &key_hash, &prefix, &scope))
            .await
    }

    pub async fn api_keys(&self) -> Result<Vec<ApiKeyRecord>, CatalogError> {
        self.call(|conn| keys::list(conn)).await
    }

    pub async fn revoke_api_key(&self, id: i64) -> Result<Option<ApiKeyRecord>, CatalogError> {
        self.call(move |conn| keys::revoke(conn, id)).await
    }

    pub async fn find_api_key(&self, key_hash: String) -> Result<Option<KeyMatch>, CatalogError> {
        self.read(move |conn| keys::find(conn, &key_hash)).await
    }

    pub async fn touch_api_key(&self, id: i64) -> Result<(), CatalogError> {
        self.call(move |conn| keys::touch(conn, id)).await
    }

    pub async fn active_api_key_count(&self) -> Result<i64, CatalogError> {
        self.call(|conn| keys::active_count(conn)).await
    }
}

/// Whether SQLite refused for a lock held elsewhere (the statement may succeed later).
fn is_busy(error: &rusqlite::Error) -> bool {
    matches!(
        error.sqlite_error_code(),
        Some(rusqlite::ErrorCode::DatabaseBusy | rusqlite::ErrorCode::DatabaseLocked)
    )
}

/// Runs `body` in a write transaction (`BEGIN IMMEDIATE`), committed if it succeeds and
/// rolled back if not. Unlike rusqlite's `Transaction`, which parses `BEGIN` and `COMMIT`
/// anew each time, both come from the statement cache: a run commits twice.
fn in_write_transaction<T>(
    conn: &Connection,
    body: impl FnOnce(&Connection) -> Result<T, CatalogError>,
) -> Result<T, CatalogError> {
    conn.prepare_cached("BEGIN IMMEDIATE")?.execute([])?;
    let done = body(conn).and_then(|value| {
        conn.prepare_cached("COMMIT")?.execute([])?;
        Ok(value)
    });
    if done.is_err() && !conn.is_autocommit() {
        let _ = conn.execute_batch("ROLLBACK");
    }
    done
}
