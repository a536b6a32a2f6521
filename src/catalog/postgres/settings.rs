//! Runtime settings stored in the database, on PostgreSQL.

use std::collections::BTreeMap;

use serde_json::Value;

use super::PgCatalog;
use crate::catalog::CatalogError;

impl PgCatalog {
    pub async fn stored_settings(&self) -> Result<BTreeMap<String, Value>, CatalogError> {
        let client = self.client().await?;
        let rows = client.query("SELECT key, value FROM settings", &[]).await?;
        Ok(rows
            .iter()
            .filter_map(|row| {
                let text: &str = row.get(1);
                serde_json::from_str(text).ok().map(|v| (row.get(0), v))
            })
            .collect())
    }

    pub async fn store_settings(&self, values: Vec<(String, Value)>) -> Result<(), CatalogError> {
        let mut client = self.client().await?;
        let tx = client.transaction().await?;
        let statement = tx
            .prepare_cached(
                "INSERT INTO settings (key, value) VALUES ($1, $2)
                 ON CONFLICT (key) DO UPDATE SET value = excluded.value, updated_at = sg_now()",
            )
            .await?;
        for (key, value) in &values {
            tx.execute(&statement, &[key, &serde_json::to_string(value)?])
                .await?;
        }
        tx.commit().await?;
        Ok(())
    }

    pub async fn remove_settings(&self, keys: Vec<String>) -> Result<(), CatalogError> {
        let client = self.client().await?;
        client
            .execute("DELETE FROM settings WHERE key = ANY($1)", &[&keys])
            .await?;
        Ok(())
    }
}
