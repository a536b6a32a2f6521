//! What can be told about one script's dependencies: its set and install state, installs on
//! request (one script or a batch), and what they add to a run's environment.

use std::path::PathBuf;
use std::sync::Arc;

use futures_util::future::join_all;

use crate::catalog::{InstallLog, Script};
use crate::domain::Runtime;

use super::env::RunDeps;
use super::install::Trigger;
use super::locate::Declared;
use super::set::DepsKey;
use super::sync::ScriptDeclared;
use super::{DepsError, DepsManager};

/// One script's dependencies: what it declares on disk and the state of their install.
#[derive(Debug)]
pub struct ScriptDeps {
    pub script_id: i64,
    pub runtime: Runtime,
    /// The dependency file, relative to scripts_repo (`None` without one).
    pub source_file: Option<String>,
    /// The normalised set.
    pub deps: Vec<String>,
    pub hash: Option<String>,
    /// A run needs no install first (true for a script without dependencies).
    pub installed: bool,
    pub cache_dir: Option<String>,
    /// `installing`, `ready` or `failed`; `not_installed` for a set not yet picked up; `None` without dependencies.
    pub status: Option<String>,
    pub error: Option<String>,
    /// `uv`, `pip` or `npm`.
    pub installer: &'static str,
    pub attempts: i64,
    pub last_install: Option<InstallLog>,
}

/// The outcome of installing one script's set on request.
#[derive(Debug)]
pub struct ScriptInstall {
    pub script_id: i64,
    pub path: String,
    pub source_file: Option<String>,
    pub deps: Vec<String>,
    pub hash: Option<String>,
    /// `ready`, `failed`, or `none` (no dependencies).
    pub status: &'static str,
    /// Nothing was installed (already installed, or a remembered failure).
    pub reused: bool,
    pub error: Option<String>,
    pub installer: Option<&'static str>,
    pub duration_ms: Option<i64>,
    pub log: Option<String>,
}

/// The outcome of installing several scripts' sets: one result per script found.
#[derive(Debug)]
pub struct BatchInstall {
    pub results: Vec<ScriptInstall>,
    pub not_found: Vec<i64>,
}

/// What dependencies add to a run of a script, as the runner would start it now: the
/// interpreter, the run folder (with `{run_id}` for the id), the dependency variables.
#[derive(Debug)]
pub struct RunEnvironment {
    /// The interpreter, or why there is none.
    pub interpreter: Result<PathBuf, String>,
    /// The interpreter's arguments before the parameters (the launcher, for an SDK script).
    pub argv_prefix: Vec<std::ffi::OsString>,
    /// The variables the script's dependencies (and the shared set) add.
    pub deps: RunDeps,
    /// Its set is installed (true without dependencies).
    pub deps_installed: bool,
}

impl DepsManager {
    pub async fn script_deps(&self, script: &Script) -> Result<ScriptDeps, DepsError> {
        let declared = self.declared(script).await?;
        let key = declared.key();
        let installed = key.as_ref().is_none_or(|k| self.store.is_complete(k));
        let (status, error) = self.status_of(&declared, key.as_ref(), installed).await?;
        let (last, attempts) = match &key {
            Some(k) => {
                self.catalog
                    .last_dep_install(k.runtime, k.hash.clone())
                    .await?
            }
            None => (None, 0),
        };
        Ok(ScriptDeps {
            script_id: script.id,
            runtime: script.runtime,
            deps: declared
                .set
                .iter()
                .flatten()
                .flat_map(|s| s.entries.clone())
                .collect(),
            source_file: declared.file,
            installed,
            cache_dir: key
                .as_ref()
                .map(|k| self.store.dir(k).display().to_string()),
            hash: key.map(|k| k.hash),
            status,
            error,
            installer: self.tool_for(script.runtime),
            attempts,
            last_install: last,
        })
    }

    /// The status (and failure) of what a script declares on disk now.
    async fn status_of(
        &self,
        declared: &Declared,
        key: Option<&DepsKey>,
        installed: bool,
    ) -> Result<(Option<String>, Option<String>), DepsError> {
        let status = |s: &str| Some(s.to_string());
        Ok(match (&declared.set, key) {
            (Err(reason), _) => (status("failed"), Some(reason.clone())),
            (_, None) => (None, None),
            (_, Some(_)) if installed => (status("ready"), None),
            (_, Some(k)) => match self.catalog.dep_cache(k.runtime, k.hash.clone()).await? {
                Some(cache) => (status(cache.status.as_str()), cache.error),
                None if self.is_pending(k) => (status("installing"), None),
                None => (status("not_installed"), None),
            },
        })
    }

    fn tool_for(&self, runtime: Runtime) -> &'static str {
        match runtime {
            Runtime::Python => self.installer.python_tool(),
            Runtime::Js => "npm",
        }
    }

    /// Reads the script's dependency file now, records it, and installs the set (again,
    /// when `force`); waits for the install and answers with its log.
    pub async fn install_script(
        self: &Arc<Self>,
        script: &Script,
        force: bool,
    ) -> Result<ScriptInstall, DepsError> {
        let declared = self.declared(script).await?;
        self.record(script, &declared).await?;
        let mut view = ScriptInstall {
            script_id: script.id,
            path: script.path.clone(),
            source_file: declared.file.clone(),
            deps: Vec::new(),
            hash: None,
            status: "none",
            reused: true,
            error: None,
            installer: None,
            duration_ms: None,
            log: None,
        };
        match declared.set {
            Ok(None) => {}
            Err(reason) => (view.status, view.error) = ("failed", Some(reason)),
            Ok(Some(set)) => {
                let report = self.ensure(&set, Trigger::Api, force).await?;
                view.deps = set.entries;
                view.hash = Some(report.hash);
                view.status = report.status;
                view.reused = report.reused;
                view.error = report.error;
                view.installer = report.installer;
                view.duration_ms = report.duration_ms;
                view.log = report.log;
            }
        }
        Ok(view)
    }

    /// Installs the sets of several scripts (`None`: every script with a dependency file),
    /// at most two installers at a time; logs are left out (each script's endpoint has them).
    pub async fn install_batch(
        self: &Arc<Self>,
        ids: Option<Vec<i64>>,
        force: bool,
    ) -> Result<BatchInstall, DepsError> {
        let (scripts, not_found) = self.scripts_for_batch(ids).await?;
        let installs = scripts
            .iter()
            .map(|script| self.install_script(script, force));
        let mut results = Vec::new();
        for result in join_all(installs).await {
            let mut view = result?;
            view.log = None;
            results.push(view);
        }
        Ok(BatchInstall { results, not_found })
    }

    async fn scripts_for_batch(
        &self,
        ids: Option<Vec<i64>>,
    ) -> Result<(Vec<Script>, Vec<i64>), DepsError> {
        let ids = match ids {
            Some(ids) => ids,
            None => {
                let rows = self.catalog.script_deps_rows().await?;
                rows.into_iter()
                    .filter(|r| r.state.file.is_some())
                    .map(|r| r.id)
                    .collect()
            }
        };
        let (mut scripts, mut not_found) = (Vec::new(), Vec::new());
        for id in ids {
            match self.catalog.script(id).await? {
                Some(script) if !scripts.iter().any(|s: &Script| s.id == id) => {
                    scripts.push(script)
                }
                Some(_) => {}
                None => not_found.push(id),
            }
        }
        Ok((scripts, not_found))
    }

    /// Records what one script declares (without starting a background install).
    async fn record(
        self: &Arc<Self>,
        script: &Script,
        declared: &Declared,
    ) -> Result<(), DepsError> {
        let one = ScriptDeclared {
            path: script.path.clone(),
            runtime: script.runtime,
            declared: declared.clone(),
        };
        self.record_states(vec![one]).await.map(drop)
    }

    /// What dependencies add to a run of `script` started now (the runner adds the rest).
    pub fn run_environment(&self, script: &Script) -> RunEnvironment {
        let key = script.deps_hash.clone().map(|hash| DepsKey {
            runtime: script.runtime,
            hash,
        });
        let script_file = self.scripts_repo.join(&script.path);
        let cache = key.as_ref().map(|k| self.store.dir(k));
        let deps = self.env_for(script.runtime, &script_file, cache.as_deref());
        let argv_prefix = script
            .entry
            .argv_prefix(&script_file, self.python_launcher())
            .unwrap_or_else(|_| vec![script_file.into()]);
        RunEnvironment {
            argv_prefix,
            interpreter: self
                .interpreters
                .executable(script.runtime)
                .map(|path| path.to_path_buf()),
            deps: RunDeps::new(None, None, deps, None),
            deps_installed: key.as_ref().is_none_or(|k| self.store.is_complete(k)),
        }
    }
}
