//! What the per-script dependency endpoints answer.

use std::collections::BTreeMap;
use std::sync::Arc;

use futures_util::future::join_all;
use serde::Serialize;

use crate::catalog::{InstallLog, Script};
use crate::domain::Runtime;

use super::env::{masked, RunDeps};
use super::install::Trigger;
use super::locate::Declared;
use super::set::DepsKey;
use super::sync::ScriptDeclared;
use super::{DepsError, DepsManager};

/// `GET /api/scripts/{id}/dependencies`.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct ScriptDepsView {
    pub script_id: i64,
    #[schema(value_type = String, example = "python")]
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
    #[schema(value_type = String)]
    pub installer: &'static str,
    pub attempts: i64,
    pub last_install: Option<InstallLogView>,
}

#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct InstallLogView {
    pub id: i64,
    pub trigger: String,
    pub status: String,
    pub command: Option<String>,
    pub started_at: String,
    pub finished_at: Option<String>,
    pub duration_ms: Option<i64>,
    pub log: Option<String>,
}

impl From<InstallLog> for InstallLogView {
    fn from(l: InstallLog) -> InstallLogView {
        InstallLogView {
            id: l.id,
            trigger: l.trigger,
            status: l.status,
            command: l.command,
            started_at: l.started_at,
            finished_at: l.finished_at,
            duration_ms: l.duration_ms,
            log: l.log,
        }
    }
}

/// `POST /api/scripts/{id}/dependencies/install`, and one item of a batch.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct ScriptInstallView {
    pub script_id: i64,
    pub path: String,
    pub source_file: Option<String>,
    pub deps: Vec<String>,
    pub hash: Option<String>,
    /// `ready`, `failed`, or `none` (no dependencies).
    #[schema(value_type = String)]
    pub status: &'static str,
    /// Nothing was installed (already installed, or a remembered failure).
    pub reused: bool,
    pub error: Option<String>,
    #[schema(value_type = Option<String>)]
    pub installer: Option<&'static str>,
    pub duration_ms: Option<i64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub log: Option<String>,
}

/// `POST /api/scripts/batch/dependencies/install`.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct BatchView {
    pub results: Vec<ScriptInstallView>,
    pub not_found: Vec<i64>,
    pub ready: usize,
    pub failed: usize,
    pub none: usize,
}

/// `GET /api/scripts/{id}/environment`: what a run of the script gets.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct EnvironmentView {
    pub script_id: i64,
    pub path: String,
    #[schema(value_type = String, example = "python")]
    pub runtime: Runtime,
    pub interpreter: Option<String>,
    pub interpreter_error: Option<String>,
    /// `{run_id}` stands for the id each run gets.
    pub argv: Vec<String>,
    pub cwd: String,
    /// Every variable the child starts with (nothing else is inherited); secrets masked.
    pub env: BTreeMap<String, String>,
    pub deps_hash: Option<String>,
    pub deps_status: Option<String>,
    pub deps_installed: bool,
}

impl DepsManager {
    pub async fn script_deps(&self, script: &Script) -> Result<ScriptDepsView, DepsError> {
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
        Ok(ScriptDepsView {
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
            last_install: last.map(InstallLogView::from),
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
    ) -> Result<ScriptInstallView, DepsError> {
        let declared = self.declared(script).await?;
        self.record(script, &declared).await?;
        let mut view = ScriptInstallView {
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
    ) -> Result<BatchView, DepsError> {
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
        let count = |status: &str| results.iter().filter(|r| r.status == status).count();
        Ok(BatchView {
            ready: count("ready"),
            failed: count("failed"),
            none: count("none"),
            results,
            not_found,
        })
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

    pub async fn environment(&self, script: &Script) -> Result<EnvironmentView, DepsError> {
        let run_dir = self.runs_dir.join("{run_id}");
        let key = script.deps_hash.clone().map(|hash| DepsKey {
            runtime: script.runtime,
            hash,
        });
        let script_file = self.scripts_repo.join(&script.path);
        let (interpreter, interpreter_error) = match self.interpreters.executable(script.runtime) {
            Ok(path) => (Some(path.display().to_string()), None),
            Err(reason) => (None, Some(reason)),
        };
        Ok(EnvironmentView {
            script_id: script.id,
            path: script.path.clone(),
            runtime: script.runtime,
            argv: vec![
                interpreter.clone().unwrap_or_default(),
                script_file.display().to_string(),
                "<parameters as flags>".into(),
            ],
            interpreter,
            interpreter_error,
            cwd: run_dir.join("work").display().to_string(),
            env: self.run_env_shown(script, &run_dir, key.as_ref()),
            deps_installed: key.as_ref().is_none_or(|k| self.store.is_complete(k)),
            deps_hash: script.deps_hash.clone(),
            deps_status: script.deps_status.clone(),
        })
    }

    /// The variables a run starts with (as the runner sets them), secrets masked.
    fn run_env_shown(
        &self,
        script: &Script,
        run_dir: &std::path::Path,
        key: Option<&DepsKey>,
    ) -> BTreeMap<String, String> {
        let run_dir = crate::runner::RunDir {
            root: run_dir.to_path_buf(),
        };
        let mut env = crate::runner::run_env(&self.child_path, &run_dir, "{run_id}", script);
        let cache = key.map(|k| self.store.dir(k));
        let script_file = self.scripts_repo.join(&script.path);
        let deps = self.env_for(script.runtime, &script_file, cache.as_deref());
        RunDeps::new(None, None, deps, None).apply_to(&mut env);
        env.iter()
            .map(|(k, v)| {
                let key = k.to_string_lossy().to_string();
                let value = masked(&key, &v.to_string_lossy());
                (key, value)
            })
            .collect()
    }
}
