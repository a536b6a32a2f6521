//! Who may call the API: the operator's master key (admin), and named keys stored hashed in
//! the catalog, each with a scope: `run` (run scripts, read scripts and runs) or `admin`.

use std::sync::atomic::{AtomicBool, Ordering};

use serde::Serialize;
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

use crate::catalog::{ApiKeyRecord, Catalog, CatalogError};
use crate::config::ApiKey;

const KEY_PREFIX: &str = "sgk_";

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Scope {
    Run,
    Admin,
}

impl Scope {
    pub fn parse(text: &str) -> Option<Scope> {
        match text {
            "run" => Some(Scope::Run),
            "admin" => Some(Scope::Admin),
            _ => None,
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Scope::Run => "run",
            Scope::Admin => "admin",
        }
    }

    /// `run` keys may run scripts, cancel runs, and read scripts and runs; `admin` may do anything.
    pub fn allows(self, method: &str, path: &str) -> bool {
        if self == Scope::Admin {
            return true;
        }
        let parts: Vec<&str> = path.trim_end_matches('/').split('/').collect();
        let reading = matches!(method, "GET" | "HEAD");
        match parts.as_slice() {
            ["", "api", "scripts", _, "run"] => matches!(method, "GET" | "HEAD" | "POST"),
            ["", "api", "runs", _, "cancel"] => method == "POST",
            ["", "api", "runs", ..] => reading,
            ["", "api", "scripts"] | ["", "api", "scripts", _] => reading,
            ["", "api", "scripts", _, "schema" | "swagger" | "curl"] => reading,
            _ => false,
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum AccessError {
    #[error("an API key is required: send Authorization: Bearer KEY or X-API-Key: KEY")]
    Missing,
    #[error("the API key is not valid")]
    Invalid,
    #[error("the API key was revoked")]
    Revoked,
    #[error(transparent)]
    Catalog(#[from] CatalogError),
}

/// A newly created key: the record, and the secret, shown this once.
#[derive(Debug, Clone, Serialize)]
pub struct CreatedKey {
    #[serde(flatten)]
    pub record: ApiKeyRecord,
    pub key: String,
}

pub struct Access {
    master: Option<ApiKey>,
    catalog: Catalog,
    named_keys_exist: AtomicBool,
}

impl Access {
    pub async fn new(master: Option<ApiKey>, catalog: Catalog) -> Result<Access, CatalogError> {
        let active = catalog.active_api_key_count().await? > 0;
        Ok(Access {
            master,
            catalog,
            named_keys_exist: AtomicBool::new(active),
        })
    }

    /// Keys are required once a master key is configured or any named key is active.
    pub fn required(&self) -> bool {
        self.master.is_some() || self.named_keys_exist.load(Ordering::SeqCst)
    }

    /// The scope a presented key grants.
    pub async fn check(&self, presented: Option<&str>) -> Result<Scope, AccessError> {
        let presented = presented.ok_or(AccessError::Missing)?;
        if let Some(master) = &self.master {
            if bool::from(presented.as_bytes().ct_eq(master.expose().as_bytes())) {
                return Ok(Scope::Admin);
            }
        }
        let found = self
            .catalog
            .find_api_key(hash(presented))
            .await?
            .ok_or(AccessError::Invalid)?;
        if found.revoked {
            return Err(AccessError::Revoked);
        }
        let catalog = self.catalog.clone();
        tokio::spawn(async move {
            if let Err(error) = catalog.touch_api_key(found.id).await {
                tracing::warn!(%error, "cannot record when a key was last used");
            }
        });
        Scope::parse(&found.scope).ok_or(AccessError::Invalid)
    }

    pub async fn create(&self, name: String, scope: Scope) -> Result<CreatedKey, CatalogError> {
        let key = generate_key();
        let prefix = key.chars().take(KEY_PREFIX.len() + 6).collect();
        let record = self
            .catalog
            .create_api_key(name, hash(&key), prefix, scope.as_str().to_string())
            .await?;
        self.named_keys_exist.store(true, Ordering::SeqCst);
        Ok(CreatedKey { record, key })
    }

    pub async fn revoke(&self, id: i64) -> Result<Option<ApiKeyRecord>, CatalogError> {
        let revoked = self.catalog.revoke_api_key(id).await?;
        let active = self.catalog.active_api_key_count().await? > 0;
        self.named_keys_exist.store(active, Ordering::SeqCst);
        Ok(revoked)
    }

    pub async fn list(&self) -> Result<Vec<ApiKeyRecord>, CatalogError> {
        self.catalog.api_keys().await
    }
}

fn generate_key() -> String {
    let mut bytes = [0u8; 32];
    getrandom::fill(&mut bytes).expect("the operating system provides randomness");
    format!("{KEY_PREFIX}{}", hex::encode(bytes))
}

fn hash(key: &str) -> String {
    hex::encode(Sha256::digest(key.as_bytes()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn run_keys_run_and_read_but_administer_nothing() {
        let cases = [
            ("POST", "/api/scripts/3/run", true),
            ("GET", "/api/scripts/3/run", true),
            ("GET", "/api/scripts", true),
            ("GET", "/api/scripts/3", true),
            ("GET", "/api/scripts/3/schema", true),
            ("GET", "/api/runs", true),
            ("GET", "/api/runs/9/files/out.csv", true),
            ("GET", "/api/runs/9/events", true),
            ("POST", "/api/runs/9/cancel", true),
            ("POST", "/api/scripts", false),
            ("PATCH", "/api/scripts/3", false),
            ("DELETE", "/api/scripts/3", false),
            ("PUT", "/api/scripts/3/content", false),
            ("GET", "/api/scripts/3/content", false),
            ("GET", "/api/settings", false),
            ("PUT", "/api/settings", false),
            ("GET", "/api/keys", false),
            ("POST", "/api/scan", false),
            ("POST", "/api/runs/cleanup", false),
            ("POST", "/api/scripts/3/dependencies/install", false),
            ("GET", "/api/scripts/3/environment", false),
        ];
        for (method, path, allowed) in cases {
            assert_eq!(Scope::Run.allows(method, path), allowed, "{method} {path}");
            assert!(Scope::Admin.allows(method, path));
        }
    }

    #[test]
    fn keys_are_long_random_and_stored_as_hashes() {
        let (a, b) = (generate_key(), generate_key());
        assert_ne!(a, b);
        assert!(a.starts_with("sgk_") && a.len() == 4 + 64, "{a}");
        assert_eq!(
            hash("x"),
            "2d711642b726b04401627ca9fbac32f5c8530fb1903cc4db02258717921a4881"
        );
    }
}
