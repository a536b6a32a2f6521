//! Who may call the API: the operator's master key (admin), and named keys stored hashed in
//! the catalog, each with a scope: `run` (run scripts, read scripts and runs), `metrics` (read
//! `/metrics`, nothing else), `exec` (interpreter sessions, nothing else) or `admin`; and the `Gate` each route declares, which says what
//! scope it asks of a key.

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use serde::Serialize;
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

use crate::catalog::{ApiKeyRecord, Catalog, CatalogError};
use crate::config::ApiKey;

const KEY_PREFIX: &str = "sgk_";

/// A key's `last_used_at` is written at most this often: without a bound every request made
/// with a named key would cost a write to the catalog.
const TOUCH_EVERY: Duration = Duration::from_secs(60);

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Scope {
    Run,
    Metrics,
    /// Interpreter sessions: arbitrary code, so a scope of its own that nothing else grants.
    Exec,
    Admin,
}

impl Scope {
    pub fn parse(text: &str) -> Option<Scope> {
        match text {
            "run" => Some(Scope::Run),
            "metrics" => Some(Scope::Metrics),
            "exec" => Some(Scope::Exec),
            "admin" => Some(Scope::Admin),
            _ => None,
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Scope::Run => "run",
            Scope::Metrics => "metrics",
            Scope::Exec => "exec",
            Scope::Admin => "admin",
        }
    }
}

/// What a route asks of the key presented to it, declared where the route is mounted.
/// Whatever the key, it is only asked for once keys are in use (`Access::required`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Gate {
    /// No key, ever (`/health`).
    Open,
    /// Any key, for every method: running a script, cancelling a run.
    Run,
    /// Any key to read (`GET`, `HEAD`); an admin key for anything else.
    RunReads,
    /// An admin key for every method.
    Admin,
    /// A metrics or admin key; no key at all while the `metrics_public` setting is on.
    Metrics,
    /// An exec or admin key, for every method: interpreter sessions.
    Exec,
}

impl Gate {
    /// Whether a key of `scope` may send `method` to a route behind this gate.
    pub fn admits(self, scope: Scope, method: &str) -> bool {
        match (self, scope) {
            (Gate::Open, _) | (_, Scope::Admin) | (Gate::Run, Scope::Run) => true,
            (Gate::RunReads, Scope::Run) => matches!(method, "GET" | "HEAD"),
            (Gate::Metrics, Scope::Metrics) | (Gate::Exec, Scope::Exec) => true,
            (Gate::Run | Gate::RunReads | Gate::Admin | Gate::Exec, Scope::Metrics)
            | (Gate::Admin | Gate::Metrics | Gate::Exec, Scope::Run)
            | (Gate::Run | Gate::RunReads | Gate::Admin | Gate::Metrics, Scope::Exec) => false,
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
    /// When each named key's `last_used_at` was last written by this gateway.
    touched: Mutex<HashMap<i64, Instant>>,
}

impl Access {
    pub async fn new(master: Option<ApiKey>, catalog: Catalog) -> Result<Access, CatalogError> {
        let active = catalog.active_api_key_count().await? > 0;
        Ok(Access {
            master,
            catalog,
            named_keys_exist: AtomicBool::new(active),
            touched: Mutex::new(HashMap::new()),
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
        if self.due_for_touch(found.id) {
            let catalog = self.catalog.clone();
            tokio::spawn(async move {
                if let Err(error) = catalog.touch_api_key(found.id).await {
                    tracing::warn!(%error, "cannot record when a key was last used");
                }
            });
        }
        Scope::parse(&found.scope).ok_or(AccessError::Invalid)
    }

    /// Whether key `id`'s last use should be written now (and, if so, notes that it is).
    fn due_for_touch(&self, id: i64) -> bool {
        let now = Instant::now();
        let mut touched = self
            .touched
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        let due = touched
            .get(&id)
            .is_none_or(|last| now.duration_since(*last) >= TOUCH_EVERY);
        if due {
            touched.insert(id, now);
        }
        due
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

    #[tokio::test]
    async fn a_keys_last_use_is_written_once_a_minute_at_most() {
        let dir = tempfile::tempdir().unwrap();
        let catalog = Catalog::open(&dir.path().join("catalog.db")).unwrap();
        let access = Access::new(None, catalog).await.unwrap();
        assert!(access.due_for_touch(1), "the first use is written");
        assert!(
            !access.due_for_touch(1),
            "the next one within a minute is not"
        );
        assert!(access.due_for_touch(2), "another key's first use is");
        let long_ago = Instant::now().checked_sub(TOUCH_EVERY).unwrap();
        access.touched.lock().unwrap().insert(1, long_ago);
        assert!(
            access.due_for_touch(1),
            "a minute later it is written again"
        );
    }

    #[test]
    fn run_keys_pass_run_gates_and_read_gates_only_to_read() {
        use Gate::*;
        let cases = [
            (Open, "DELETE", true),
            (Run, "POST", true),
            (Run, "GET", true),
            (Run, "PUT", true),
            (RunReads, "GET", true),
            (RunReads, "HEAD", true),
            (RunReads, "POST", false),
            (RunReads, "PATCH", false),
            (RunReads, "DELETE", false),
            (RunReads, "OPTIONS", false),
            (Admin, "GET", false),
            (Admin, "POST", false),
        ];
        for (gate, method, allowed) in cases {
            assert_eq!(
                gate.admits(Scope::Run, method),
                allowed,
                "{gate:?} {method}"
            );
            assert!(gate.admits(Scope::Admin, method), "{gate:?} {method}");
        }
    }

    #[test]
    fn metrics_keys_pass_only_the_metrics_gate_and_run_keys_do_not_pass_it() {
        use Gate::*;
        let cases = [
            (Open, Scope::Metrics, true),
            (Metrics, Scope::Metrics, true),
            (Metrics, Scope::Admin, true),
            (Metrics, Scope::Run, false),
            (Run, Scope::Metrics, false),
            (RunReads, Scope::Metrics, false),
            (Admin, Scope::Metrics, false),
        ];
        for (gate, scope, allowed) in cases {
            assert_eq!(gate.admits(scope, "GET"), allowed, "{gate:?} {scope:?}");
        }
        assert_eq!(Scope::parse("metrics"), Some(Scope::Metrics));
    }

    #[test]
    fn exec_keys_pass_only_the_exec_gate_and_only_exec_and_admin_keys_pass_it() {
        use Gate::*;
        let cases = [
            (Exec, Scope::Exec, true),
            (Exec, Scope::Admin, true),
            (Exec, Scope::Run, false),
            (Exec, Scope::Metrics, false),
            (Run, Scope::Exec, false),
            (RunReads, Scope::Exec, false),
            (Admin, Scope::Exec, false),
            (Metrics, Scope::Exec, false),
        ];
        for (gate, scope, allowed) in cases {
            for method in ["GET", "POST", "DELETE"] {
                assert_eq!(
                    gate.admits(scope, method),
                    allowed,
                    "{gate:?} {scope:?} {method}"
                );
            }
        }
        assert_eq!(Scope::parse("exec"), Some(Scope::Exec));
        assert_eq!(Scope::Exec.as_str(), "exec");
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
