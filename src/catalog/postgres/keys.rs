//! Named API keys on PostgreSQL: SHA-256 hashes with a scope, revoked in place.

use tokio_postgres::Row;

use super::PgCatalog;
use crate::catalog::{ApiKeyRecord, CatalogError, KeyMatch};

const COLUMNS: &str = "id, name, prefix, scope, created_at, last_used_at, revoked_at";

fn from_row(row: &Row) -> ApiKeyRecord {
    ApiKeyRecord {
        id: row.get(0),
        name: row.get(1),
        prefix: row.get(2),
        scope: row.get(3),
        created_at: row.get(4),
        last_used_at: row.get(5),
        revoked_at: row.get(6),
    }
}

impl PgCatalog {
    pub async fn create_api_key(
        &self,
        name: String,
        key_hash: String,
        prefix: String,
        scope: String,
    ) -> Result<ApiKeyRecord, CatalogError> {
        let client = self.client().await?;
        let row = client
            .query_one(
                &format!(
                    "INSERT INTO api_keys (name, key_hash, prefix, scope) VALUES ($1, $2, $3, $4)
                     RETURNING {COLUMNS}"
                ),
                &[&name, &key_hash, &prefix, &scope],
            )
            .await?;
        Ok(from_row(&row))
    }

    pub async fn api_keys(&self) -> Result<Vec<ApiKeyRecord>, CatalogError> {
        let client = self.client().await?;
        let rows = client
            .query(&format!("SELECT {COLUMNS} FROM api_keys ORDER BY id"), &[])
            .await?;
        Ok(rows.iter().map(from_row).collect())
    }

    pub async fn revoke_api_key(&self, id: i64) -> Result<Option<ApiKeyRecord>, CatalogError> {
        let client = self.client().await?;
        let row = client
            .query_opt(
                &format!(
                    "UPDATE api_keys SET revoked_at = COALESCE(revoked_at, sg_now()) WHERE id = $1
                     RETURNING {COLUMNS}"
                ),
                &[&id],
            )
            .await?;
        Ok(row.as_ref().map(from_row))
    }

    pub async fn find_api_key(&self, key_hash: String) -> Result<Option<KeyMatch>, CatalogError> {
        let client = self.client().await?;
        let statement = client
            .prepare_cached(
                "SELECT id, scope, revoked_at IS NOT NULL FROM api_keys WHERE key_hash = $1",
            )
            .await?;
        let row = client.query_opt(&statement, &[&key_hash]).await?;
        Ok(row.map(|row| KeyMatch {
            id: row.get(0),
            scope: row.get(1),
            revoked: row.get(2),
        }))
    }

    pub async fn touch_api_key(&self, id: i64) -> Result<(), CatalogError> {
        let client = self.client().await?;
        client
            .execute(
                "UPDATE api_keys SET last_used_at = sg_now() WHERE id = $1",
                &[&id],
            )
            .await?;
        Ok(())
    }

    pub async fn active_api_key_count(&self) -> Result<i64, CatalogError> {
        let client = self.client().await?;
        let row = client
            .query_one(
                "SELECT COUNT(*) FROM api_keys WHERE revoked_at IS NULL",
                &[],
            )
            .await?;
        Ok(row.get(0))
    }
}
