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
    #[error("{0}")]
    Refused(String),
    #[error("catalog task failed: {0}")]
    Task(String),
    #[error("catalog database error: {0}")]
    Postgres(#[from] tokio_postgres::Error),
    #[error("the PostgreSQL catalog is unavailable: {0}")]
    PgUnavailable(String),
    #[error("stored JSON is unreadable: {0}")]
    Json(#[from] serde_json::Error),
}

/// How long a statement waits for another connection's lock before it fails.
const BUSY_TIMEOUT: Duration = Duration::from_secs(5);

/// A handle to the catalog; cheap to clone. SQLite on one machine (the default), or
/// PostgreSQL when several nodes share one catalog.
#[derive(Clone)]
pub struct Catalog {
    backend: Backend,
}

#[derive(Clone)]
enum Backend {
    Sqlite(Sqlite),
    Postgres(postgres::PgCatalog),
}

/// The embedded SQLite database: an r2d2 pool of connections to one file.
#[derive(Clone)]
struct Sqlite {
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
        Ok(Catalog {
            backend: Backend::Sqlite(Sqlite { pool }),
        })
    }

    /// Connects to the PostgreSQL catalog at `url` as the node named `node`, applying pending
    /// migrations.
    pub async fn connect_postgres(url: &str, node: &str) -> Result<Catalog, CatalogError> {
        Ok(Catalog {
            backend: Backend::Postgres(postgres::PgCatalog::connect(url, node).await?),
        })
    }

    /// For a serving node on PostgreSQL, the lock that keeps it the only one (see
    /// [`postgres::SoleNode`]); nothing to hold on SQLite, whose file is this machine's.
    pub async fn hold_sole_node(&self) -> Result<Option<postgres::SoleNode>, CatalogError> {
        match &self.backend {
            Backend::Sqlite(_) => Ok(None),
            Backend::Postgres(pg) => Ok(Some(pg.hold_sole_node().await?)),
        }
    }

    /// The SQLite pool, for tests that look at the file underneath.
    #[cfg(test)]
    fn pool(&self) -> &Pool<SqliteConnectionManager> {
        match &self.backend {
            Backend::Sqlite(db) => &db.pool,
            Backend::Postgres(_) => panic!("this test needs the SQLite catalog"),
        }
    }
}

impl Sqlite {
    /// Runs `query` on a pooled connection in the blocking pool.
    async fn call<T, F>(&self, query: F) -> Result<T, CatalogError>
    where
        T: Send + 'static,
        F: FnOnce(&mut Connection) -> Result<T, CatalogError> + Send + 'static,
    {
        let db = self.clone();
        tokio::task::spawn_blocking(move || db.call_here(query))
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
}

/// The catalog's answers, each from whichever backend holds it.
impl Catalog {
    pub async fn list_scripts(&self, filter: ScriptFilter) -> Result<Page<Script>, CatalogError> {
        match &self.backend {
            Backend::Sqlite(db) => db.call(move |conn| scripts::list(conn, &filter)).await,
            Backend::Postgres(pg) => pg.list_scripts(filter).await,
        }
    }

    pub async fn script(&self, id: i64) -> Result<Option<Script>, CatalogError> {
        match &self.backend {
            Backend::Sqlite(db) => db.read(move |conn| scripts::by_id(conn, id)).await,
            Backend::Postgres(pg) => pg.script(id).await,
        }
    }

    /// The live scripts at `address` (a path, with or without its extension).
    pub async fn scripts_at(&self, address: String) -> Result<Vec<Script>, CatalogError> {
        match &self.backend {
            Backend::Sqlite(db) => {
                db.call(move |conn| scripts::by_address(conn, &address))
                    .await
            }
            Backend::Postgres(pg) => pg.scripts_at(address).await,
        }
    }

    pub async fn script_count(&self) -> Result<i64, CatalogError> {
        match &self.backend {
            Backend::Sqlite(db) => db.call(|conn| scripts::live_count(conn)).await,
            Backend::Postgres(pg) => pg.script_count().await,
        }
    }

    /// Every script row ever seen, deleted ones included, keyed by path.
    pub async fn script_index(&self) -> Result<Vec<ScriptIndexEntry>, CatalogError> {
        match &self.backend {
            Backend::Sqlite(db) => db.call(|conn| scripts::index(conn)).await,
            Backend::Postgres(pg) => pg.script_index().await,
        }
    }

    /// Applies one scan's changes in a single transaction.
    pub async fn apply_scan(
        &self,
        upserts: Vec<ScriptUpsert>,
        deleted_ids: Vec<i64>,
    ) -> Result<(), CatalogError> {
        match &self.backend {
            Backend::Sqlite(db) => {
                db.call(move |conn| {
                    let tx =
                        conn.transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)?;
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
            Backend::Postgres(pg) => pg.apply_scan(upserts, deleted_ids).await,
        }
    }

    /// Records a new run (queued, or starting now) and its folder, which `run_dir` names once
    /// the id is known; returns the id. Runs on the calling thread, which may block: a
    /// blocking-pool thread of the runtime (PostgreSQL's driver needs that runtime).
    pub fn start_run_here(
        &self,
        run: NewRun,
        run_dir: impl FnOnce(i64) -> std::path::PathBuf,
        queued: bool,
    ) -> Result<i64, CatalogError> {
        match &self.backend {
            Backend::Sqlite(db) => db.call_here(move |conn| {
                // One commit for the row and its folder: each commit is a WAL write.
                in_write_transaction(conn, |tx| {
                    let id = runs::insert(tx, &run, queued)?;
                    runs::set_run_dir(tx, id, &run_dir(id).display().to_string())?;
                    Ok(id)
                })
            }),
            Backend::Postgres(pg) => {
                tokio::runtime::Handle::current().block_on(pg.start_run(run, run_dir, queued))
            }
        }
    }

    pub async fn mark_run_running(&self, id: i64) -> Result<(), CatalogError> {
        match &self.backend {
            Backend::Sqlite(db) => db.call(move |conn| runs::mark_running(conn, id)).await,
            Backend::Postgres(pg) => pg.mark_run_running(id).await,
        }
    }

    pub async fn set_run_pid(&self, id: i64, pid: u32) -> Result<(), CatalogError> {
        match &self.backend {
            Backend::Sqlite(db) => db.call(move |conn| runs::set_pid(conn, id, pid)).await,
            Backend::Postgres(pg) => pg.set_run_pid(id, pid).await,
        }
    }

    /// Marks runs a stopped gateway left behind as interrupted; returns their (id, pid).
    pub async fn interrupt_leftover_runs(&self) -> Result<Vec<(i64, Option<u32>)>, CatalogError> {
        match &self.backend {
            Backend::Sqlite(db) => db.call(runs::interrupt_leftovers).await,
            Backend::Postgres(pg) => pg.interrupt_leftover_runs().await,
        }
    }

    /// Records how a run ended and returns the complete record.
    pub async fn finish_run(&self, id: i64, end: RunEnd) -> Result<Run, CatalogError> {
        match &self.backend {
            Backend::Sqlite(_) => {
                let catalog = self.clone();
                tokio::task::spawn_blocking(move || catalog.finish_run_here(id, end))
                    .await
                    .map_err(|e| CatalogError::Task(e.to_string()))?
            }
            Backend::Postgres(pg) => pg.finish_run(id, end).await,
        }
    }

    /// [`Catalog::finish_run`] on the calling thread, for a caller already in the blocking
    /// pool (the end of a run tidies its folder and records it in one trip there).
    pub fn finish_run_here(&self, id: i64, end: RunEnd) -> Result<Run, CatalogError> {
        match &self.backend {
            Backend::Sqlite(db) => db.call_here(move |conn| runs::finish(conn, id, &end)),
            Backend::Postgres(pg) => {
                tokio::runtime::Handle::current().block_on(pg.finish_run(id, end))
            }
        }
    }

    pub async fn run_event_log(&self, id: i64) -> Result<Option<String>, CatalogError> {
        match &self.backend {
            Backend::Sqlite(db) => db.read(move |conn| runs::event_log(conn, id)).await,
            Backend::Postgres(pg) => pg.run_event_log(id).await,
        }
    }

    /// One run's record: what a client polling an async run asks for, so read inline.
    pub async fn run(&self, id: i64) -> Result<Option<Run>, CatalogError> {
        match &self.backend {
            Backend::Sqlite(db) => db.read(move |conn| runs::by_id(conn, id)).await,
            Backend::Postgres(pg) => pg.run(id).await,
        }
    }

    pub async fn list_runs(&self, filter: RunFilter) -> Result<Page<Run>, CatalogError> {
        match &self.backend {
            Backend::Sqlite(db) => db.call(move |conn| runs::list(conn, &filter)).await,
            Backend::Postgres(pg) => pg.list_runs(filter).await,
        }
    }

    /// Settings stored over the API.
    pub async fn stored_settings(
        &self,
    ) -> Result<std::collections::BTreeMap<String, serde_json::Value>, CatalogError> {
        match &self.backend {
            Backend::Sqlite(db) => db.call(|conn| settings::load(conn)).await,
            Backend::Postgres(pg) => pg.stored_settings().await,
        }
    }

    pub async fn store_settings(
        &self,
        values: Vec<(String, serde_json::Value)>,
    ) -> Result<(), CatalogError> {
        match &self.backend {
            Backend::Sqlite(db) => db.call(move |conn| settings::store(conn, &values)).await,
            Backend::Postgres(pg) => pg.store_settings(values).await,
        }
    }

    pub async fn remove_settings(&self, keys: Vec<String>) -> Result<(), CatalogError> {
        match &self.backend {
            Backend::Sqlite(db) => db.call(move |conn| settings::remove(conn, &keys)).await,
            Backend::Postgres(pg) => pg.remove_settings(keys).await,
        }
    }

    /// Applies an operator's choices to a script; None when it does not exist.
    pub async fn patch_script(
        &self,
        id: i64,
        patch: ScriptPatch,
    ) -> Result<Option<Script>, CatalogError> {
        match &self.backend {
            Backend::Sqlite(db) => db.call(move |conn| manage::patch(conn, id, &patch)).await,
            Backend::Postgres(pg) => pg.patch_script(id, patch).await,
        }
    }

    /// The live script at a path.
    pub async fn script_by_path(&self, path: String) -> Result<Option<Script>, CatalogError> {
        match &self.backend {
            Backend::Sqlite(db) => db.call(move |conn| manage::live_by_path(conn, &path)).await,
            Backend::Postgres(pg) => pg.script_by_path(path).await,
        }
    }

    /// Deletes finished runs that ended at least `age` ago; returns them with their folders.
    pub async fn delete_runs_older_than(
        &self,
        age: Duration,
    ) -> Result<Vec<PrunedRun>, CatalogError> {
        match &self.backend {
            Backend::Sqlite(db) => {
                db.call(move |conn| retention::delete_older_than(conn, age.as_secs()))
                    .await
            }
            Backend::Postgres(pg) => pg.delete_runs_older_than(age).await,
        }
    }

    /// Deletes each script's finished runs beyond its `keep` newest; returns them.
    pub async fn delete_runs_beyond_cap(&self, keep: u64) -> Result<Vec<PrunedRun>, CatalogError> {
        match &self.backend {
            Backend::Sqlite(db) => {
                db.call(move |conn| retention::delete_beyond_cap(conn, keep))
                    .await
            }
            Backend::Postgres(pg) => pg.delete_runs_beyond_cap(keep).await,
        }
    }

    pub async fn create_api_key(
        &self,
        name: String,
        key_hash: String,
        prefix: String,
        scope: String,
    ) -> Result<ApiKeyRecord, CatalogError> {
        match &self.backend {
            Backend::Sqlite(db) => {
                db.call(move |conn| keys::insert(conn, &name, &key_hash, &prefix, &scope))
                    .await
            }
            Backend::Postgres(pg) => pg.create_api_key(name, key_hash, prefix, scope).await,
        }
    }

    pub async fn api_keys(&self) -> Result<Vec<ApiKeyRecord>, CatalogError> {
        match &self.backend {
            Backend::Sqlite(db) => db.call(|conn| keys::list(conn)).await,
            Backend::Postgres(pg) => pg.api_keys().await,
        }
    }

    pub async fn revoke_api_key(&self, id: i64) -> Result<Option<ApiKeyRecord>, CatalogError> {
        match &self.backend {
            Backend::Sqlite(db) => db.call(move |conn| keys::revoke(conn, id)).await,
            Backend::Postgres(pg) => pg.revoke_api_key(id).await,
        }
    }

    pub async fn find_api_key(&self, key_hash: String) -> Result<Option<KeyMatch>, CatalogError> {
        match &self.backend {
            Backend::Sqlite(db) => db.read(move |conn| keys::find(conn, &key_hash)).await,
            Backend::Postgres(pg) => pg.find_api_key(key_hash).await,
        }
    }

    pub async fn touch_api_key(&self, id: i64) -> Result<(), CatalogError> {
        match &self.backend {
            Backend::Sqlite(db) => db.call(move |conn| keys::touch(conn, id)).await,
            Backend::Postgres(pg) => pg.touch_api_key(id).await,
        }
    }

    pub async fn active_api_key_count(&self) -> Result<i64, CatalogError> {
        match &self.backend {
            Backend::Sqlite(db) => db.call(|conn| keys::active_count(conn)).await,
            Backend::Postgres(pg) => pg.active_api_key_count().await,
        }
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
