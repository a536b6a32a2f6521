//! SQL for runtime settings stored in the database (the highest-priority source).

use std::collections::BTreeMap;

use rusqlite::{params, Connection};
use serde_json::Value;

use super::CatalogError;

pub fn load(conn: &Connection) -> Result<BTreeMap<String, Value>, CatalogError> {
    let mut statement = conn.prepare("SELECT key, value FROM settings")?;
    let rows = statement.query_map([], |row| {
        Ok((row.get::<_, String>(0)?, row.get::<_, String>(1)?))
    })?;
    let mut settings = BTreeMap::new();
    for row in rows {
        let (key, text) = row?;
        if let Ok(value) = serde_json::from_str(&text) {
            settings.insert(key, value);
        }
    }
    Ok(settings)
}

pub fn store(conn: &mut Connection, values: &[(String, Value)]) -> Result<(), CatalogError> {
    let tx = conn.transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)?;
    for (key, value) in values {
        tx.execute(
            "INSERT INTO settings (key, value) VALUES (?1, ?2)
             ON CONFLICT (key) DO UPDATE SET value = excluded.value,
                 updated_at = strftime('%Y-%m-%dT%H:%M:%fZ', 'now')",
            params![key, serde_json::to_string(value)?],
        )?;
    }
    tx.commit()?;
    Ok(())
}

pub fn remove(conn: &Connection, keys: &[String]) -> Result<(), CatalogError> {
    for key in keys {
        conn.execute("DELETE FROM settings WHERE key = ?1", [key])?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::catalog::Catalog;
    use serde_json::json;

    #[test]
    fn settings_round_trip() {
        let dir = tempfile::tempdir().unwrap();
        let catalog = Catalog::open(&dir.path().join("gateway.db")).unwrap();
        let mut conn = catalog.pool().get().unwrap();
        store(
            &mut conn,
            &[
                ("timeout_sec".into(), json!(5.5)),
                ("notify_url".into(), json!("http://x")),
            ],
        )
        .unwrap();
        store(&mut conn, &[("timeout_sec".into(), json!(7))]).unwrap();
        let loaded = load(&conn).unwrap();
        assert_eq!(
            loaded,
            BTreeMap::from([
                ("notify_url".into(), json!("http://x")),
                ("timeout_sec".into(), json!(7))
            ])
        );
        remove(&conn, &["notify_url".into()]).unwrap();
        assert_eq!(load(&conn).unwrap().len(), 1);
    }
}
