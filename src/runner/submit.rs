//! Taking a run in: the request checked against the script's schema, a slot or a place in
//! the queue, a record in the catalog, and the run started on the gateway's runtime.

use std::collections::BTreeSet;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::Duration;

use tokio::task::JoinHandle;
use tracing::Instrument;

use crate::catalog::{LoadStatus, NewRun, Run, Script};
use crate::domain::{bind, parse_options, ArgsMap, RunArgs, RunOptions, RunRequest, Runtime};
use crate::process::warm::{WarmRuntime, WarmStart};

use super::admission::Entry;
use super::execution::{make_folder, Execution, Folder, Launch};
use super::registry::ActiveRun;
use super::subject::Subject;
use super::workspace::{RunDir, Staging};
use super::Finished;
use super::{script_file, RunError, Runner};

/// A run checked and ready to be taken in, whatever it executes.
pub(super) struct Accepted {
    pub new_run: NewRun,
    /// The script's id and its own concurrency limit, when it has one.
    pub script_limit: Option<(i64, usize)>,
    pub subject: Subject,
    pub args: RunArgs,
    pub launch: Launch,
    pub options: RunOptions,
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

impl Runner {
    /// Validates the request against the schema of `script` (as [`Runner::runnable`] read it)
    /// and starts (or queues) the run. Bad input is refused before anything starts and leaves
    /// no run behind.
    pub async fn submit(
        &self,
        script: Script,
        mut request: RunRequest,
        staging: Staging,
    ) -> Result<Submitted, RunError> {
        if !self.accepting.load(Ordering::SeqCst) {
            return Err(RunError::ShuttingDown);
        }
        let script_id = script.id;
        let schema = schema_of(&script)?;
        // A remembered failed install answers at once (409), with no run recorded.
        self.deps.check_runnable(&script).await?;
        let options =
            parse_options(&schema, &mut request).map_err(|e| RunError::InvalidOption(e.0))?;
        let args = bind(&schema, request.params).map_err(RunError::InvalidParams)?;
        let launch = self.launch(&script, options)?;
        let limit = script
            .max_concurrent
            .and_then(|n| usize::try_from(n).ok())
            .filter(|n| *n > 0);
        let accepted = Accepted {
            new_run: new_run(&script, &args),
            script_limit: limit.map(|n| (script_id, n)),
            subject: Subject::Script(Box::new(script)),
            args,
            launch,
            options,
        };
        self.accept(accepted, staging).await
    }

    /// Takes a checked run in: a slot or a place in the queue, its record and folder, and
    /// its execution started on the gateway's runtime.
    pub(super) async fn accept(
        &self,
        accepted: Accepted,
        staging: Staging,
    ) -> Result<Submitted, RunError> {
        let Accepted {
            new_run,
            script_limit,
            subject,
            args,
            launch,
            options,
        } = accepted;
        let (script_id, script_path) = (new_run.script_id, new_run.script_path.clone());
        let entry = match script_limit {
            Some((id, limit)) => self.admission.enter(id, Some(limit))?,
            None => self.admission.enter(0, None)?,
        };
        let queued = matches!(entry, Entry::Queued(_));
        let (run_id, folder) = self.record_and_prepare(new_run, staging, queued).await?;
        let active = Arc::new(ActiveRun::new(run_id, script_id, script_path, !queued));
        self.registry.insert(active.clone());
        let execution = Execution {
            catalog: self.catalog.clone(),
            active,
            entry,
            run_dir: RunDir::new(&self.runs_dir, run_id),
            subject,
            args,
            folder,
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

    /// Records the run and, when it starts at once, prepares its folder, in one trip to the
    /// blocking pool (a queued run's folder is made when its turn comes).
    async fn record_and_prepare(
        &self,
        run: NewRun,
        staging: Staging,
        queued: bool,
    ) -> Result<(i64, Folder), RunError> {
        let catalog = self.catalog.clone();
        let runs_dir = self.runs_dir.clone();
        tokio::task::spawn_blocking(move || {
            let run_id =
                catalog.start_run_here(run, |id| RunDir::new(&runs_dir, id).root, queued)?;
            let folder = if queued {
                Folder::Later(staging)
            } else {
                Folder::Made(make_folder(&RunDir::new(&runs_dir, run_id), staging))
            };
            Ok((run_id, folder))
        })
        .await
        .map_err(|e| RunError::Task(e.to_string()))?
    }

    /// The parameter names of a runnable script (a schema `submit` would refuse is refused
    /// here too), so a request body can be read knowing what the script takes.
    pub fn parameter_names(script: &Script) -> Result<BTreeSet<String>, RunError> {
        let schema = schema_of(script)?;
        Ok(schema.specs().iter().map(|s| s.name.clone()).collect())
    }

    /// Runs an execution and announces its end, whatever happens.
    fn supervise(
        &self,
        execution: Execution,
    ) -> impl std::future::Future<Output = Result<Run, RunError>> + Send + 'static {
        let registry = self.registry.clone();
        let announce = self.finished.clone();
        let settings = self.settings.clone();
        let active = execution.active.clone();
        async move {
            let result = execution.execute().await;
            if let Ok(run) = &result {
                let run = Arc::new(run.clone());
                // The event log was kept before the run was recorded as finished, so a late
                // client replays exactly what a live one saw, with the same event ids.
                active.live.end(run.clone());
                let _ = announce.send(Finished {
                    run,
                    settings: settings.current(),
                });
            } else if let Err(error) = &result {
                tracing::error!(%error, "run failed inside the gateway");
            }
            registry.remove(active.run_id);
            result
        }
    }

    /// The script with this id, if it exists and may run; read once per run request (its
    /// file is checked again when the run starts).
    pub async fn runnable(&self, script_id: i64) -> Result<Script, RunError> {
        let script = self
            .catalog
            .script(script_id)
            .await?
            .ok_or(RunError::ScriptNotFound(script_id))?;
        Self::enabled(script)
    }

    /// `script`, if it may run (an operator can disable a script without removing it).
    pub fn enabled(script: Script) -> Result<Script, RunError> {
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
        // One snapshot: the limits and the public URL a run gets belong together.
        let current = self.settings.current();
        let settings = current.run.clone();
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
        let argv_prefix = script
            .entry
            .argv_prefix(&script_file, self.deps.python_launcher())
            .map_err(RunError::InterpreterMissing)?;
        Ok(Launch {
            interpreter: interpreter.to_path_buf(),
            scripts_repo: self.scripts_repo.clone(),
            argv_prefix,
            child_path: self.child_path.clone(),
            timeout,
            settings,
            base_url: current.base_url.clone(),
            warm: warm_execution(script, current.warm_execution).then(|| WarmStart {
                pool: self.warm.clone(),
                runtime: match script.runtime {
                    Runtime::Python => WarmRuntime::Python,
                    Runtime::Js => WarmRuntime::Node,
                },
            }),
        })
    }
}

/// Whether `script` starts warm: its own choice, else the setting.
fn warm_execution(script: &Script, setting: bool) -> bool {
    match script.execution_mode.as_deref() {
        Some("warm") => true,
        Some("cold") => false,
        _ => setting,
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
        script_id: Some(script.id),
        script_path: script.path.clone(),
        params: serde_json::Value::Object(args.recorded.clone()),
        ignored_params: args.ignored.clone(),
    }
}
