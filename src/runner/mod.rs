//! Runs scripts: validated argv, a slot under the concurrency limits (or a place in the
//! queue), its own folder, environment and limits, live output, cancellation, and a
//! record in the catalog from the moment it is accepted to its end.

mod admission;
mod execution;
mod live;
mod outcome;
mod registry;
mod request;
mod script_file;
mod workspace;

use std::ffi::OsString;
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use tokio::sync::broadcast;
use tokio::task::JoinHandle;
use tracing::Instrument;

use crate::catalog::{Catalog, CatalogError, LoadStatus, NewRun, Run, Script};
use crate::config::RunSettings;
use crate::deps::{DepsError, DepsManager};
use crate::domain::{bind, ArgsMap, ParamProblem, RunArgs};
use crate::process::{self, Interpreters};
use crate::settings::Settings;

pub use live::{LiveEvent, LiveOutput};
pub use registry::ActiveRun;
pub use request::{RunOptions, RunRequest, OPTION_NAMES};
pub use workspace::{safe_file_name, RunDir, Staging};

use admission::{Admission, Entry};
pub use execution::run_env;
use execution::{Execution, Launch};
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

/// A submitted run: its id, whether it had to queue, and its eventual record.
pub struct Submitted {
    pub run_id: i64,
    pub queued: bool,
    pub options: RunOptions,
    finished: JoinHandle<Result<Run, RunError>>,
}

impl Submitted {
    /// Waits for the end of the run (the run goes on even if this wait is dropped).
    pub async fn finished(self) -> Result<Run, RunError> {
        self.finished
            .await
            .map_err(|e| RunError::Task(e.to_string()))?
    }

    /// The run's record if it ends within `wait`, else the handle back.
    pub async fn finished_within(
        mut self,
        wait: Duration,
    ) -> Result<Result<Run, RunError>, Submitted> {
        match tokio::time::timeout(wait, &mut self.finished).await {
            Ok(joined) => Ok(joined
                .map_err(|e| RunError::Task(e.to_string()))
                .and_then(|r| r)),
            Err(_) => Err(self),
        }
    }
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
    finished: broadcast::Sender<Arc<Run>>,
    /// Runs execute on the gateway's main runtime, so a caller that goes away does not stop them.
    runtime: tokio::runtime::Handle,
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

    /// Keeps the concurrency limits in step with the settings, for the life of the runtime.
    pub fn follow_settings(self: &Arc<Self>) {
        let runner = Arc::downgrade(self);
        let mut changes = self.settings.subscribe();
        tokio::spawn(async move {
            while changes.changed().await.is_ok() {
                let Some(runner) = runner.upgrade() else {
                    return;
                };
                let current = changes.borrow_and_update().clone();
                runner
                    .admission
                    .resize(current.max_concurrent_runs, current.max_queued_runs);
            }
        });
    }

    /// A place for uploads to land while a request is read.
    pub fn staging(&self) -> Staging {
        Staging::new(&self.runs_dir)
    }

    /// Every run's end, as it happens (the one place run endings are announced).
    pub fn subscribe_finished(&self) -> broadcast::Receiver<Arc<Run>> {
        self.finished.subscribe()
    }

    /// Validates the request against the script's schema and starts (or queues) the run.
    /// Bad input is refused before anything starts and leaves no run behind.
    pub async fn submit(
        &self,
        script_id: i64,
        mut request: RunRequest,
        staging: Staging,
    ) -> Result<Submitted, RunError> {
        if !self.accepting.load(Ordering::SeqCst) {
            return Err(RunError::ShuttingDown);
        }
        let script = self.runnable_script(script_id).await?;
        let schema = schema_of(&script)?;
        // A remembered failed install answers at once (409), with no run recorded.
        self.deps.check_runnable(&script).await?;
        let options = request::parse_options(&schema, &mut request)?;
        let args = bind(&schema, request.params).map_err(RunError::InvalidParams)?;
        let launch = self.launch(&script, options)?;
        let limit = script
            .max_concurrent
            .and_then(|n| usize::try_from(n).ok())
            .filter(|n| *n > 0);
        let entry = self.admission.enter(script_id, limit)?;
        let queued = matches!(entry, Entry::Queued(_));
        let run_id = self
            .catalog
            .start_run(new_run(&script, &args), self.runs_dir.clone(), queued)
            .await?;
        let active = Arc::new(ActiveRun::new(
            run_id,
            script_id,
            script.path.clone(),
            !queued,
        ));
        self.registry.insert(active.clone());
        let execution = Execution {
            catalog: self.catalog.clone(),
            active,
            entry,
            run_dir: RunDir::new(&self.runs_dir, run_id),
            script,
            args,
            staging,
            launch,
            deps: self.deps.clone(),
        };
        let finished = self.runtime.spawn(
            self.supervise(execution)
                .instrument(tracing::info_span!("run", run_id, script_id)),
        );
        Ok(Submitted {
            run_id,
            queued,
            options,
            finished,
        })
    }

    /// The parameter names of a script that can run now (what `submit` would refuse is
    /// refused here too), so a request body can be read knowing what the script takes.
    pub async fn parameter_names(
        &self,
        script_id: i64,
    ) -> Result<std::collections::BTreeSet<String>, RunError> {
        let script = self.runnable_script(script_id).await?;
        let schema = schema_of(&script)?;
        Ok(schema.specs().iter().map(|s| s.name.clone()).collect())
    }

    /// Runs an execution and announces its end, whatever happens.
    fn supervise(
        &self,
        execution: Execution,
    ) -> impl std::future::Future<Output = Result<Run, RunError>> + Send + 'static {
        let registry = self.registry.clone();
        let announce = self.finished.clone();
        let active = execution.active.clone();
        async move {
            let result = execution.execute().await;
            if let Ok(run) = &result {
                let run = Arc::new(run.clone());
                active.live.end(run.clone());
                // Kept before the run leaves the registry, so a late client replays exactly
                // what a live one saw, with the same event ids.
                store_event_log(&run, &active.live).await;
                let _ = announce.send(run);
            } else if let Err(error) = &result {
                tracing::error!(%error, "run failed inside the gateway");
            }
            registry.remove(active.run_id);
            result
        }
    }

    async fn runnable_script(&self, script_id: i64) -> Result<Script, RunError> {
        let script = self
            .catalog
            .script(script_id)
            .await?
            .ok_or(RunError::ScriptNotFound(script_id))?;
        if !script.enabled {
            return Err(RunError::Disabled(script.path));
        }
        Ok(script)
    }

    fn launch(&self, script: &Script, options: RunOptions) -> Result<Launch, RunError> {
        let interpreter = self
            .interpreters
            .executable(script.runtime)
            .map_err(RunError::InterpreterMissing)?;
        let settings = self.settings();
        // A script's own timeout (set by an operator) replaces the global one; a caller can
        // only shorten it.
        let mut timeout = match script.timeout_sec.filter(|s| *s > 0) {
            Some(own) => Duration::from_secs(own.unsigned_abs()),
            None => settings.timeout,
        };
        if let Some(requested) = options.timeout {
            timeout = timeout.min(requested);
        }
        // Checked here so a refusal leaves no run behind, and again just before the spawn.
        let script_file =
            script_file::check(&self.scripts_repo, &script.path).map_err(|reason| {
                RunError::ScriptChanged {
                    path: script.path.clone(),
                    reason,
                }
            })?;
        Ok(Launch {
            interpreter: interpreter.to_path_buf(),
            scripts_repo: self.scripts_repo.clone(),
            script_file,
            child_path: self.child_path.clone(),
            timeout,
            settings,
        })
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

    /// Runs queued or running now, oldest first.
    pub fn active(&self) -> Vec<Arc<ActiveRun>> {
        self.registry.all()
    }

    /// Stops a queued or running run (its whole process tree) and returns its final record.
    pub async fn cancel(&self, run_id: i64) -> Result<Run, RunError> {
        let Some(active) = self.registry.get(run_id) else {
            let run = self
                .catalog
                .run(run_id)
                .await?
                .ok_or(RunError::RunNotFound(run_id))?;
            return Err(RunError::AlreadyEnded(run_id, run.status.as_str()));
        };
        active.cancel.cancel();
        // A caller told "cancelled" must no longer see the run among the running ones.
        let ended = async {
            let end = active.live.wait_end().await;
            self.registry.wait_gone(run_id).await;
            end
        };
        match tokio::time::timeout(Duration::from_secs(30), ended).await {
            Ok(Some(run)) => Ok((*run).clone()),
            _ => self
                .catalog
                .run(run_id)
                .await?
                .ok_or(RunError::RunNotFound(run_id)),
        }
    }

    /// Cancels every run of a script; returns the ids it stopped.
    pub async fn cancel_script(&self, script_id: i64) -> Vec<i64> {
        let runs: Vec<_> = self
            .registry
            .all()
            .into_iter()
            .filter(|r| r.script_id == script_id)
            .collect();
        for run in &runs {
            run.cancel.cancel();
        }
        for run in &runs {
            let _ = tokio::time::timeout(Duration::from_secs(30), async {
                run.live.wait_end().await;
                self.registry.wait_gone(run.run_id).await;
            })
            .await;
        }
        runs.iter().map(|r| r.run_id).collect()
    }

    /// Refuses new runs, lets those in flight finish for up to `grace`, then stops the rest
    /// and records them as interrupted.
    pub async fn shut_down(&self, grace: Duration) {
        self.accepting.store(false, Ordering::SeqCst);
        if tokio::time::timeout(grace, self.registry.wait_empty())
            .await
            .is_ok()
        {
            return;
        }
        let left = self.registry.all();
        tracing::warn!(
            runs = left.len(),
            "grace period over; stopping the runs still going"
        );
        for run in &left {
            run.interrupt();
        }
        let _ = tokio::time::timeout(Duration::from_secs(10), self.registry.wait_empty()).await;
    }

    /// After an unclean stop: records runs left queued or running as interrupted and kills
    /// any process group they left behind.
    pub async fn recover_leftovers(&self) -> Result<usize, RunError> {
        let leftovers = self.catalog.interrupt_leftover_runs().await?;
        for (run_id, pid) in &leftovers {
            if let Some(pid) = pid {
                if process::kill_leftover_group(*pid, &format!("SG_RUN_ID={run_id}")) {
                    tracing::warn!(
                        run_id,
                        pid,
                        "killed the process group a stopped gateway left running"
                    );
                }
            }
        }
        Ok(leftovers.len())
    }
}

fn schema_of(script: &Script) -> Result<ArgsMap, RunError> {
    let schema = match (script.load_status, &script.args_schema) {
        (LoadStatus::Ok, Some(schema)) => ArgsMap::parse(schema.clone()).ok(),
        _ => None,
    };
    schema.ok_or_else(|| RunError::NotLoadable {
        path: script.path.clone(),
        reason: script
            .load_error
            .clone()
            .unwrap_or_else(|| "no schema".into()),
    })
}

fn new_run(script: &Script, args: &RunArgs) -> NewRun {
    NewRun {
        script_id: script.id,
        script_path: script.path.clone(),
        params: serde_json::Value::Object(args.recorded.clone()),
        ignored_params: args.ignored.clone(),
    }
}

/// The path of a file a run produced, if `name` is one of its recorded files.
pub fn run_file_path(run: &Run, name: &str) -> Option<PathBuf> {
    let root = PathBuf::from(run.run_dir.as_ref()?);
    workspace::resolve_file(&root.join("work"), name, &run.files)
}

const EVENT_LOG: &str = "events.jsonl";

/// One `[stream, line]` JSON array per line, in the order printed.
async fn store_event_log(run: &Run, live: &LiveOutput) {
    let Some(root) = run.run_dir.as_ref() else {
        return;
    };
    let mut log = String::new();
    for (stream, text) in live.lines() {
        let name = if stream == process::Stream::Stdout {
            "stdout"
        } else {
            "stderr"
        };
        log.push_str(&serde_json::json!([name, text]).to_string());
        log.push('\n');
    }
    if let Err(error) = tokio::fs::write(PathBuf::from(root).join(EVENT_LOG), log).await {
        tracing::warn!(%error, "cannot keep the run's event log");
    }
}

/// The lines a finished run printed, in order, if its event log was kept.
pub async fn recorded_lines(run: &Run) -> Option<Vec<(process::Stream, String)>> {
    let root = PathBuf::from(run.run_dir.as_ref()?);
    let log = tokio::fs::read_to_string(root.join(EVENT_LOG)).await.ok()?;
    let lines = log
        .lines()
        .filter_map(|line| {
            let (name, text): (String, String) = serde_json::from_str(line).ok()?;
            let stream = if name == "stderr" {
                process::Stream::Stderr
            } else {
                process::Stream::Stdout
            };
            Some((stream, text))
        })
        .collect();
    Some(lines)
}

/// The path of a run's stored raw stdout.
pub fn run_output_path(run: &Run) -> Option<PathBuf> {
    let root = PathBuf::from(run.run_dir.as_ref()?);
    let name = run.output_file.as_ref()?;
    Some(root.join(name))
}
