//! The scripts table: what each scan found, its schema or load error, and its operator settings.

use rusqlite::{params, Connection, OptionalExtension, Row};
use serde_json::Value;

use crate::domain::{EntryKind, Runtime};

use super::CatalogError;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LoadStatus {
    Ok,
    Error,
}

impl LoadStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            LoadStatus::Ok => "ok",
            LoadStatus::Error => "error",
        }
    }
}

/// A script as the catalog knows it.
#[derive(Debug, Clone)]
pub struct Script {
    pub id: i64,
    pub path: String,
    pub runtime: Runtime,
    /// How the script is started.
    pub entry: EntryKind,
    pub name: String,
    pub group_path: Option<String>,
    pub alias: Option<String>,
    pub description: Option<String>,
    pub enabled: bool,
    pub notify_enabled: bool,
    pub timeout_sec: Option<i64>,
    pub max_concurrent: Option<i64>,
    /// `warm` or `cold` for this script alone; None follows the `execution_mode` setting.
    pub execution_mode: Option<String>,
    pub load_status: LoadStatus,
    pub load_error: Option<String>,
    pub args_schema: Option<Value>,
    pub file_hash: String,
    pub file_size: i64,
    pub deps_file: Option<String>,
    pub deps_hash: Option<String>,
    pub deps_status: Option<String>,
    pub created_at: String,
    pub updated_at: String,
    pub loaded_at: Option<String>,
    pub last_run_at: Option<String>,
    pub last_run_status: Option<String>,
    pub run_count: i64,
}

/// What a scan learned about one script file.
#[derive(Debug, Clone)]
pub struct ScriptUpsert {
    pub path: String,
    pub runtime: Runtime,
    pub entry: EntryKind,
    pub name: String,
    pub group_path: Option<String>,
    pub description: Option<String>,
    pub file_hash: String,
    pub file_size: i64,
    /// `None` when the schema was not re-extracted (the file's content is unchanged).
    pub load: Option<Result<Value, String>>,
}

/// The little a scan needs to decide whether a file changed.
#[derive(Debug, Clone)]
pub struct ScriptIndexEntry {
    pub id: i64,
    pub path: String,
    pub file_hash: String,
    pub group_path: Option<String>,
    pub deleted: bool,
    pub args_schema: Option<Value>,
    pub entry: EntryKind,
}

#[derive(Debug, Clone, Default)]
pub struct ScriptFilter {
    pub runtime: Option<Runtime>,
    pub status: Option<LoadStatus>,
    pub search: Option<String>,
    pub page: u32,
    pub page_size: u32,
}

#[derive(Debug, Clone)]
pub struct Page<T> {
    pub items: Vec<T>,
    pub total: i64,
}

const SCRIPT_COLUMNS: &str =
    "id, path, runtime, entry_kind, name, group_path, alias, description, enabled,
    notify_enabled, timeout_sec, max_concurrent, execution_mode, load_status, load_error, args_schema, file_hash,
    file_size, deps_file, deps_hash, deps_status, created_at, updated_at, loaded_at, last_run_at,
    last_run_status, run_count";

fn script_from_row(row: &Row<'_>) -> rusqlite::Result<Script> {
    let runtime: String = row.get("runtime")?;
    let load_status: String = row.get("load_status")?;
    let args_schema: Option<String> = row.get("args_schema")?;
    let entry: String = row.get("entry_kind")?;
    Ok(Script {
        id: row.get("id")?,
        path: row.get("path")?,
        runtime: Runtime::parse(&runtime).unwrap_or(Runtime::Python),
        entry: EntryKind::parse(&entry),
        name: row.get("name")?,
        group_path: row.get("group_path")?,
        alias: row.get("alias")?,
        description: row.get("description")?,
        enabled: row.get("enabled")?,
        notify_enabled: row.get("notify_enabled")?,
        timeout_sec: row.get("timeout_sec")?,
        max_concurrent: row.get("max_concurrent")?,
        execution_mode: row.get("execution_mode")?,
        load_status: if load_status == "ok" {
            LoadStatus::Ok
        } else {
            LoadStatus::Error
        },
        load_error: row.get("load_error")?,
        args_schema: args_schema.and_then(|text| serde_json::from_str(&text).ok()),
        file_hash: row.get("file_hash")?,
        file_size: row.get("file_size")?,
        deps_file: row.get("deps_file")?,
        deps_hash: row.get("deps_hash")?,
        deps_status: row.get("deps_status")?,
        created_at: row.get("created_at")?,
        updated_at: row.get("updated_at")?,
        loaded_at: row.get("loaded_at")?,
        last_run_at: row.get("last_run_at")?,
        last_run_status: row.get("last_run_status")?,
        run_count: row.get("run_count")?,
    })
}

pub fn by_id(conn: &Connection, id: i64) -> Result<Option<Script>, CatalogError> {
    let sql = format!("SELECT {SCRIPT_COLUMNS} FROM scripts WHERE id = ?1 AND deleted_at IS NULL");
    Ok(conn
        .prepare_cached(&sql)?
        .query_row([id], script_from_row)
        .optional()?)
}

/// The live scripts an address names: the script at that path, or the scripts whose path is
/// the address plus `.py` or `.js` (an address may leave the extension out).
pub fn by_address(conn: &Connection, address: &str) -> Result<Vec<Script>, CatalogError> {
    let sql = format!(
        "SELECT {SCRIPT_COLUMNS} FROM scripts
         WHERE path IN (?1, ?1 || '.py', ?1 || '.js') AND deleted_at IS NULL ORDER BY path"
    );
    let mut statement = conn.prepare_cached(&sql)?;
    let rows = statement.query_map([address], script_from_row)?;
    Ok(rows.collect::<Result<_, _>>()?)
}

pub fn by_path_live(conn: &Connection, path: &str) -> Result<Option<Script>, CatalogError> {
    let sql =
        format!("SELECT {SCRIPT_COLUMNS} FROM scripts WHERE path = ?1 AND deleted_at IS NULL");
    Ok(conn.query_row(&sql, [path], script_from_row).optional()?)
}

pub fn live_count(conn: &Connection) -> Result<i64, CatalogError> {
    Ok(conn.query_row(
        "SELECT COUNT(*) FROM scripts WHERE deleted_at IS NULL",
        [],
        |r| r.get(0),
    )?)
}

pub fn list(conn: &Connection, filter: &ScriptFilter) -> Result<Page<Script>, CatalogError> {
    let pattern = filter.search.as_deref().map(like_pattern);
    let conditions = "deleted_at IS NULL
        AND (?1 IS NULL OR runtime = ?1)
        AND (?2 IS NULL OR load_status = ?2)
        AND (?3 IS NULL OR path LIKE ?3 ESCAPE '\\' OR name LIKE ?3 ESCAPE '\\'
             OR alias LIKE ?3 ESCAPE '\\' OR description LIKE ?3 ESCAPE '\\')";
    let runtime = filter.runtime.map(Runtime::as_str);
    let status = filter.status.map(LoadStatus::as_str);
    let total: i64 = conn.query_row(
        &format!("SELECT COUNT(*) FROM scripts WHERE {conditions}"),
        params![runtime, status, pattern],
        |r| r.get(0),
    )?;
    let offset = i64::from(filter.page.saturating_sub(1)) * i64::from(filter.page_size);
    let sql = format!(
        "SELECT {SCRIPT_COLUMNS} FROM scripts WHERE {conditions} ORDER BY path LIMIT ?4 OFFSET ?5"
    );
    let mut statement = conn.prepare(&sql)?;
    let items = statement
        .query_map(
            params![runtime, status, pattern, filter.page_size, offset],
            script_from_row,
        )?
        .collect::<Result<Vec<_>, _>>()?;
    Ok(Page { items, total })
}

/// A `LIKE` pattern matching `search` anywhere, its `%`, `_` and `\` literal (both backends).
pub(super) fn like_pattern(search: &str) -> String {
    let escaped = search
        .replace('\\', "\\\\")
        .replace('%', "\\%")
        .replace('_', "\\_");
    format!("%{escaped}%")
}

pub fn index(conn: &Connection) -> Result<Vec<ScriptIndexEntry>, CatalogError> {
    let mut statement = conn.prepare(
        "SELECT id, path, file_hash, group_path, deleted_at, args_schema, entry_kind FROM scripts",
    )?;
    let rows = statement.query_map([], |row| {
        let deleted: Option<String> = row.get(4)?;
        let schema: Option<String> = row.get(5)?;
        let entry: String = row.get(6)?;
        Ok(ScriptIndexEntry {
            id: row.get(0)?,
            path: row.get(1)?,
            file_hash: row.get(2)?,
            group_path: row.get(3)?,
            deleted: deleted.is_some(),
            args_schema: schema.and_then(|s| serde_json::from_str(&s).ok()),
            entry: EntryKind::parse(&entry),
        })
    })?;
    Ok(rows.collect::<Result<Vec<_>, _>>()?)
}

/// Inserts or updates a script by path; its id never changes, and a deleted row comes back.
/// Updating first keeps AUTOINCREMENT from spending an id on every rescan.
pub fn upsert(conn: &Connection, script: &ScriptUpsert) -> Result<(), CatalogError> {
    let values = params![
        script.path,
        script.runtime.as_str(),
        script.name,
        script.group_path,
        script.description,
        script.file_hash,
        script.file_size,
        script.entry.as_str(),
    ];
    let updated = conn.execute(
        "UPDATE scripts SET runtime = ?2, name = ?3, group_path = ?4, description = ?5,
             file_hash = ?6, file_size = ?7, entry_kind = ?8, deleted_at = NULL,
             updated_at = strftime('%Y-%m-%dT%H:%M:%fZ', 'now')
         WHERE path = ?1",
        values,
    )?;
    if updated == 0 {
        conn.execute(
            "INSERT INTO scripts (path, runtime, name, group_path, description, file_hash, file_size,
                                  entry_kind, load_status, load_error)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, 'error', 'not loaded yet')",
            values,
        )?;
    }
    if let Some(load) = &script.load {
        let (status, error, schema) = match load {
            Ok(schema) => ("ok", None, Some(serde_json::to_string(schema)?)),
            Err(reason) => ("error", Some(reason.as_str()), None),
        };
        conn.execute(
            "UPDATE scripts SET load_status = ?2, load_error = ?3, args_schema = ?4,
                 loaded_at = strftime('%Y-%m-%dT%H:%M:%fZ', 'now')
             WHERE path = ?1",
            params![script.path, status, error, schema],
        )?;
    }
    Ok(())
}

pub fn mark_deleted(conn: &Connection, id: i64) -> Result<(), CatalogError> {
    conn.execute(
        "UPDATE scripts SET deleted_at = strftime('%Y-%m-%dT%H:%M:%fZ', 'now'),
             updated_at = strftime('%Y-%m-%dT%H:%M:%fZ', 'now')
         WHERE id = ?1 AND deleted_at IS NULL",
        [id],
    )?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::catalog::builders::script_upsert;
    use crate::catalog::Catalog;
    use serde_json::json;

    fn upsert_for(path: &str, hash: &str, load: Option<Result<Value, String>>) -> ScriptUpsert {
        ScriptUpsert {
            description: Some("does 100% of the_work".into()),
            file_hash: hash.into(),
            file_size: 10,
            load,
            ..script_upsert(path)
        }
    }

    fn open() -> (
        tempfile::TempDir,
        r2d2::PooledConnection<r2d2_sqlite::SqliteConnectionManager>,
    ) {
        let dir = tempfile::tempdir().unwrap();
        let catalog = Catalog::open(&dir.path().join("gateway.db")).unwrap();
        let conn = catalog.pool().get().unwrap();
        (dir, conn)
    }

    #[test]
    fn ids_are_stable_per_path_across_updates_and_deletion() {
        let (_dir, conn) = open();
        upsert(&conn, &upsert_for("python/a.py", "h1", Some(Ok(json!({}))))).unwrap();
        upsert(
            &conn,
            &upsert_for("python/b.py", "h1", Some(Err("boom".into()))),
        )
        .unwrap();
        let id_a = index(&conn)
            .unwrap()
            .iter()
            .find(|e| e.path == "python/a.py")
            .unwrap()
            .id;
        upsert(&conn, &upsert_for("python/a.py", "h2", None)).unwrap();
        mark_deleted(&conn, id_a).unwrap();
        upsert(&conn, &upsert_for("python/c.py", "h1", None)).unwrap();
        let id_c = index(&conn)
            .unwrap()
            .iter()
            .find(|e| e.path == "python/c.py")
            .unwrap()
            .id;
        assert_eq!(id_c, id_a + 2, "updates spend no ids");
        assert!(
            by_id(&conn, id_a).unwrap().is_none(),
            "a deleted script is not served"
        );
        upsert(
            &conn,
            &upsert_for("python/a.py", "h3", Some(Ok(json!({"x": {"flag": "--x"}})))),
        )
        .unwrap();
        let back = by_id(&conn, id_a)
            .unwrap()
            .expect("revived under the same id");
        assert_eq!(back.file_hash, "h3");
        assert_eq!(back.load_status, LoadStatus::Ok);
        assert_eq!(back.args_schema, Some(json!({"x": {"flag": "--x"}})));
    }

    #[test]
    fn an_update_without_a_load_keeps_the_stored_schema() {
        let (_dir, conn) = open();
        upsert(
            &conn,
            &upsert_for("python/a.py", "h1", Some(Ok(json!({"n": {"flag": "--n"}})))),
        )
        .unwrap();
        upsert(&conn, &upsert_for("python/a.py", "h1", None)).unwrap();
        let script = &list(
            &conn,
            &ScriptFilter {
                page: 1,
                page_size: 10,
                ..Default::default()
            },
        )
        .unwrap()
        .items[0];
        assert_eq!(script.args_schema, Some(json!({"n": {"flag": "--n"}})));
    }

    #[test]
    fn list_filters_and_pages() {
        let (_dir, conn) = open();
        for i in 0..5 {
            upsert(
                &conn,
                &upsert_for(&format!("python/s{i}.py"), "h", Some(Ok(json!({})))),
            )
            .unwrap();
        }
        upsert(
            &conn,
            &upsert_for("python/broken.py", "h", Some(Err("bad".into()))),
        )
        .unwrap();
        let page = |filter: ScriptFilter| list(&conn, &filter).unwrap();
        let all = page(ScriptFilter {
            page: 2,
            page_size: 4,
            ..Default::default()
        });
        assert_eq!((all.total, all.items.len()), (6, 2));
        let errors = page(ScriptFilter {
            status: Some(LoadStatus::Error),
            page: 1,
            page_size: 10,
            ..Default::default()
        });
        assert_eq!(
            errors
                .items
                .iter()
                .map(|s| s.path.as_str())
                .collect::<Vec<_>>(),
            ["python/broken.py"]
        );
        let search = page(ScriptFilter {
            search: Some("S3".into()),
            page: 1,
            page_size: 10,
            ..Default::default()
        });
        assert_eq!(search.items.len(), 1, "search is case-insensitive");
        let wildcard = page(ScriptFilter {
            search: Some("%".into()),
            page: 1,
            page_size: 10,
            ..Default::default()
        });
        assert_eq!(
            wildcard.total, 6,
            "'%' is literal: every description contains it"
        );
        let underscore = page(ScriptFilter {
            search: Some("s_".into()),
            page: 1,
            page_size: 10,
            ..Default::default()
        });
        assert_eq!(underscore.total, 0, "'_' is literal, not a wildcard");
        let js = page(ScriptFilter {
            runtime: Some(Runtime::Js),
            page: 1,
            page_size: 10,
            ..Default::default()
        });
        assert_eq!(js.total, 0);
    }
}
