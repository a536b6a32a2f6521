//! SQL for script management: per-script overrides (alias, enabled, notifications, timeout,
//! concurrency, execution mode) and finding a live script by its path.

use rusqlite::{params, Connection};

use super::scripts::{by_id, by_path_live};
use super::{CatalogError, Script};

/// Operator choices for one script; `None` leaves a field as it is, `Some(None)` clears it.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct ScriptPatch {
    pub alias: Option<Option<String>>,
    pub enabled: Option<bool>,
    pub notify_enabled: Option<bool>,
    pub timeout_sec: Option<Option<i64>>,
    pub max_concurrent: Option<Option<i64>>,
    pub execution_mode: Option<Option<String>>,
}

pub fn patch(
    conn: &Connection,
    id: i64,
    patch: &ScriptPatch,
) -> Result<Option<Script>, CatalogError> {
    let Some(current) = by_id(conn, id)? else {
        return Ok(None);
    };
    conn.execute(
        "UPDATE scripts SET alias = ?2, enabled = ?3, notify_enabled = ?4, timeout_sec = ?5,
             max_concurrent = ?6, execution_mode = ?7, updated_at = strftime('%Y-%m-%dT%H:%M:%fZ', 'now')
         WHERE id = ?1",
        params![
            id,
            patch.alias.clone().unwrap_or(current.alias),
            patch.enabled.unwrap_or(current.enabled),
            patch.notify_enabled.unwrap_or(current.notify_enabled),
            patch.timeout_sec.unwrap_or(current.timeout_sec),
            patch.max_concurrent.unwrap_or(current.max_concurrent),
            patch.execution_mode.clone().unwrap_or(current.execution_mode),
        ],
    )?;
    by_id(conn, id)
}

pub fn live_by_path(conn: &Connection, path: &str) -> Result<Option<Script>, CatalogError> {
    by_path_live(conn, path)
}
