//! Dependency caches and install logs on PostgreSQL. A cache is a folder on one node's disk,
//! so every row here is the calling node's own. Where SQLite copies a cache's status onto its
//! scripts, here the `scripts_here` view reads it through, per node.

use deadpool_postgres::GenericClient;
use tokio_postgres::Row;

use super::{text, PgCatalog};
use crate::catalog::{
    CacheStatus, CatalogError, DepCache, InstallEnd, InstallLog, NewInstall, ScriptDepsRow,
    ScriptDepsState,
};
use crate::domain::Runtime;

const DEPS_ROW: &str =
    "SELECT id, path, runtime, deps_file, deps_hash, deps_status, deps_error FROM scripts_here";

const CACHE_ROW: &str = "SELECT runtime, hash, status, deps, cache_dir, size_bytes, error,
    created_at, installed_at, last_used_at,
    (EXTRACT(EPOCH FROM clock_timestamp()
        - COALESCE(last_used_at, installed_at, created_at)::timestamptz) / 86400)::float8
    FROM dep_caches";

fn deps_row(row: &Row) -> ScriptDepsRow {
    ScriptDepsRow {
        id: row.get(0),
        path: row.get(1),
        runtime: Runtime::parse(row.get(2)).unwrap_or(Runtime::Python),
        state: ScriptDepsState {
            file: row.get(3),
            hash: row.get(4),
            status: row.get(5),
            error: text::load_opt(row.get(6)),
        },
    }
}

fn cache_from_row(row: &Row) -> DepCache {
    let status = match row.get::<_, &str>(2) {
        "ready" => CacheStatus::Ready,
        "failed" => CacheStatus::Failed,
        _ => CacheStatus::Installing,
    };
    DepCache {
        runtime: Runtime::parse(row.get(0)).unwrap_or(Runtime::Python),
        hash: row.get(1),
        status,
        deps: serde_json::from_str(row.get(3)).unwrap_or_default(),
        cache_dir: row.get(4),
        size_bytes: row.get(5),
        error: text::load_opt(row.get(6)),
        created_at: row.get(7),
        installed_at: row.get(8),
        last_used_at: row.get(9),
        idle_days: row.get(10),
    }
}

impl PgCatalog {
    /// Every live script's dependency columns.
    pub async fn script_deps_rows(&self) -> Result<Vec<ScriptDepsRow>, CatalogError> {
        let client = self.client().await?;
        let sql = format!("{DEPS_ROW} WHERE deleted_at IS NULL ORDER BY path COLLATE \"C\"");
        Ok(client
            .query(&sql, &[])
            .await?
            .iter()
            .map(deps_row)
            .collect())
    }

    pub async fn script_deps_row(&self, id: i64) -> Result<Option<ScriptDepsRow>, CatalogError> {
        let client = self.client().await?;
        let sql = format!("{DEPS_ROW} WHERE id = $1 AND deleted_at IS NULL");
        Ok(client.query_opt(&sql, &[&id]).await?.as_ref().map(deps_row))
    }

    /// Sets the dependency columns of scripts, by path, in one transaction.
    pub async fn set_script_deps(
        &self,
        states: Vec<(String, ScriptDepsState)>,
    ) -> Result<(), CatalogError> {
        let mut client = self.client().await?;
        let tx = client.transaction().await?;
        for (path, state) in &states {
            tx.execute(
                "UPDATE scripts SET deps_file = $2, deps_hash = $3, deps_status = $4,
                     deps_error = $5
                 WHERE path = $1",
                &[
                    path,
                    &state.file,
                    &state.hash,
                    &state.status,
                    &text::store_opt(&state.error),
                ],
            )
            .await?;
        }
        tx.commit().await?;
        Ok(())
    }

    pub async fn dep_cache(
        &self,
        runtime: Runtime,
        hash: String,
    ) -> Result<Option<DepCache>, CatalogError> {
        let client = self.client().await?;
        let sql = format!("{CACHE_ROW} WHERE node = $1 AND runtime = $2 AND hash = $3");
        let row = client
            .query_opt(&sql, &[&self.node, &runtime.as_str(), &hash])
            .await?;
        Ok(row.as_ref().map(cache_from_row))
    }

    pub async fn dep_caches(&self) -> Result<Vec<DepCache>, CatalogError> {
        let client = self.client().await?;
        let sql = format!("{CACHE_ROW} WHERE node = $1 ORDER BY runtime, hash COLLATE \"C\"");
        let rows = client.query(&sql, &[&self.node]).await?;
        Ok(rows.iter().map(cache_from_row).collect())
    }

    /// Records a cache found complete on disk as ready (its install history untouched).
    pub async fn mark_dep_cache_found(
        &self,
        runtime: Runtime,
        hash: String,
        deps: Vec<String>,
        cache_dir: String,
    ) -> Result<(), CatalogError> {
        let mut client = self.client().await?;
        let tx = client.transaction().await?;
        tx.execute(
            "INSERT INTO dep_caches (node, runtime, hash, status, deps, cache_dir, installed_at)
             VALUES ($1, $2, $3, 'ready', $4, $5, sg_now())
             ON CONFLICT (node, runtime, hash) DO UPDATE SET status = 'ready', error = NULL
             WHERE dep_caches.status <> 'ready'",
            &[
                &self.node,
                &runtime.as_str(),
                &hash,
                &serde_json::to_string(&deps)?,
                &cache_dir,
            ],
        )
        .await?;
        tx.commit().await?;
        Ok(())
    }

    /// Records the start of an install; a ready cache stays ready while it is rebuilt.
    pub async fn begin_dep_install(&self, install: NewInstall) -> Result<i64, CatalogError> {
        let mut client = self.client().await?;
        let tx = client.transaction().await?;
        let runtime = install.runtime.as_str();
        tx.execute(
            "INSERT INTO dep_caches (node, runtime, hash, status, deps, cache_dir)
             VALUES ($1, $2, $3, 'installing', $4, $5)
             ON CONFLICT (node, runtime, hash) DO UPDATE SET
                 status = CASE dep_caches.status WHEN 'ready' THEN 'ready' ELSE 'installing' END,
                 error = CASE dep_caches.status WHEN 'ready' THEN dep_caches.error ELSE NULL END,
                 deps = excluded.deps, cache_dir = excluded.cache_dir",
            &[
                &self.node,
                &runtime,
                &install.hash,
                &serde_json::to_string(&install.deps)?,
                &install.cache_dir,
            ],
        )
        .await?;
        let id: i64 = tx
            .query_one(
                "INSERT INTO install_logs (node, runtime, hash, trigger, status, command)
                 VALUES ($1, $2, $3, $4, 'running', $5) RETURNING id",
                &[
                    &self.node,
                    &runtime,
                    &install.hash,
                    &install.trigger,
                    &install.command,
                ],
            )
            .await?
            .get(0);
        tx.commit().await?;
        Ok(id)
    }

    /// Records how an install ended, on the cache, its log and every script using it.
    pub async fn finish_dep_install(
        &self,
        runtime: Runtime,
        hash: String,
        log_id: i64,
        end: InstallEnd,
        log: String,
        duration_ms: i64,
    ) -> Result<(), CatalogError> {
        let mut client = self.client().await?;
        let tx = client.transaction().await?;
        let log_status = match end {
            InstallEnd::Ready { .. } => "success",
            InstallEnd::Failed { .. } => "failed",
        };
        tx.execute(
            "UPDATE install_logs SET status = $2, log = $3, duration_ms = $4,
                 finished_at = sg_now()
             WHERE id = $1",
            &[&log_id, &log_status, &text::store(&log), &duration_ms],
        )
        .await?;
        let key: [&(dyn tokio_postgres::types::ToSql + Sync); 3] =
            [&self.node, &runtime.as_str(), &hash];
        match &end {
            InstallEnd::Ready { size_bytes } => {
                tx.execute(
                    "UPDATE dep_caches SET status = 'ready', error = NULL, size_bytes = $4,
                         installed_at = sg_now()
                     WHERE node = $1 AND runtime = $2 AND hash = $3",
                    &[key[0], key[1], key[2], size_bytes],
                )
                .await?;
            }
            InstallEnd::Failed {
                cache_still_ready: true,
                ..
            } => {}
            InstallEnd::Failed { error, .. } => {
                tx.execute(
                    "UPDATE dep_caches SET status = 'failed', error = $4
                     WHERE node = $1 AND runtime = $2 AND hash = $3",
                    &[key[0], key[1], key[2], &text::store(error)],
                )
                .await?;
            }
        }
        tx.commit().await?;
        Ok(())
    }

    /// The latest install attempt of a set on this node, and how many there were.
    pub async fn last_dep_install(
        &self,
        runtime: Runtime,
        hash: String,
    ) -> Result<(Option<InstallLog>, i64), CatalogError> {
        let client = self.client().await?;
        let key: [&(dyn tokio_postgres::types::ToSql + Sync); 3] =
            [&self.node, &runtime.as_str(), &hash];
        let attempts: i64 = client
            .query_one(
                "SELECT COUNT(*) FROM install_logs WHERE node = $1 AND runtime = $2 AND hash = $3",
                &key,
            )
            .await?
            .get(0);
        let last = client
            .query_opt(
                "SELECT id, trigger, status, command, log, started_at, finished_at, duration_ms
                 FROM install_logs WHERE node = $1 AND runtime = $2 AND hash = $3
                 ORDER BY id DESC LIMIT 1",
                &key,
            )
            .await?
            .map(|row| InstallLog {
                id: row.get(0),
                trigger: row.get(1),
                status: row.get(2),
                command: row.get(3),
                log: text::load_opt(row.get(4)),
                started_at: row.get(5),
                finished_at: row.get(6),
                duration_ms: row.get(7),
            });
        Ok((last, attempts))
    }

    pub async fn touch_dep_cache(
        &self,
        runtime: Runtime,
        hash: String,
    ) -> Result<(), CatalogError> {
        let client = self.client().await?;
        client
            .execute(
                "UPDATE dep_caches SET last_used_at = sg_now()
                 WHERE node = $1 AND runtime = $2 AND hash = $3",
                &[&self.node, &runtime.as_str(), &hash],
            )
            .await?;
        Ok(())
    }

    pub async fn delete_dep_cache(
        &self,
        runtime: Runtime,
        hash: String,
    ) -> Result<(), CatalogError> {
        let client = self.client().await?;
        client
            .execute(
                "DELETE FROM dep_caches WHERE node = $1 AND runtime = $2 AND hash = $3",
                &[&self.node, &runtime.as_str(), &hash],
            )
            .await?;
        Ok(())
    }

    /// Forgets installs this node left unfinished when it stopped, so they start again.
    pub async fn forget_unfinished_dep_installs(&self) -> Result<(), CatalogError> {
        let mut client = self.client().await?;
        let tx = client.transaction().await?;
        tx.execute(
            "DELETE FROM dep_caches WHERE node = $1 AND status = 'installing'",
            &[&self.node],
        )
        .await?;
        tx.execute(
            "UPDATE install_logs SET status = 'failed', finished_at = sg_now(),
                 log = COALESCE(log, '') || 'interrupted: the gateway stopped during the install'
             WHERE node = $1 AND status = 'running'",
            &[&self.node],
        )
        .await?;
        tx.commit().await?;
        Ok(())
    }
}
