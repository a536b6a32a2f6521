//! SQL for named API keys: stored as SHA-256 hashes with a scope, revoked in place, touched
//! when used.

use rusqlite::{params, Connection, OptionalExtension, Row};
use serde::Serialize;

use super::CatalogError;

/// A named key as listed (never with its secret).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ApiKeyRecord {
    pub id: i64,
    pub name: String,
    pub prefix: String,
    pub scope: String,
    pub created_at: String,
    pub last_used_at: Option<String>,
    pub revoked_at: Option<String>,
}

/// What a presented key resolves to.
#[derive(Debug, Clone, PartialEq)]
pub struct KeyMatch {
    pub id: i64,
    pub scope: String,
    pub revoked: bool,
}

const COLUMNS: &str = "id, name, prefix, scope, created_at, last_used_at, revoked_at";

fn from_row(row: &Row<'_>) -> rusqlite::Result<ApiKeyRecord> {
    Ok(ApiKeyRecord {
        id: row.get(0)?,
        name: row.get(1)?,
        prefix: row.get(2)?,
        scope: row.get(3)?,
        created_at: row.get(4)?,
        last_used_at: row.get(5)?,
        revoked_at: row.get(6)?,
    })
}

pub fn insert(
    conn: &Connection,
    name: &str,
    key_hash: &str,
    prefix: &str,
    scope: &str,
) -> Result<ApiKeyRecord, CatalogError> {
    conn.execute(
        "INSERT INTO api_keys (name, key_hash, prefix, scope) VALUES (?1, ?2, ?3, ?4)",
        params![name, key_hash, prefix, scope],
    )?;
    let id = conn.last_insert_rowid();
    Ok(conn.query_row(
        &format!("SELECT {COLUMNS} FROM api_keys WHERE id = ?1"),
        [id],
        from_row,
    )?)
}

pub fn list(conn: &Connection) -> Result<Vec<ApiKeyRecord>, CatalogError> {
    let mut statement = conn.prepare(&format!("SELECT {COLUMNS} FROM api_keys ORDER BY id"))?;
    let rows = statement.query_map([], from_row)?;
    Ok(rows.collect::<Result<Vec<_>, _>>()?)
}

/// Revokes a key; false when there is no such key.
pub fn revoke(conn: &Connection, id: i64) -> Result<Option<ApiKeyRecord>, CatalogError> {
    conn.execute(
        "UPDATE api_keys SET revoked_at = COALESCE(revoked_at, strftime('%Y-%m-%dT%H:%M:%fZ', 'now')) WHERE id = ?1",
        [id],
    )?;
    Ok(conn
        .query_row(
            &format!("SELECT {COLUMNS} FROM api_keys WHERE id = ?1"),
            [id],
            from_row,
        )
        .optional()?)
}

pub fn find(conn: &Connection, key_hash: &str) -> Result<Option<KeyMatch>, CatalogError> {
    Ok(conn
        .query_row(
            "SELECT id, scope, revoked_at FROM api_keys WHERE key_hash = ?1",
            [key_hash],
            |row| {
                let revoked: Option<String> = row.get(2)?;
                Ok(KeyMatch {
                    id: row.get(0)?,
                    scope: row.get(1)?,
                    revoked: revoked.is_some(),
                })
            },
        )
        .optional()?)
}

pub fn touch(conn: &Connection, id: i64) -> Result<(), CatalogError> {
    conn.execute(
        "UPDATE api_keys SET last_used_at = strftime('%Y-%m-%dT%H:%M:%fZ', 'now') WHERE id = ?1",
        [id],
    )?;
    Ok(())
}

pub fn active_count(conn: &Connection) -> Result<i64, CatalogError> {
    Ok(conn.query_row(
        "SELECT COUNT(*) FROM api_keys WHERE revoked_at IS NULL",
        [],
        |r| r.get(0),
    )?)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::catalog::Catalog;

    #[test]
    fn keys_are_found_by_hash_and_revoked() {
        let dir = tempfile::tempdir().unwrap();
        let catalog = Catalog::open(&dir.path().join("gateway.db")).unwrap();
        let conn = catalog.pool().get().unwrap();
        let key = insert(&conn, "ci", "hash1", "sgk_ab12", "run").unwrap();
        assert_eq!(
            (
                key.name.as_str(),
                key.scope.as_str(),
                key.revoked_at.is_none()
            ),
            ("ci", "run", true)
        );
        assert_eq!(
            find(&conn, "hash1").unwrap(),
            Some(KeyMatch {
                id: key.id,
                scope: "run".into(),
                revoked: false
            })
        );
        assert_eq!(find(&conn, "other").unwrap(), None);
        assert_eq!(active_count(&conn).unwrap(), 1);
        touch(&conn, key.id).unwrap();
        assert!(list(&conn).unwrap()[0].last_used_at.is_some());
        assert!(revoke(&conn, key.id).unwrap().unwrap().revoked_at.is_some());
        assert!(find(&conn, "hash1").unwrap().unwrap().revoked);
        assert_eq!(active_count(&conn).unwrap(), 0);
        assert_eq!(revoke(&conn, 99).unwrap(), None);
    }
}
