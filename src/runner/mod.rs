//! Runs scripts: validated argv, a slot under the concurrency limits (or a place in the
//! queue), its own folder, environment and limits, live output, cancellation, and a
//! record in the catalog from the moment it is accepted to its end. This file holds the
//! `Runner` and its errors; each job around a run has a module of its own.

mod admission;
mod aftermath;
mod environment;
mod event_log;
mod exec;
mod execution;
mod live;
mod outcome;
mod registry;
mod script_file;
mod stop;
mod subject;
mod submit;
mod workspace;

use std::ffi::OsString;
use std::path::PathBuf;
use std::sync::atomic::AtomicBool;
use std::sync::Arc;

use tokio::sync::broadcast;
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

use crate::catalog::{Catalog, CatalogError, Run, Script};
use crate::config::RunSettings;
use crate::deps::{DepsError, DepsManager};
use crate::domain::ParamProblem;
use crate::process::warm::{WarmPool, WarmReport};
use crate::process::{Interpreters, Stream};
use crate::settings::{Effective, Settings};

pub use crate::domain::{RunOptions, RunRequest, OPTION_NAMES};
pub use environment::{preview_environment, run_env, RunEnvironmentView};
pub use exec::CodeRequest;
pub use live::{LiveEvent, LiveOutput};
pub use registry::ActiveRun;
pub use subject::Input;
pub use submit::Submitted;
pub use workspace::{run_file_path, run_output_path, safe_file_name, RunDir, Staging, Upload};

use admission::Admission;
use registry::Registry;

#[derive(Debug, thiserror::Error)]
pub enum RunError {
    #[error("no script with id {0}")]
    ScriptNotFound(i64),
    #[error("no run with id {0}")]
    RunNotFound(i64),
    #[error("run {0} already ended ({1})")]
    AlreadyEnded(i64, &'static str),
    #[error("{0} is disabled")]
    Disabled(String),
    #[error("the schema of {path} could not be loaded: {reason}")]
    NotLoadable { path: String, reason: String },
    #[error("invalid parameters")]
    InvalidParams(Vec<ParamProblem>),
    #[error("{0}")]
    InvalidOption(String),
    /// An ad-hoc run's request that cannot run as sent.
    #[error("{0}")]
    InvalidRequest(String),
    #[error("{0}")]
    InterpreterMissing(String),
    #[error("{path} changed since it was scanned and is not run: {reason}")]
    ScriptChanged { path: String, reason: String },
    #[error("too many runs: {0}; try again shortly")]
    QueueFull(#[from] admission::QueueFull),
    #[error("the gateway is shutting down and accepts no new runs")]
    ShuttingDown,
    #[error(transparent)]
    Deps(#[from] DepsError),
    #[error("run folder error: {0}")]
    Io(#[from] std::io::Error),
    #[error(transparent)]
    Catalog(#[from] CatalogError),
    #[error("run task failed: {0}")]
    Task(String),
}

/// A run that ended, with the settings in force at that moment: what follows from its end
/// (a notification) must not depend on a setting changed after the caller got its answer.
#[derive(Debug, Clone)]
pub struct Finished {
    pub run: Arc<Run>,
    pub settings: Arc<Effective>,
}

/// Runs scripts; shared by every request.
pub struct Runner {
    catalog: Catalog,
    interpreters: Arc<Interpreters>,
    settings: Arc<Settings>,
    deps: Arc<DepsManager>,
    scripts_repo: PathBuf,
    runs_dir: PathBuf,
    child_path: OsString,
    admission: Admission,
    registry: Arc<Registry>,
    accepting: AtomicBool,
    finished: broadcast::Sender<Finished>,
    /// Runs execute on the gateway's main runtime, so a caller that goes away does not stop them.
    runtime: tokio::runtime::Handle,
    /// Fork servers for warm Python runs (used when `execution_mode` is `warm`).
    warm: Arc<WarmPool>,
}

/// Where the parts of a runner come from.
pub struct RunnerParts {
    pub catalog: Catalog,
    pub interpreters: Arc<Interpreters>,
    pub settings: Arc<Settings>,
    pub deps: Arc<DepsManager>,
    pub scripts_repo: PathBuf,
    pub runs_dir: PathBuf,
    pub child_path: OsString,
    pub warm: Arc<WarmPool>,
}

impl Runner {
    pub fn new(parts: RunnerParts) -> Runner {
        let current = parts.settings.current();
        Runner {
            catalog: parts.catalog,
            interpreters: parts.interpreters,
            settings: parts.settings,
            deps: parts.deps,
            scripts_repo: parts.scripts_repo,
            runs_dir: parts.runs_dir,
            child_path: parts.child_path,
            admission: Admission::new(current.max_concurrent_runs, current.max_queued_runs),
            registry: Arc::new(Registry::default()),
            accepting: AtomicBool::new(true),
            finished: broadcast::channel(256).0,
            runtime: tokio::runtime::Handle::current(),
            warm: parts.warm,
        }
    }

    /// The run limits in force now.
    pub fn settings(&self) -> RunSettings {
        self.settings.current().run.clone()
    }

    /// Applies the concurrency limits in force now (also done on every settings change; calling
    /// it right after a change makes the new limits hold before the caller gets its answer).
    pub fn apply_limits(&self) {
        let current = self.settings.current();
        self.admission
            .resize(current.max_concurrent_runs, current.max_queued_runs);
    }

    /// Keeps the concurrency limits in step with the settings until `shutdown` is cancelled.
    pub fn follow_settings(self: &Arc<Self>, shutdown: CancellationToken) -> JoinHandle<()> {
        let runner = Arc::downgrade(self);
        let mut changes = self.settings.subscribe();
        tokio::spawn(async move {
            while shutdown
                .run_until_cancelled(changes.changed())
                .await
                .is_some_and(|changed| changed.is_ok())
            {
                let Some(runner) = runner.upgrade() else {
                    return;
                };
                let current = changes.borrow_and_update().clone();
                runner
                    .admission
                    .resize(current.max_concurrent_runs, current.max_queued_runs);
                runner.warm.set_max_servers(current.max_warm_servers);
                if !current.warm_execution {
                    runner.warm.clear();
                }
            }
        })
    }

    /// The lines a finished run printed, in order, if its event log was kept.
    pub async fn recorded_lines(&self, run: &Run) -> Option<Vec<(Stream, String)>> {
        event_log::recorded_lines(&self.catalog, run).await
    }

    /// Where run folders live.
    pub fn runs_dir(&self) -> &std::path::Path {
        &self.runs_dir
    }

    /// The scripts folder runs come from.
    pub fn scripts_repo(&self) -> &std::path::Path {
        &self.scripts_repo
    }

    /// The working directory and environment a run of `script` would start with (before its
    /// dependency paths), for showing.
    pub fn preview_environment(&self, script: &Script) -> RunEnvironmentView {
        let base_url = self.settings.current().base_url.clone();
        environment::preview_environment(
            &self.runs_dir,
            &self.child_path,
            script,
            base_url.as_deref(),
        )
    }

    /// A place for uploads to land while a request is read.
    pub fn staging(&self) -> Staging {
        Staging::new(&self.runs_dir)
    }

    /// Every run's end, as it happens (the one place run endings are announced).
    pub fn subscribe_finished(&self) -> broadcast::Receiver<Finished> {
        self.finished.subscribe()
    }

    /// The live output of a run in flight.
    pub fn live(&self, run_id: i64) -> Option<Arc<LiveOutput>> {
        self.registry.get(run_id).map(|active| active.live.clone())
    }

    /// (runs executing, runs waiting for a slot).
    pub fn load(&self) -> (usize, usize) {
        let waiting = self.admission.waiting();
        (self.registry.all().len().saturating_sub(waiting), waiting)
    }

    pub fn queue_position(&self, run_id: i64) -> Option<usize> {
        self.registry.queue_position(run_id)
    }

    /// The fork servers warm runs start from.
    pub fn warm_servers(&self) -> WarmReport {
        self.warm.report()
    }

    /// Runs queued or running now, oldest first.
    pub fn active(&self) -> Vec<Arc<ActiveRun>> {
        self.registry.all()
    }
}
