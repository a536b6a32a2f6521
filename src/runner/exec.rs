//! Ad-hoc code runs (`POST /api/exec`): the code is written into the run's uploads as its
//! program, input files go to its working folder, packages come from the dependency
//! caches; from the slot on it is a run like any script's (limits, capture, record).

use std::collections::BTreeMap;
use std::ffi::OsString;
use std::path::PathBuf;
use std::sync::atomic::Ordering;

use serde_json::{json, Map, Value};

use crate::catalog::NewRun;
use crate::deps::{masked, package_set};
use crate::domain::{is_variable_name, RawValue, RunArgs, RunOptions, Runtime};
use crate::process::warm::{WarmRuntime, WarmStart};

use super::execution::Launch;
use super::subject::{Code, Input, Subject};
use super::submit::Accepted;
use super::workspace::Staging;
use super::{RunError, Runner, Submitted};

/// At most this many arguments, and variables.
const MAX_ARGS: usize = 1000;
const MAX_ENV: usize = 200;

/// Code to run once, as the caller sent it.
#[derive(Debug, Clone)]
pub struct CodeRequest {
    pub runtime: Runtime,
    pub code: String,
    pub args: Vec<String>,
    pub env: BTreeMap<String, String>,
    /// Package specifiers (`requests==2.32.3`, `lodash@4`), installed through the caches.
    pub packages: Vec<String>,
    /// Input files, put in the working folder under their names.
    pub inputs: Vec<Input>,
    pub options: RunOptions,
}

impl Runner {
    /// Checks `request` and starts (or queues) the run. Bad input is refused before
    /// anything starts and leaves no run behind; the caller checks that exec is allowed.
    pub async fn submit_code(
        &self,
        request: CodeRequest,
        mut staging: Staging,
    ) -> Result<Submitted, RunError> {
        if !self.accepting.load(Ordering::SeqCst) {
            return Err(RunError::ShuttingDown);
        }
        check(&request)?;
        let packages = package_set(request.runtime, &request.packages)
            .map_err(|reason| RunError::InvalidRequest(format!("packages: {reason}")))?;
        let interpreter = self
            .interpreters
            .executable(request.runtime)
            .map_err(RunError::InterpreterMissing)?;
        let program = write_program(&mut staging, request.runtime, &request.code).await?;
        let mut argv: Vec<OsString> = vec![program.into()];
        argv.extend(request.args.iter().map(OsString::from));
        let args = RunArgs::new(argv, recorded(&request), vec![0]);
        let current = self.settings.current();
        let settings = current.run.clone();
        let launch = Launch {
            interpreter: interpreter.to_path_buf(),
            scripts_repo: self.scripts_repo.clone(),
            argv_prefix: Vec::new(),
            child_path: self.child_path.clone(),
            timeout: request
                .options
                .timeout
                .map_or(settings.timeout, |t| t.min(settings.timeout)),
            settings,
            base_url: current.base_url.clone(),
            // The same warm start as a script's: code is a program file like any other.
            warm: current.warm_execution.then(|| WarmStart {
                pool: self.warm.clone(),
                runtime: match request.runtime {
                    Runtime::Python => WarmRuntime::Python,
                    Runtime::Js => WarmRuntime::Node,
                },
            }),
        };
        let label = request.runtime.exec_label();
        let accepted = Accepted {
            new_run: NewRun {
                script_id: None,
                script_path: label.into(),
                params: Value::Object(args.recorded.clone()),
                ignored_params: Vec::new(),
            },
            script_limit: None,
            subject: Subject::Code(Code {
                runtime: request.runtime,
                packages,
                env: request
                    .env
                    .iter()
                    .map(|(k, v)| (k.into(), v.into()))
                    .collect(),
                inputs: request.inputs,
            }),
            args,
            launch,
            options: request.options,
        };
        self.accept(accepted, staging).await
    }
}

fn check(request: &CodeRequest) -> Result<(), RunError> {
    let invalid = |m: String| Err(RunError::InvalidRequest(m));
    if request.code.trim().is_empty() {
        return invalid("code is empty".into());
    }
    if request.code.contains('\0') {
        return invalid("code holds a NUL byte".into());
    }
    if request.args.len() > MAX_ARGS {
        return invalid(format!("at most {MAX_ARGS} args"));
    }
    if let Some(bad) = request.args.iter().position(|a| a.contains('\0')) {
        return invalid(format!("args[{bad}] holds a NUL byte"));
    }
    if request.env.len() > MAX_ENV {
        return invalid(format!("at most {MAX_ENV} env variables"));
    }
    for (name, value) in &request.env {
        if !is_variable_name(name) || name.starts_with("SG_") {
            return invalid(format!(
                "env: {name:?} is not a variable name a run may set (SG_ names are the gateway's)"
            ));
        }
        if value.contains('\0') {
            return invalid(format!("env: the value of {name} holds a NUL byte"));
        }
    }
    let mut names = std::collections::HashSet::new();
    if let Some(Input { name, .. }) = request.inputs.iter().find(|i| !names.insert(&i.name)) {
        return invalid(format!("two input files are named {name:?}"));
    }
    Ok(())
}

/// The code as the run's program file, staged with the uploads (so it lands in the run's
/// `uploads`, out of the files the run is listed as making).
async fn write_program(
    staging: &mut Staging,
    runtime: Runtime,
    code: &str,
) -> Result<PathBuf, RunError> {
    let name = match runtime {
        Runtime::Python => "main.py",
        Runtime::Js => "main.js",
    };
    let mut upload = staging.open_upload(name)?;
    upload.write(code.as_bytes()).await?;
    match upload.finish().await? {
        RawValue::Upload { path, .. } => Ok(path),
        _ => unreachable!("an upload finishes as an upload"),
    }
}

/// What the history keeps: the code, the arguments, the variables (secret-looking values
/// hidden), the packages and the input files by name and size.
fn recorded(request: &CodeRequest) -> Map<String, Value> {
    let env: Map<String, Value> = request
        .env
        .iter()
        .map(|(k, v)| (k.clone(), Value::String(masked(k, v))))
        .collect();
    let files: Vec<Value> = request
        .inputs
        .iter()
        .map(|input| json!({"file": input.name, "size": input.size}))
        .collect();
    let mut recorded = Map::new();
    recorded.insert("runtime".into(), json!(request.runtime.interpreter_name()));
    recorded.insert("code".into(), json!(request.code));
    recorded.insert("args".into(), json!(request.args));
    if !env.is_empty() {
        recorded.insert("env".into(), Value::Object(env));
    }
    if !request.packages.is_empty() {
        recorded.insert("packages".into(), json!(request.packages));
    }
    if !files.is_empty() {
        recorded.insert("files".into(), Value::Array(files));
    }
    recorded
}
