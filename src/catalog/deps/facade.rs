//! The async facade over the dependency queries: on SQLite each runs on the blocking pool.

use crate::catalog::{Backend, Catalog, CatalogError};
use crate::domain::Runtime;

use super::{
    begin_install, cache, caches, delete_cache, finish_install, forget_unfinished, last_install,
    mark_found_ready, script_row, script_rows, set_script_state, touch, DepCache, InstallEnd,
    InstallLog, NewInstall, ScriptDepsRow, ScriptDepsState,
};

impl Catalog {
    /// Every live script's dependency columns.
    pub async fn script_deps_rows(&self) -> Result<Vec<ScriptDepsRow>, CatalogError> {
        match &self.backend {
            Backend::Sqlite(db) => db.call(|conn| script_rows(conn)).await,
            Backend::Postgres(pg) => pg.script_deps_rows().await,
        }
    }

    pub async fn script_deps_row(&self, id: i64) -> Result<Option<ScriptDepsRow>, CatalogError> {
        match &self.backend {
            Backend::Sqlite(db) => db.call(move |conn| script_row(conn, id)).await,
            Backend::Postgres(pg) => pg.script_deps_row(id).await,
        }
    }

    /// Sets the dependency columns of scripts, by path, in one transaction.
    pub async fn set_script_deps(
        &self,
        states: Vec<(String, ScriptDepsState)>,
    ) -> Result<(), CatalogError> {
        match &self.backend {
            Backend::Sqlite(db) => {
                db.call(move |conn| {
                    let tx =
                        conn.transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)?;
                    for (path, state) in &states {
                        set_script_state(&tx, path, state)?;
                    }
                    tx.commit()?;
                    Ok(())
                })
                .await
            }
            Backend::Postgres(pg) => pg.set_script_deps(states).await,
        }
    }

    pub async fn dep_cache(
        &self,
        runtime: Runtime,
        hash: String,
    ) -> Result<Option<DepCache>, CatalogError> {
        match &self.backend {
            Backend::Sqlite(db) => db.call(move |conn| cache(conn, runtime, &hash)).await,
            Backend::Postgres(pg) => pg.dep_cache(runtime, hash).await,
        }
    }

    pub async fn dep_caches(&self) -> Result<Vec<DepCache>, CatalogError> {
        match &self.backend {
            Backend::Sqlite(db) => db.call(|conn| caches(conn)).await,
            Backend::Postgres(pg) => pg.dep_caches().await,
        }
    }

    pub async fn mark_dep_cache_found(
        &self,
        runtime: Runtime,
        hash: String,
        deps: Vec<String>,
        cache_dir: String,
    ) -> Result<(), CatalogError> {
        match &self.backend {
            Backend::Sqlite(db) => {
                db.call(move |conn| mark_found_ready(conn, runtime, &hash, &deps, &cache_dir))
                    .await
            }
            Backend::Postgres(pg) => {
                pg.mark_dep_cache_found(runtime, hash, deps, cache_dir)
                    .await
            }
        }
    }

    pub async fn begin_dep_install(&self, install: NewInstall) -> Result<i64, CatalogError> {
        match &self.backend {
            Backend::Sqlite(db) => {
                db.call(move |conn| {
                    let tx =
                        conn.transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)?;
                    let id = begin_install(&tx, &install)?;
                    tx.commit()?;
                    Ok(id)
                })
                .await
            }
            Backend::Postgres(pg) => pg.begin_dep_install(install).await,
        }
    }

    pub async fn finish_dep_install(
        &self,
        runtime: Runtime,
        hash: String,
        log_id: i64,
        end: InstallEnd,
        log: String,
        duration_ms: i64,
    ) -> Result<(), CatalogError> {
        match &self.backend {
            Backend::Sqlite(db) => {
                db.call(move |conn| {
                    let tx =
                        conn.transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)?;
                    finish_install(&tx, runtime, &hash, log_id, &end, &log, duration_ms)?;
                    tx.commit()?;
                    Ok(())
                })
                .await
            }
            Backend::Postgres(pg) => {
                pg.finish_dep_install(runtime, hash, log_id, end, log, duration_ms)
                    .await
            }
        }
    }

    /// The latest install attempt of a set, and how many there were.
    pub async fn last_dep_install(
        &self,
        runtime: Runtime,
        hash: String,
    ) -> Result<(Option<InstallLog>, i64), CatalogError> {
        match &self.backend {
            Backend::Sqlite(db) => {
                db.call(move |conn| last_install(conn, runtime, &hash))
                    .await
            }
            Backend::Postgres(pg) => pg.last_dep_install(runtime, hash).await,
        }
    }

    pub async fn touch_dep_cache(
        &self,
        runtime: Runtime,
        hash: String,
    ) -> Result<(), CatalogError> {
        match &self.backend {
            Backend::Sqlite(db) => db.call(move |conn| touch(conn, runtime, &hash)).await,
            Backend::Postgres(pg) => pg.touch_dep_cache(runtime, hash).await,
        }
    }

    pub async fn delete_dep_cache(
        &self,
        runtime: Runtime,
        hash: String,
    ) -> Result<(), CatalogError> {
        match &self.backend {
            Backend::Sqlite(db) => {
                db.call(move |conn| delete_cache(conn, runtime, &hash))
                    .await
            }
            Backend::Postgres(pg) => pg.delete_dep_cache(runtime, hash).await,
        }
    }

    pub async fn forget_unfinished_dep_installs(&self) -> Result<(), CatalogError> {
        match &self.backend {
            Backend::Sqlite(db) => db.call(|conn| forget_unfinished(conn)).await,
            Backend::Postgres(pg) => pg.forget_unfinished_dep_installs().await,
        }
    }
}
