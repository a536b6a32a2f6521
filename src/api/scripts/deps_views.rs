//! What the per-script dependency routes answer, built from the `deps` domain types (and,
//! for the environment, from the runner's own view of a run's variables).

use std::collections::BTreeMap;

use serde::Serialize;

use crate::catalog::{InstallLog, Script};
use crate::deps::{masked, BatchInstall, RunEnvironment, ScriptDeps, ScriptInstall};
use crate::domain::Runtime;
use crate::runner::RunEnvironmentView;

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

impl From<ScriptDeps> for ScriptDepsView {
    fn from(d: ScriptDeps) -> ScriptDepsView {
        ScriptDepsView {
            script_id: d.script_id,
            runtime: d.runtime,
            source_file: d.source_file,
            deps: d.deps,
            hash: d.hash,
            installed: d.installed,
            cache_dir: d.cache_dir,
            status: d.status,
            error: d.error,
            installer: d.installer,
            attempts: d.attempts,
            last_install: d.last_install.map(InstallLogView::from),
        }
    }
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

impl From<ScriptInstall> for ScriptInstallView {
    fn from(i: ScriptInstall) -> ScriptInstallView {
        ScriptInstallView {
            script_id: i.script_id,
            path: i.path,
            source_file: i.source_file,
            deps: i.deps,
            hash: i.hash,
            status: i.status,
            reused: i.reused,
            error: i.error,
            installer: i.installer,
            duration_ms: i.duration_ms,
            log: i.log,
        }
    }
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

impl From<BatchInstall> for BatchView {
    fn from(batch: BatchInstall) -> BatchView {
        let results: Vec<ScriptInstallView> = batch
            .results
            .into_iter()
            .map(ScriptInstallView::from)
            .collect();
        let count = |status: &str| results.iter().filter(|r| r.status == status).count();
        BatchView {
            ready: count("ready"),
            failed: count("failed"),
            none: count("none"),
            results,
            not_found: batch.not_found,
        }
    }
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

impl EnvironmentView {
    /// The view of a run of `script` started now: its dependencies' part from `deps`, the
    /// rest as the runner sets it.
    pub fn of(
        script: &Script,
        deps: RunEnvironment,
        preview: RunEnvironmentView,
    ) -> EnvironmentView {
        let (interpreter, interpreter_error) = match &deps.interpreter {
            Ok(path) => (Some(path.display().to_string()), None),
            Err(reason) => (None, Some(reason.clone())),
        };
        EnvironmentView {
            script_id: script.id,
            path: script.path.clone(),
            runtime: script.runtime,
            argv: std::iter::once(interpreter.clone().unwrap_or_default())
                .chain(
                    deps.argv_prefix
                        .iter()
                        .map(|a| a.to_string_lossy().into_owned()),
                )
                .chain(["<parameters as flags>".to_string()])
                .collect(),
            interpreter,
            interpreter_error,
            cwd: preview.cwd.display().to_string(),
            env: run_env_shown(preview.env, &deps),
            deps_installed: deps.deps_installed,
            deps_hash: script.deps_hash.clone(),
            deps_status: script.deps_status.clone(),
        }
    }
}

/// The variables a run starts with (as the runner sets them), secrets masked.
fn run_env_shown(
    mut env: Vec<(std::ffi::OsString, std::ffi::OsString)>,
    deps: &RunEnvironment,
) -> BTreeMap<String, String> {
    deps.deps.apply_to(&mut env);
    env.iter()
        .map(|(k, v)| {
            let key = k.to_string_lossy().to_string();
            let value = masked(&key, &v.to_string_lossy());
            (key, value)
        })
        .collect()
}
