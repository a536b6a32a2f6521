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
mod packages;
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
pub use packages::{package_set, MAX_PACKAGES};
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

/// The files the gateway writes under `DATA_DIR/deps_cache/.sg` for every run; each is
/// `None` when it could not be written (logged once, at start).
struct Provided {
    /// `file:` URL of the ES-module resolve hook.
    esm_hook: Option<String>,
    /// `python-compat`: the original gateway's helper modules and the Python SDK.
    python_helpers: Option<PathBuf>,
    /// `node/node_modules`: the JS SDK package.
    node_modules: Option<PathBuf>,
    /// `python-launch/sg_launch.py`: how Python SDK scripts are started.
    python_launcher: Option<PathBuf>,
}

impl Provided {
    fn write(support: &std::path::Path) -> Provided {
        let python = support.join("python-compat");
        let node = support.join("node/node_modules");
        Provided {
            esm_hook: written(
                env::write_esm_hook(support),
                "ES-module imports of dependencies and of the JS SDK will not resolve",
            ),
            python_helpers: written(
                compat::write_python_helpers(&python).map(|()| python),
                "Python scripts cannot import the script SDK or the original gateway's helper modules",
            ),
            node_modules: written(
                compat::write_node_helpers(&node).map(|()| node),
                "JS scripts cannot import the script SDK",
            ),
            python_launcher: written(
                compat::write_python_launcher(&support.join("python-launch")),
                "Python SDK scripts cannot start",
            ),
        }
    }
}

fn written<T>(result: std::io::Result<T>, consequence: &str) -> Option<T> {
    result
        .inspect_err(|error| tracing::warn!(%error, "{consequence}"))
        .ok()
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
    /// What the gateway gives every run besides its dependencies.
    provided: Provided,
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
        let provided = tokio::task::spawn_blocking(move || {
            prepared.prepare()?;
            Ok::<_, std::io::Error>(Provided::write(&prepared.support_dir()))
        })
        .await
        .map_err(|e| DepsError::Task(e.to_string()))??;
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
            provided,
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

    /// The launcher of Python SDK scripts, when it could be written.
    pub fn python_launcher(&self) -> Option<&std::path::Path> {
        self.provided.python_launcher.as_deref()
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
