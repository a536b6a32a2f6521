//! Per-script dependency caches. A script's dependency file is normalised into a set and
//! keyed by its MD5; identical sets share one cache under `DATA_DIR/deps_cache/`. Installs
//! run through `process` (uv or pip, npm), one per key at a time, built in a temporary
//! folder, renamed into place and marked complete last. Failures are remembered per key.
//!
//! Runs call [`DepsManager::prepare_for_run`]; the scanner calls [`DepsManager::sync_scan`]
//! and [`DepsManager::extraction_env`]; the API calls the rest.

mod caches;
mod compat;
mod env;
mod for_run;
mod install;
mod installer;
mod locate;
mod package_json;
mod report;
mod requirements;
mod set;
mod shared;
mod store;
mod sync;

use std::collections::{HashMap, HashSet};
use std::ffi::OsString;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::Instant;

use tokio::sync::{broadcast, Semaphore};

use crate::catalog::{Catalog, CatalogError};
use crate::config::DepsSettings;
use crate::process::Interpreters;

pub use caches::{CacheState, CacheUser, CleanupReport, RemovedCache};
pub use env::{masked, RunDeps};
pub use install::{InstallReport, Trigger};
pub use locate::{declared_for, Declared};
pub use report::{BatchInstall, RunEnvironment, ScriptDeps, ScriptInstall};
pub use set::{DepSet, DepsKey};
pub use shared::{SharedDep, SharedInstall, SharedPackage, SharedSet};
pub use sync::ScriptDeclared;

/// The normalised entries of a dependency file's text (a requirements.txt for Python, a
/// package.json for JS), or why it is refused; relative paths count from `base_dir`.
pub fn parse_declaration(
    runtime: crate::domain::Runtime,
    text: &str,
    base_dir: &std::path::Path,
) -> Result<Vec<String>, String> {
    match runtime {
        crate::domain::Runtime::Python => requirements::parse(text, base_dir),
        crate::domain::Runtime::Js => package_json::parse(text, base_dir),
    }
}

use env::Leases;
use installer::Installer;
use store::CacheStore;

/// Installs that may run at once (each is a network- and CPU-heavy child process).
const CONCURRENT_INSTALLS: usize = 2;

#[derive(Debug, thiserror::Error)]
pub enum DepsError {
    #[error("no script with id {0}")]
    ScriptNotFound(i64),
    #[error("{0}")]
    InvalidRequest(String),
    /// A run (or an install request) met dependencies that cannot be installed.
    #[error("the dependencies of {path} could not be installed: {reason}")]
    InstallFailed {
        path: String,
        reason: String,
        /// The installer's output (its tail), empty for a malformed dependency file.
        log: String,
    },
    #[error(transparent)]
    Catalog(#[from] CatalogError),
    #[error("dependency cache error: {0}")]
    Io(#[from] std::io::Error),
    #[error("dependency task failed: {0}")]
    Task(String),
}

/// What the manager is built from.
pub struct DepsParts {
    pub catalog: Catalog,
    pub settings: DepsSettings,
    pub interpreters: Arc<Interpreters>,
    /// `DATA_DIR/deps_cache`.
    pub cache_root: PathBuf,
    pub scripts_repo: PathBuf,
    pub child_path: OsString,
}

/// Owns the dependency caches; share it as `Arc<DepsManager>`.
pub struct DepsManager {
    catalog: Catalog,
    store: CacheStore,
    installer: Installer,
    interpreters: Arc<Interpreters>,
    scripts_repo: PathBuf,
    /// `file:` URL of the ES-module resolve hook, when it could be written.
    esm_hook: Option<String>,
    /// Where the original gateway's helper modules for Python were written, if they could be.
    python_helpers: Option<PathBuf>,
    locks: Mutex<HashMap<DepsKey, Arc<tokio::sync::Mutex<()>>>>,
    leases: Arc<Leases>,
    installs: Semaphore,
    /// Keys a background install was started for and has not finished.
    pending: Mutex<HashSet<DepsKey>>,
    /// When each cache's `last_used_at` was last written (written at most once a minute).
    touched: Mutex<HashMap<DepsKey, Instant>>,
    finished: broadcast::Sender<DepsKey>,
    shared_lock: tokio::sync::Mutex<()>,
}

impl DepsManager {
    /// The gateway's own folder beside the caches (helper modules, resolve hook, fork servers).
    pub fn support_dir(&self) -> PathBuf {
        self.store.support_dir()
    }

    /// Prepares `DATA_DIR/deps_cache` (clearing what an interrupted install left) and
    /// forgets installs a stopped gateway never finished.
    pub async fn open(parts: DepsParts) -> Result<Arc<DepsManager>, DepsError> {
        let store = CacheStore::new(parts.cache_root);
        let prepared = store.clone();
        let (esm_hook, python_helpers) = tokio::task::spawn_blocking(move || {
            prepared.prepare()?;
            let support = prepared.support_dir();
            let helpers = support.join("python-compat");
            let written = compat::write_python_helpers(&helpers).map(|()| helpers);
            Ok::<_, std::io::Error>((env::write_esm_hook(&support), written))
        })
        .await
        .map_err(|e| DepsError::Task(e.to_string()))??;
        let esm_hook = esm_hook
            .inspect_err(|error| tracing::warn!(%error, "ES-module imports of dependencies will not resolve"))
            .ok();
        let python_helpers = python_helpers
            .inspect_err(|error| tracing::warn!(%error, "scripts written for the original gateway cannot import its helper modules"))
            .ok();
        parts.catalog.forget_unfinished_dep_installs().await?;
        let installer = Installer::new(
            parts.settings,
            parts.interpreters.clone(),
            parts.child_path.clone(),
            store.home(),
        );
        tracing::info!(
            python = installer.python_tool(),
            "dependency installer chosen"
        );
        Ok(Arc::new(DepsManager {
            catalog: parts.catalog,
            store,
            installer,
            interpreters: parts.interpreters,
            scripts_repo: parts.scripts_repo,
            esm_hook,
            python_helpers,
            locks: Mutex::default(),
            leases: Arc::default(),
            installs: Semaphore::new(CONCURRENT_INSTALLS),
            pending: Mutex::default(),
            touched: Mutex::default(),
            finished: broadcast::channel(64).0,
            shared_lock: tokio::sync::Mutex::new(()),
        }))
    }

    /// Tells of every install that finished successfully (the scanner re-extracts the
    /// schemas of the scripts using that set).
    pub fn installed(&self) -> broadcast::Receiver<DepsKey> {
        self.finished.subscribe()
    }

    /// `uv` or `pip`: what installs Python sets.
    pub fn python_installer(&self) -> &'static str {
        self.installer.python_tool()
    }

    /// The lock that makes installs of one key take turns.
    fn lock_for(&self, key: &DepsKey) -> Arc<tokio::sync::Mutex<()>> {
        let mut locks = self.locks.lock().expect("the lock table is never poisoned");
        locks.entry(key.clone()).or_default().clone()
    }

    async fn blocking<T, F>(&self, work: F) -> Result<T, DepsError>
    where
        T: Send + 'static,
        F: FnOnce(CacheStore) -> T + Send + 'static,
    {
        let store = self.store.clone();
        tokio::task::spawn_blocking(move || work(store))
            .await
            .map_err(|e| DepsError::Task(e.to_string()))
    }
}
