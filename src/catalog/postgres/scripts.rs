//! The scripts table on PostgreSQL: what each scan found and the operator's choices.

use deadpool_postgres::GenericClient;
use serde_json::Value;
use tokio_postgres::Row;

use super::{text, PgCatalog};
use crate::catalog::scripts::like_pattern;
use crate::catalog::{
    CatalogError, LoadStatus, Page, Script, ScriptFilter, ScriptIndexEntry, ScriptPatch,
    ScriptUpsert,
};
use crate::domain::{EntryKind, Runtime};

const SCRIPT_COLUMNS: &str =
    "id, path, runtime, entry_kind, name, group_path, alias, description, enabled,
    notify_enabled, timeout_sec, max_concurrent, execution_mode, load_status, load_error,
    args_schema, file_hash, file_size, deps_file, deps_hash, deps_status, created_at, updated_at,
    loaded_at, last_run_at, last_run_status, run_count";

fn script_from_row(row: &Row) -> Script {
    let runtime: &str = row.get("runtime");
    let load_status: &str = row.get("load_status");
    let args_schema: Option<&str> = row.get("args_schema");
    Script {
        id: row.get("id"),
        path: row.get("path"),
        runtime: Runtime::parse(runtime).unwrap_or(Runtime::Python),
        entry: EntryKind::parse(row.get("entry_kind")),
        name: row.get("name"),
        group_path: row.get("group_path"),
        alias: row.get("alias"),
        description: row.get("description"),
        enabled: row.get("enabled"),
        notify_enabled: row.get("notify_enabled"),
        timeout_sec: row.get("timeout_sec"),
        max_concurrent: row.get("max_concurrent"),
        execution_mode: row.get("execution_mode"),
        load_status: if load_status == "ok" {
            LoadStatus::Ok
        } else {
            LoadStatus::Error
        },
        load_error: text::load_opt(row.get("load_error")),
        args_schema: args_schema.and_then(|text| serde_json::from_str(text).ok()),
        file_hash: row.get("file_hash"),
        file_size: row.get("file_size"),
        deps_file: row.get("deps_file"),
        deps_hash: row.get("deps_hash"),
        deps_status: row.get("deps_status"),
        created_at: row.get("created_at"),
        updated_at: row.get("updated_at"),
        loaded_at: row.get("loaded_at"),
        last_run_at: row.get("last_run_at"),
        last_run_status: row.get("last_run_status"),
        run_count: row.get("run_count"),
    }
}

async fn live_by_id(client: &impl GenericClient, id: i64) -> Result<Option<Script>, CatalogError> {
    let sql =
        format!("SELECT {SCRIPT_COLUMNS} FROM scripts_here WHERE id = $1 AND deleted_at IS NULL");
    let statement = client.prepare_cached(&sql).await?;
    Ok(client
        .query_opt(&statement, &[&id])
        .await?
        .as_ref()
        .map(script_from_row))
}

impl PgCatalog {
    pub async fn list_scripts(&self, filter: ScriptFilter) -> Result<Page<Script>, CatalogError> {
        let client = self.client().await?;
        // ILIKE: SQLite's LIKE ignores ASCII case, PostgreSQL's does not.
        let conditions = "deleted_at IS NULL
            AND ($1::text IS NULL OR runtime = $1)
            AND ($2::text IS NULL OR load_status = $2)
            AND ($3::text IS NULL OR path ILIKE $3 OR name ILIKE $3
                 OR alias ILIKE $3 OR description ILIKE $3)";
        let runtime = filter.runtime.map(Runtime::as_str);
        let status = filter.status.map(LoadStatus::as_str);
        let pattern = filter.search.as_deref().map(like_pattern);
        let total: i64 = client
            .query_one(
                &format!("SELECT COUNT(*) FROM scripts_here WHERE {conditions}"),
                &[&runtime, &status, &pattern],
            )
            .await?
            .get(0);
        let limit = i64::from(filter.page_size);
        let offset = i64::from(filter.page.saturating_sub(1)) * limit;
        let rows = client
            .query(
                &format!(
                    "SELECT {SCRIPT_COLUMNS} FROM scripts_here WHERE {conditions}
                     ORDER BY path COLLATE \"C\" LIMIT $4 OFFSET $5"
                ),
                &[&runtime, &status, &pattern, &limit, &offset],
            )
            .await?;
        Ok(Page {
            items: rows.iter().map(script_from_row).collect(),
            total,
        })
    }

    pub async fn script(&self, id: i64) -> Result<Option<Script>, CatalogError> {
        live_by_id(&self.client().await?, id).await
    }

    /// The live scripts at `address` (a path, with or without its extension).
    pub async fn scripts_at(&self, address: String) -> Result<Vec<Script>, CatalogError> {
        let client = self.client().await?;
        let sql = format!(
            "SELECT {SCRIPT_COLUMNS} FROM scripts_here
             WHERE path IN ($1, $1 || '.py', $1 || '.js') AND deleted_at IS NULL
             ORDER BY path COLLATE \"C\""
        );
        let statement = client.prepare_cached(&sql).await?;
        let rows = client.query(&statement, &[&address]).await?;
        Ok(rows.iter().map(script_from_row).collect())
    }

    pub async fn script_count(&self) -> Result<i64, CatalogError> {
        let client = self.client().await?;
        let row = client
            .query_one("SELECT COUNT(*) FROM scripts WHERE deleted_at IS NULL", &[])
            .await?;
        Ok(row.get(0))
    }

    /// Every script row ever seen, deleted ones included.
    pub async fn script_index(&self) -> Result<Vec<ScriptIndexEntry>, CatalogError> {
        let client = self.client().await?;
        let rows = client
            .query(
                "SELECT id, path, file_hash, group_path, deleted_at IS NOT NULL, args_schema,
                        entry_kind
                 FROM scripts",
                &[],
            )
            .await?;
        Ok(rows
            .iter()
            .map(|row| {
                let schema: Option<&str> = row.get(5);
                ScriptIndexEntry {
                    id: row.get(0),
                    path: row.get(1),
                    file_hash: row.get(2),
                    group_path: row.get(3),
                    deleted: row.get(4),
                    args_schema: schema.and_then(|s| serde_json::from_str(s).ok()),
                    entry: EntryKind::parse(row.get(6)),
                }
            })
            .collect())
    }

    /// Applies one scan's changes in a single transaction.
    pub async fn apply_scan(
        &self,
        upserts: Vec<ScriptUpsert>,
        deleted_ids: Vec<i64>,
    ) -> Result<(), CatalogError> {
        let mut client = self.client().await?;
        let tx = client.transaction().await?;
        for upsert in &upserts {
            upsert_script(&tx, upsert).await?;
        }
        if !deleted_ids.is_empty() {
            tx.execute(
                "UPDATE scripts SET deleted_at = sg_now(), updated_at = sg_now()
                 WHERE id = ANY($1) AND deleted_at IS NULL",
                &[&deleted_ids],
            )
            .await?;
        }
        tx.commit().await?;
        Ok(())
    }

    /// Applies an operator's choices to a script; None when it does not exist.
    pub async fn patch_script(
        &self,
        id: i64,
        patch: ScriptPatch,
    ) -> Result<Option<Script>, CatalogError> {
        let mut client = self.client().await?;
        let tx = client.transaction().await?;
        // Lock the row first, so two patches at once apply one after the other.
        tx.execute("SELECT 1 FROM scripts WHERE id = $1 FOR UPDATE", &[&id])
            .await?;
        let Some(current) = live_by_id(&tx, id).await? else {
            return Ok(None);
        };
        tx.execute(
            "UPDATE scripts SET alias = $2, enabled = $3, notify_enabled = $4, timeout_sec = $5,
                 max_concurrent = $6, execution_mode = $7, updated_at = sg_now()
             WHERE id = $1",
            &[
                &id,
                &patch.alias.unwrap_or(current.alias),
                &patch.enabled.unwrap_or(current.enabled),
                &patch.notify_enabled.unwrap_or(current.notify_enabled),
                &patch.timeout_sec.unwrap_or(current.timeout_sec),
                &patch.max_concurrent.unwrap_or(current.max_concurrent),
                &patch.execution_mode.unwrap_or(current.execution_mode),
            ],
        )
        .await?;
        let patched = live_by_id(&tx, id).await?;
        tx.commit().await?;
        Ok(patched)
    }

    /// The live script at a path.
    pub async fn script_by_path(&self, path: String) -> Result<Option<Script>, CatalogError> {
        let client = self.client().await?;
        let sql = format!(
            "SELECT {SCRIPT_COLUMNS} FROM scripts_here WHERE path = $1 AND deleted_at IS NULL"
        );
        Ok(client
            .query_opt(&sql, &[&path])
            .await?
            .as_ref()
            .map(script_from_row))
    }
}

/// Inserts or updates a script by path; its id never changes and a deleted row comes back.
/// `ON CONFLICT` would spend a sequence value on every rescan of a known path, so update first.
async fn upsert_script(
    tx: &deadpool_postgres::Transaction<'_>,
    script: &ScriptUpsert,
) -> Result<(), CatalogError> {
    let values: [&(dyn tokio_postgres::types::ToSql + Sync); 8] = [
        &script.path,
        &script.runtime.as_str(),
        &script.name,
        &script.group_path,
        &script.description,
        &script.file_hash,
        &script.file_size,
        &script.entry.as_str(),
    ];
    let updated = tx
        .execute(
            "UPDATE scripts SET runtime = $2, name = $3, group_path = $4, description = $5,
                 file_hash = $6, file_size = $7, entry_kind = $8, deleted_at = NULL,
                 updated_at = sg_now()
             WHERE path = $1",
            &values,
        )
        .await?;
    if updated == 0 {
        tx.execute(
            "INSERT INTO scripts (path, runtime, name, group_path, description, file_hash,
                                  file_size, entry_kind, load_status, load_error)
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, 'error', 'not loaded yet')",
            &values,
        )
        .await?;
    }
    if let Some(load) = &script.load {
        let (status, error, schema): (&str, Option<std::borrow::Cow<str>>, Option<String>) =
            match load {
                Ok(schema) => ("ok", None, Some(serde_json::to_string::<Value>(schema)?)),
                Err(reason) => ("error", Some(text::store(reason)), None),
            };
        tx.execute(
            "UPDATE scripts SET load_status = $2, load_error = $3, args_schema = $4,
                 loaded_at = sg_now()
             WHERE path = $1",
            &[&script.path, &status, &error, &schema],
        )
        .await?;
    }
    Ok(())
}
