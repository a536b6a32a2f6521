//! One run of one script: validated argv, its own folder and environment, limits,
//! outputs and files, recorded in the catalog from start to end.

mod outcome;
mod workspace;

use std::collections::BTreeMap;
use std::ffi::OsString;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use tracing::Instrument;

use crate::catalog::{Catalog, CatalogError, LoadStatus, NewRun, Run, RunEnd, RunStatus, Script};
use crate::config::RunSettings;
use crate::domain::{bind, ArgsMap, ParamProblem, RawValue, RunArgs};
use crate::process::{self, Interpreters, Output, ProcessSpec, ResourceLimits};

pub use workspace::{safe_file_name, RunDir, Staging};

use outcome::{LimitsInForce, Printed};

const STDERR_KEPT_CHARS: usize = 64 * 1024;
const PREVIEW_BYTES: usize = 4 * 1024;

#[derive(Debug, thiserror::Error)]
pub enum RunError {
    #[error("no script with id {0}")]
    ScriptNotFound(i64),
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
    #[error("run folder error: {0}")]
    Io(#[from] std::io::Error),
    #[error(transparent)]
    Catalog(#[from] CatalogError),
    #[error("run task failed: {0}")]
    Task(String),
}

/// Gateway options a request can carry in its query string (`timeout`, or `_timeout`
/// when the script has a parameter called `timeout`).
pub const OPTION_NAMES: [&str; 1] = ["timeout"];

/// What a caller sent: the script's parameters and the gateway's options, still as text.
#[derive(Debug, Default)]
pub struct RunRequest {
    pub params: BTreeMap<String, RawValue>,
    /// (option name without a leading `_`, value, whether it was written with `_`).
    pub options: Vec<(String, String, bool)>,
    /// Parameters came from the query string, so a plain option name may be a parameter.
    pub params_in_query: bool,
}

impl RunRequest {
    /// Sorts query pairs into options and (when `params_in_query`) parameters.
    pub fn from_query_pairs(pairs: Vec<(String, String)>, params_in_query: bool) -> RunRequest {
        let mut request = RunRequest {
            params_in_query,
            ..RunRequest::default()
        };
        for (key, value) in pairs {
            let (bare, underscored) = match key.strip_prefix('_') {
                Some(bare) => (bare.to_string(), true),
                None => (key.clone(), false),
            };
            if OPTION_NAMES.contains(&bare.as_str()) {
                request.options.push((bare, value, underscored));
            } else if params_in_query {
                request.params.insert(key, RawValue::Text(value));
            }
        }
        request
    }
}

/// Per-run choices, parsed.
#[derive(Debug, Clone, Copy, Default)]
struct RunOptions {
    /// Shortens this run's timeout; never lengthens it.
    timeout: Option<Duration>,
}

fn parse_options(schema: &ArgsMap, request: &mut RunRequest) -> Result<RunOptions, RunError> {
    let mut options = RunOptions::default();
    let declared = |name: &str| schema.specs().iter().any(|s| s.name == name);
    for (name, value, underscored) in std::mem::take(&mut request.options) {
        if request.params_in_query && !underscored && declared(&name) {
            request.params.entry(name).or_insert(RawValue::Text(value));
            continue;
        }
        if name == "timeout" {
            let seconds = value
                .trim()
                .parse::<f64>()
                .ok()
                .filter(|s| s.is_finite() && *s > 0.0);
            let seconds = seconds.ok_or_else(|| {
                RunError::InvalidOption(format!(
                    "timeout must be a positive number of seconds, not {value:?}"
                ))
            })?;
            options.timeout = Some(Duration::from_secs_f64(seconds.min(86_400.0)));
        }
    }
    Ok(options)
}

/// Runs scripts; cheap to share.
pub struct Runner {
    catalog: Catalog,
    interpreters: Arc<Interpreters>,
    settings: RunSettings,
    scripts_repo: PathBuf,
    runs_dir: PathBuf,
    child_path: OsString,
    /// Runs execute on the gateway's main runtime, so a caller that goes away does not stop them.
    runtime: tokio::runtime::Handle,
}

/// Everything a run needs once it is accepted.
struct Accepted {
    script: Script,
    args: RunArgs,
    staging: Staging,
    timeout: Duration,
}

impl Runner {
    pub fn new(
        catalog: Catalog,
        interpreters: Arc<Interpreters>,
        settings: RunSettings,
        scripts_repo: PathBuf,
        runs_dir: PathBuf,
        child_path: OsString,
    ) -> Runner {
        let runtime = tokio::runtime::Handle::current();
        Runner {
            catalog,
            interpreters,
            settings,
            scripts_repo,
            runs_dir,
            child_path,
            runtime,
        }
    }

    pub fn settings(&self) -> &RunSettings {
        &self.settings
    }

    pub fn runs_dir(&self) -> &std::path::Path {
        &self.runs_dir
    }

    /// A place for uploads to land while a request is read.
    pub fn staging(&self) -> Staging {
        Staging::new(&self.runs_dir)
    }

    /// Validates the input against the script's schema, runs it, and returns the recorded run.
    /// Bad input is refused before anything starts and leaves no run behind.
    pub async fn run(
        &self,
        script_id: i64,
        request: RunRequest,
        staging: Staging,
    ) -> Result<Run, RunError> {
        let accepted = self.accept(script_id, request, staging).await?;
        let new_run = NewRun {
            script_id,
            script_path: accepted.script.path.clone(),
            params: serde_json::Value::Object(accepted.args.recorded.clone()),
            ignored_params: accepted.args.ignored.clone(),
        };
        let run_id = self.catalog.start_run(new_run, self.runs_dir.clone()).await?;
        let execution = Execution {
            catalog: self.catalog.clone(),
            run_dir: RunDir::new(&self.runs_dir, run_id),
            run_id,
            spec_base: self.spec_base(&accepted)?,
            accepted,
            settings: self.settings.clone(),
        };
        let span = tracing::info_span!("run", run_id, script_id);
        self.runtime
            .spawn(execution.execute().instrument(span))
            .await
            .map_err(|e| RunError::Task(e.to_string()))??;
        self.catalog
            .run(run_id)
            .await?
            .ok_or_else(|| RunError::Task(format!("run {run_id} vanished")))
    }

    async fn accept(
        &self,
        script_id: i64,
        mut request: RunRequest,
        staging: Staging,
    ) -> Result<Accepted, RunError> {
        let script = self
            .catalog
            .script(script_id)
            .await?
            .ok_or(RunError::ScriptNotFound(script_id))?;
        if !script.enabled {
            return Err(RunError::Disabled(script.path));
        }
        let schema = match (script.load_status, &script.args_schema) {
            (LoadStatus::Ok, Some(schema)) => ArgsMap::parse(schema.clone()).ok(),
            _ => None,
        };
        let Some(schema) = schema else {
            let reason = script
                .load_error
                .clone()
                .unwrap_or_else(|| "no schema".into());
            return Err(RunError::NotLoadable {
                path: script.path,
                reason,
            });
        };
        let options = parse_options(&schema, &mut request)?;
        let args = bind(&schema, request.params).map_err(RunError::InvalidParams)?;
        let mut timeout = self.settings.timeout;
        if let Some(own) = script.timeout_sec.filter(|s| *s > 0) {
            timeout = timeout.min(Duration::from_secs(own.unsigned_abs()));
        }
        if let Some(requested) = options.timeout {
            timeout = timeout.min(requested);
        }
        Ok(Accepted {
            script,
            args,
            staging,
            timeout,
        })
    }

    fn spec_base(&self, accepted: &Accepted) -> Result<SpecBase, RunError> {
        let interpreter = self
            .interpreters
            .executable(accepted.script.runtime)
            .map_err(RunError::InterpreterMissing)?
            .to_path_buf();
        Ok(SpecBase {
            interpreter,
            script_file: self.scripts_repo.join(&accepted.script.path),
            child_path: self.child_path.clone(),
        })
    }
}

struct SpecBase {
    interpreter: PathBuf,
    script_file: PathBuf,
    child_path: OsString,
}

/// A run that has its id: prepares its folder, runs the process, records the end.
struct Execution {
    catalog: Catalog,
    run_dir: RunDir,
    run_id: i64,
    spec_base: SpecBase,
    accepted: Accepted,
    settings: RunSettings,
}

impl Execution {
    async fn execute(self) -> Result<Run, RunError> {
        let Execution {
            catalog,
            run_dir,
            run_id,
            spec_base,
            accepted,
            settings,
        } = self;
        let Accepted {
            script,
            mut args,
            staging,
            timeout,
        } = accepted;
        let staged_root = staging.path().map(Path::to_path_buf);
        let prepared = tokio::task::spawn_blocking({
            let run_dir = run_dir.clone();
            move || -> std::io::Result<()> {
                run_dir.create()?;
                staging.keep_as(&run_dir.uploads())
            }
        })
        .await
        .map_err(|e| RunError::Task(e.to_string()))?;
        if let Err(error) = prepared {
            let end = failed_to_start(format!("cannot prepare the run folder: {error}"));
            return Ok(catalog.finish_run(run_id, end).await?);
        }
        if let Some(staged_root) = staged_root {
            args.relocate_uploads(&staged_root, &run_dir.uploads());
        }
        let spec = process_spec(
            &spec_base, &script, &args, &run_dir, run_id, timeout, &settings,
        );
        let end = match process::run(&spec, None).await {
            Ok(output) => record_output(&output, &run_dir, timeout, &settings).await,
            Err(error) => failed_to_start(error.to_string()),
        };
        let _ = tokio::fs::remove_dir_all(run_dir.tmp()).await;
        Ok(catalog.finish_run(run_id, end).await?)
    }
}

fn process_spec(
    base: &SpecBase,
    script: &Script,
    args: &RunArgs,
    run_dir: &RunDir,
    run_id: i64,
    timeout: Duration,
    settings: &RunSettings,
) -> ProcessSpec {
    let mut env = process::clean_env(&base.child_path, &run_dir.work());
    env.retain(|(key, _)| key != "TMPDIR");
    env.push(("TMPDIR".into(), run_dir.tmp().into_os_string()));
    env.push(("SG_RUN_ID".into(), run_id.to_string().into()));
    env.push(("SG_SCRIPT_ID".into(), script.id.to_string().into()));
    env.push(("SG_SCRIPT_PATH".into(), script.path.clone().into()));
    let mut argv: Vec<OsString> = vec![base.script_file.clone().into_os_string()];
    argv.extend(args.argv.iter().cloned());
    ProcessSpec {
        program: base.interpreter.clone(),
        args: argv,
        cwd: run_dir.work(),
        env,
        timeout,
        output_limit: settings.max_output_bytes,
        kill_grace: Duration::from_secs(2),
        limits: ResourceLimits {
            cpu_seconds: settings.cpu_seconds,
            address_space_bytes: settings.address_space_bytes,
            open_files: settings.open_files,
            processes: settings.processes,
            file_size_bytes: settings.file_size_bytes,
        },
    }
}

async fn record_output(
    output: &Output,
    run_dir: &RunDir,
    timeout: Duration,
    settings: &RunSettings,
) -> RunEnd {
    let limits = LimitsInForce {
        timeout_secs: timeout.as_secs_f64(),
        max_output_bytes: settings.max_output_bytes,
        cpu_seconds: settings.cpu_seconds,
        memory_limited: settings.address_space_bytes.is_some(),
    };
    let verdict = outcome::judge(output, limits);
    let mut end = RunEnd {
        status: verdict.status,
        exit_code: verdict.exit_code,
        duration_ms: u64::try_from(output.duration.as_millis()).unwrap_or(u64::MAX),
        data: None,
        stdout_preview: None,
        output_file: None,
        output_size: None,
        output_content_type: None,
        stderr: output.stderr_tail(STDERR_KEPT_CHARS),
        files: Vec::new(),
        error_code: verdict.error.as_ref().map(|e| e.0.to_string()),
        error_message: verdict.error.map(|e| e.1),
    };
    match outcome::read_stdout(&output.stdout) {
        Printed::Nothing => {}
        Printed::Json(value) => end.data = Some(value),
        Printed::Raw => {
            let (content_type, extension) = outcome::sniff(&output.stdout);
            let name = format!("output.{extension}");
            match tokio::fs::write(run_dir.root.join(&name), &output.stdout).await {
                Ok(()) => {
                    end.output_file = Some(name);
                    end.output_size = Some(output.stdout.len() as u64);
                    end.output_content_type = Some(content_type);
                }
                Err(error) => tracing::error!(%error, "cannot store the run's output"),
            }
            if end
                .output_content_type
                .as_deref()
                .is_some_and(|t| t.starts_with("text/"))
            {
                end.stdout_preview = Some(outcome::preview(&output.stdout, PREVIEW_BYTES));
            }
        }
    }
    let work = run_dir.work();
    end.files = tokio::task::spawn_blocking(move || workspace::collect_files(&work))
        .await
        .unwrap_or_default();
    end
}

fn failed_to_start(message: String) -> RunEnd {
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
        error_code: Some("start_failed".into()),
        error_message: Some(message),
    }
}

/// The path of a file a run produced, if `name` is one of its recorded files.
pub fn run_file_path(run: &Run, name: &str) -> Option<PathBuf> {
    let root = PathBuf::from(run.run_dir.as_ref()?);
    workspace::resolve_file(&root.join("work"), name, &run.files)
}

/// The path of a run's stored raw stdout.
pub fn run_output_path(run: &Run) -> Option<PathBuf> {
    let root = PathBuf::from(run.run_dir.as_ref()?);
    let name = run.output_file.as_ref()?;
    Some(root.join(name))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn pairs(items: &[(&str, &str)]) -> Vec<(String, String)> {
        items
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    #[test]
    fn timeout_is_an_option_unless_the_script_declares_it() {
        let plain = ArgsMap::parse(json!({"n": {"flag": "--n"}})).unwrap();
        let mut request =
            RunRequest::from_query_pairs(pairs(&[("n", "1"), ("timeout", "2.5")]), true);
        let options = parse_options(&plain, &mut request).unwrap();
        assert_eq!(options.timeout, Some(Duration::from_millis(2500)));
        assert_eq!(request.params.keys().collect::<Vec<_>>(), ["n"]);

        let declares =
            ArgsMap::parse(json!({"timeout": {"flag": "--timeout", "type": "int"}})).unwrap();
        let mut request =
            RunRequest::from_query_pairs(pairs(&[("timeout", "30"), ("_timeout", "1")]), true);
        let options = parse_options(&declares, &mut request).unwrap();
        assert_eq!(options.timeout, Some(Duration::from_secs(1)));
        assert_eq!(
            request.params.get("timeout"),
            Some(&RawValue::Text("30".into()))
        );
    }

    #[test]
    fn in_a_post_the_query_holds_only_options() {
        let declares = ArgsMap::parse(json!({"timeout": {"flag": "--timeout"}})).unwrap();
        let mut request =
            RunRequest::from_query_pairs(pairs(&[("timeout", "3"), ("other", "x")]), false);
        assert!(request.params.is_empty());
        assert_eq!(
            parse_options(&declares, &mut request).unwrap().timeout,
            Some(Duration::from_secs(3))
        );
    }

    #[test]
    fn a_bad_timeout_is_refused() {
        let plain = ArgsMap::parse(json!({})).unwrap();
        for bad in ["0", "-1", "soon", "NaN"] {
            let mut request = RunRequest::from_query_pairs(pairs(&[("timeout", bad)]), true);
            assert!(
                matches!(
                    parse_options(&plain, &mut request),
                    Err(RunError::InvalidOption(_))
                ),
                "{bad}"
            );
        }
    }
}
