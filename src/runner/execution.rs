//! A run that has its id: waits for its slot, prepares its folder, runs the process,
//! records how it ended.

use std::ffi::OsString;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use crate::catalog::{Catalog, Run, RunEnd, RunStatus};
use crate::config::RunSettings;
use crate::deps::{DepsError, DepsManager};
use crate::domain::RunArgs;
use crate::process::warm::WarmStart;
use crate::process::{self, Output, ProcessSpec, ResourceLimits};

use super::admission::{Entry, Slots};
use super::aftermath::{self, Leftovers};
use super::environment::run_env;
use super::live::LiveObserver;
use super::outcome::{self, LimitsInForce, Printed};
use super::registry::ActiveRun;
use super::subject::Subject;
use super::workspace::{RunDir, Staging};
use super::RunError;

const STDERR_KEPT_CHARS: usize = 64 * 1024;

/// What the process needs besides the arguments.
pub struct Launch {
    pub interpreter: PathBuf,
    pub scripts_repo: PathBuf,
    /// The interpreter's arguments before the parameters: the script file, behind the SDK's
    /// launcher for a Python SDK script.
    pub argv_prefix: Vec<OsString>,
    pub child_path: OsString,
    pub timeout: Duration,
    pub settings: RunSettings,
    pub base_url: Option<String>,
    /// Where this run may start warm from.
    pub warm: Option<WarmStart>,
}

pub struct Execution {
    pub catalog: Catalog,
    pub active: Arc<ActiveRun>,
    pub entry: Entry,
    pub run_dir: RunDir,
    pub subject: Subject,
    pub args: RunArgs,
    pub folder: Folder,
    pub launch: Launch,
    pub deps: Arc<DepsManager>,
}

impl Execution {
    pub async fn execute(self) -> Result<Run, RunError> {
        let Execution {
            catalog,
            active,
            entry,
            run_dir,
            subject,
            mut args,
            folder,
            launch,
            deps,
        } = self;
        let run_id = active.run_id;
        let Some(_slots) = wait_for_slots(entry, &active).await else {
            return Ok(catalog
                .finish_run(run_id, stopped_end(&active, "while it was queued"))
                .await?);
        };
        if !active.is_running() {
            active.set_running();
            catalog.mark_run_running(run_id).await?;
        }
        let made = match folder {
            Folder::Later(staging) => make_folder_async(&run_dir, staging).await,
            Folder::Made(made) => made,
        };
        let placed = made.and_then(|staged_root| {
            if let Some(staged_root) = &staged_root {
                args.relocate_uploads(staged_root, &run_dir.uploads());
            }
            subject.place_inputs(staged_root.as_deref(), &run_dir.uploads(), &run_dir.work())
        });
        let inputs = match placed {
            Ok(inputs) => inputs,
            Err(error) => {
                let end = failed_to_start(format!("cannot prepare the run folder: {error}"));
                return Ok(catalog.finish_run(run_id, end).await?);
            }
        };
        // Installs the run's dependency set if its cache is missing (a second run of the
        // same set waits for that install); the lease keeps cleanup away until the run ends.
        let run_deps = match subject.prepare_deps(&deps).await {
            Ok(run_deps) => run_deps,
            Err(error) => {
                return Ok(catalog
                    .finish_run(run_id, dependencies_failed(error))
                    .await?)
            }
        };
        // A queued run may start long after it was accepted: the file is checked again.
        if let Some(reason) = subject.changed_since_accepted(&launch.scripts_repo) {
            return Ok(catalog.finish_run(run_id, failed_to_start(reason)).await?);
        }
        let mut spec = process_spec(&launch, &subject, &args, &run_dir, run_id);
        run_deps.apply_to(&mut spec.env);
        // The caller's own variables come last: they win over the packages' search paths.
        for (key, value) in subject.extra_env() {
            spec.env.retain(|(k, _)| k != key);
            spec.env.push((key.clone(), value.clone()));
        }
        let observer = LiveObserver {
            live: active.live.clone(),
            on_spawn: pid_recorder(&catalog, &active),
        };
        let output =
            process::run_observed(&spec, Some(&active.cancel), Some(Arc::new(observer))).await;
        drop(run_deps);
        active.live.flush();
        let mut leftovers = Leftovers {
            raw_stdout: None,
            lines: active.live.lines(),
            inputs,
        };
        let mut end = match output {
            Ok(output) => judge_output(output, &launch, &mut leftovers).await,
            Err(error) => failed_to_start(error.reason()),
        };
        if end.status == RunStatus::Cancelled {
            end = stopped_end_from(&active, end);
        }
        Ok(aftermath::finish(&catalog, run_id, &run_dir, leftovers, end).await?)
    }
}

/// Slots for the run, or None when it was cancelled while queued.
async fn wait_for_slots(entry: Entry, active: &ActiveRun) -> Option<Slots> {
    match entry {
        Entry::Now(slots) => Some(slots),
        Entry::Queued(place) => tokio::select! {
            slots = place.wait() => Some(slots),
            _ = active.cancel.cancelled() => None,
        },
    }
}

/// A run's folder: made with the run's record, or later for a queued run.
pub enum Folder {
    /// Not made yet; the uploads wait in their staging folder.
    Later(Staging),
    /// Made (or not), with where the uploads were staged if there were any.
    Made(std::io::Result<Option<PathBuf>>),
}

/// Makes the run's folder and moves the staged uploads in, on the calling thread; returns
/// where they were staged, for the arguments that name them.
pub fn make_folder(run_dir: &RunDir, staging: Staging) -> std::io::Result<Option<PathBuf>> {
    let staged_root = staging.path().map(Path::to_path_buf);
    run_dir.create()?;
    staging.keep_as(&run_dir.uploads())?;
    if let Some(user) = process::contain::current().run_as() {
        user.hand_over(&run_dir.work())?;
        user.hand_over(&run_dir.tmp())?;
    }
    Ok(staged_root)
}

async fn make_folder_async(run_dir: &RunDir, staging: Staging) -> std::io::Result<Option<PathBuf>> {
    let run_dir = run_dir.clone();
    tokio::task::spawn_blocking(move || make_folder(&run_dir, staging))
        .await
        .map_err(std::io::Error::other)?
}

/// Keeps the pid for the active-runs view, and in the catalog where a restart after a crash
/// needs it to stop the run's group.
fn pid_recorder(catalog: &Catalog, active: &Arc<ActiveRun>) -> Box<dyn Fn(u32) + Send + Sync> {
    let catalog = catalog.clone();
    let active = active.clone();
    Box::new(move |pid| {
        active.set_pid(pid);
        if process::contain::current().recovers_crashed_trees() {
            return;
        }
        let catalog = catalog.clone();
        let run_id = active.run_id;
        tokio::spawn(async move {
            if let Err(error) = catalog.set_run_pid(run_id, pid).await {
                tracing::warn!(%error, run_id, "cannot record the run's pid");
            }
        });
    })
}

fn process_spec(
    launch: &Launch,
    subject: &Subject,
    args: &RunArgs,
    run_dir: &RunDir,
    run_id: i64,
) -> ProcessSpec {
    let settings = &launch.settings;
    let env = run_env(
        &launch.child_path,
        run_dir,
        &run_id.to_string(),
        subject.script(),
        launch.base_url.as_deref(),
    );
    let mut argv = launch.argv_prefix.clone();
    argv.extend(args.argv.iter().cloned());
    let limits = ResourceLimits {
        cpu_seconds: settings.cpu_seconds,
        address_space_bytes: settings.address_space_bytes,
        open_files: settings.open_files,
        processes: settings.processes,
        // No single file may pass the disk cap either: that one the kernel stops at once.
        file_size_bytes: match (settings.file_size_bytes, settings.disk_bytes) {
            (Some(file), Some(disk)) => Some(file.min(disk)),
            (file, disk) => file.or(disk),
        },
    };
    let disk = settings.disk_bytes.map(|max_bytes| process::DiskCap {
        folder: run_dir.root.clone(),
        max_bytes,
    });
    let mut spec = ProcessSpec::new(launch.interpreter.clone(), argv, run_dir.work(), env)
        .timeout(launch.timeout)
        .output_limit(settings.max_output_bytes)
        .kill_grace(Duration::from_secs(2))
        .limits(limits)
        .user_code()
        .disk(disk);
    spec.warm = launch.warm.clone();
    spec
}

/// How the run ended, from its output; stdout that is not JSON goes to the leftovers.
async fn judge_output(mut output: Output, launch: &Launch, leftovers: &mut Leftovers) -> RunEnd {
    let settings = &launch.settings;
    let limits = LimitsInForce {
        timeout_secs: launch.timeout.as_secs_f64(),
        max_output_bytes: settings.max_output_bytes,
        cpu_seconds: settings.cpu_seconds,
        memory_limited: settings.address_space_bytes.is_some(),
        file_size_limited: settings.file_size_bytes.is_some(),
        memory_mb: settings.address_space_bytes.map(|b| b / (1024 * 1024)),
        processes: settings.processes,
        disk_bytes: settings.disk_bytes,
    };
    let verdict = outcome::judge(&output, limits);
    let mut end = RunEnd {
        status: verdict.status,
        exit_code: verdict.exit_code,
        duration_ms: u64::try_from(output.duration.as_millis()).unwrap_or(u64::MAX),
        stderr: output.stderr_tail(STDERR_KEPT_CHARS),
        error_code: verdict.error.as_ref().map(|e| e.0.to_string()),
        error_message: verdict.error.map(|e| e.1),
        ..empty_end()
    };
    let (printed, stdout) = read_stdout(std::mem::take(&mut output.stdout)).await;
    match printed {
        Printed::Nothing => {}
        Printed::Json(value) => end.data = Some(value),
        Printed::Raw => leftovers.raw_stdout = Some(stdout),
    }
    end
}

/// What the run printed, read as JSON where it is; a large output is read on the blocking
/// pool, so the workers that carry every run's pipes and timers never stall on one.
async fn read_stdout(stdout: Vec<u8>) -> (Printed, Vec<u8>) {
    const READ_INLINE_BYTES: usize = 64 * 1024;
    if stdout.len() <= READ_INLINE_BYTES {
        return (outcome::read_stdout(&stdout), stdout);
    }
    let read = tokio::task::spawn_blocking(move || (outcome::read_stdout(&stdout), stdout));
    read.await
        .unwrap_or_else(|_| (Printed::Nothing, Vec::new()))
}

fn empty_end() -> RunEnd {
    RunEnd {
        status: RunStatus::Error,
        exit_code: None,
        duration_ms: 0,
        data: None,
        stdout_preview: None,
        output_file: None,
        output_size: None,
        output_content_type: None,
        stderr: String::new(),
        files: Vec::new(),
        error_code: None,
        error_message: None,
        event_log: None,
    }
}

fn failed_to_start(message: String) -> RunEnd {
    RunEnd {
        error_code: Some("start_failed".into()),
        error_message: Some(format!("the script could not be started: {message}")),
        ..empty_end()
    }
}

fn dependencies_failed(error: DepsError) -> RunEnd {
    let stderr = match &error {
        DepsError::InstallFailed { log, .. } => log.clone(),
        _ => String::new(),
    };
    RunEnd {
        error_code: Some("dependencies_failed".into()),
        error_message: Some(error.to_string()),
        stderr,
        ..empty_end()
    }
}

/// A run stopped by a caller (cancelled) or by the gateway shutting down (interrupted).
fn stopped_end(active: &ActiveRun, when: &str) -> RunEnd {
    stopped_end_from(
        active,
        RunEnd {
            error_message: Some(format!("stopped {when}")),
            ..empty_end()
        },
    )
}

fn stopped_end_from(active: &ActiveRun, end: RunEnd) -> RunEnd {
    let (status, code, message) = if active.was_interrupted() {
        (
            RunStatus::Interrupted,
            "interrupted",
            "the gateway was shutting down; the run was stopped",
        )
    } else {
        (RunStatus::Cancelled, "cancelled", "the run was cancelled")
    };
    let detail = end
        .error_message
        .as_deref()
        .filter(|m| m.starts_with("stopped "))
        .unwrap_or("");
    RunEnd {
        status,
        error_code: Some(code.into()),
        error_message: Some(format!("{message} {detail}").trim().to_string()),
        ..end
    }
}
