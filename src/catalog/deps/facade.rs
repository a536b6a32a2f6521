//! The async facade over the dependency queries: each runs on the blocking pool.

use crate::catalog::{Catalog, CatalogError};
use crate::domain::Runtime;

use super::{
    begin_install, cache, caches, delete_cache, finish_install, forget_unfinished, last_install,
    mark_found_ready, script_row, script_rows, set_script_state, touch, DepCache, InstallEnd,
    InstallLog, NewInstall, ScriptDepsRow, ScriptDepsState,
};

impl Catalog {
    /// Every live script's dependency columns.
    pub async fn script_deps_rows(&self) -> Result<Vec<ScriptDepsRow>, CatalogError> {
        self.call(|conn| script_rows(conn)).await
    }

    pub async fn script_deps_row(&self, id: i64) -> Result<Option<ScriptDepsRow>, CatalogError> {
        self.call(move |conn| script_row(conn, id)).await
    }

    /// Sets the dependency columns of scripts, by path, in one transaction.
    pub async fn set_script_deps(
        &self,
        states: Vec<(String, ScriptDepsState)>,
    ) -> Result<(), CatalogError> {
        self.call(move |conn| {
            let tx = conn.transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)?;
            for (path, state) in &states {
                set_script_state(&tx, path, state)?;
            }
            tx.commit()?;
            Ok(())
        })
        .await
    }

    pub async fn dep_cache(
        &self,
        runtime: Runtime,
        hash: String,
    ) -> Result<Option<DepCache>, CatalogError> {
        self.call(move |conn| cache(conn, runtime, &hash)).await
    }

    pub async fn dep_caches(&self) -> Result<Vec<DepCache>, CatalogError> {
        self.call(|conn| caches(conn)).await
    }

    pub async fn mark_dep_cache_found(
        &self,
        runtime: Runtime,
        hash: String,
        deps: Vec<String>,
        cache_dir: String,
    ) -> Result<(), CatalogError> {
        self.call(move |conn| mark_found_ready(conn, runtime, &hash, &deps, &cache_dir))
            .await
    }

    pub async fn begin_dep_install(&self, install: NewInstall) -> Result<i64, CatalogError> {
        self.call(move |conn| {
            let tx = conn.transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)?;
            let id = begin_install(&tx, &install)?;
            tx.commit()?;
            Ok(id)
        })
        .await
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
        self.call(move |conn| {
            let tx = conn.transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)?;
            finish_install(&tx, runtime, &hash, log_id, &end, &log, duration_ms)?;
            tx.commit()?;
            Ok(())
        })
        .await
    }

    /// The latest install attempt of a set, and how many there were.
    pub async fn last_dep_install(
        &self,
        runtime: Runtime,
        hash: String,
    ) -> Result<(Option<InstallLog>, i64), CatalogError> {
        self.call(move |conn| last_install(conn, runtime, &hash))
            .await
    }

    pub async fn touch_dep_cache(
        &self,
        runtime: Runtime,
        hash: String,
    ) -> Result<(), CatalogError> {
        self.call(move |conn| touch(conn, runtime, &hash)).await
    }

    pub async fn delete_dep_cache(
        &self,
        runtime: Runtime,
        hash: String,
    ) -> Result<(), CatalogError> {
        self.call(move |conn| delete_cache(conn, runtime, &hash))
            .await
    }

    pub async fn forget_unfinished_dep_installs(&self) -> Result<(), CatalogError> {
        self.call(|conn| forget_unfinished(conn)).await
    }
}
