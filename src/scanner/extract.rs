//! Runs a script with `--_sys_get_schema` and turns what it printed into an ARGS_MAP.

use std::ffi::OsString;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use serde_json::Value;
use tokio_util::sync::CancellationToken;

use crate::deps::DepsManager;
use crate::domain::ArgsMap;
use crate::process::{
    self, Interpreters, Output, ProcessSpec, ResourceLimits, Stream, Termination,
};
use crate::settings::Settings;

use super::discover::FoundScript;

pub const SCHEMA_FLAG: &str = "--_sys_get_schema";
const OUTPUT_LIMIT: usize = 1024 * 1024;

/// Printing an ARGS_MAP needs little; a script that forks or allocates at import time is
/// held to these while its schema is read.
const EXTRACTION_LIMITS: ResourceLimits = ResourceLimits {
    cpu_seconds: Some(60),
    address_space_bytes: Some(2048 * 1024 * 1024),
    open_files: Some(1024),
    processes: Some(256),
    file_size_bytes: Some(64 * 1024 * 1024),
};

/// Everything needed to extract schemas; cheap to clone.
#[derive(Clone)]
pub struct Extractor {
    pub interpreters: Arc<Interpreters>,
    /// Read at each extraction, so a changed `schema_timeout_sec` applies at once.
    pub settings: Arc<Settings>,
    pub scratch_dir: PathBuf,
    pub child_path: OsString,
    /// Gives scripts their installed dependencies (scripts import them at the top).
    pub deps: Option<Arc<DepsManager>>,
}

impl Extractor {
    /// The script's validated ARGS_MAP, or the reason it has none; `cancel` stops the
    /// extraction (its content changed, or its file went).
    pub async fn extract(
        &self,
        script: &FoundScript,
        cancel: &CancellationToken,
    ) -> Result<ArgsMap, String> {
        let interpreter = self.interpreters.executable(script.runtime)?;
        let timeout = self.settings.current().schema_timeout;
        let cwd = script
            .absolute
            .parent()
            .map(PathBuf::from)
            .unwrap_or_else(|| self.scratch_dir.clone());
        let launcher = self.deps.as_ref().and_then(|d| d.python_launcher());
        let mut argv = script.entry.argv_prefix(&script.absolute, launcher)?;
        argv.push(SCHEMA_FLAG.into());
        let spec = ProcessSpec::new(interpreter, argv, cwd, self.environment(script))
            .timeout(timeout)
            .output_limit(OUTPUT_LIMIT)
            .kill_grace(Duration::from_millis(500))
            .limits(EXTRACTION_LIMITS)
            .user_code();
        let output = process::run(&spec, Some(cancel))
            .await
            .map_err(|e| e.to_string());
        crate::metrics::schema_extracted(output.and_then(|output| interpret(&output, timeout)))
    }

    fn environment(&self, script: &FoundScript) -> Vec<(OsString, OsString)> {
        let mut env = process::clean_env(&self.child_path, &self.scratch_dir);
        if let Some(deps) = &self.deps {
            env.extend(deps.extraction_env(script.runtime, &script.absolute, &script.deps));
        }
        env
    }
}

/// Turns an extraction's output into an ARGS_MAP or a reason a person can act on.
pub fn interpret(output: &Output, timeout: Duration) -> Result<ArgsMap, String> {
    match output.termination {
        Termination::Exited(0) => {}
        Termination::Exited(code) => {
            let detail = match crash_summary(&output.stderr) {
                summary if summary.is_empty() => process::tail_text(&output.stdout, 500),
                summary => summary,
            };
            return Err(
                format!("schema extraction exited with code {code}: {detail}")
                    .trim_end_matches(": ")
                    .to_string(),
            );
        }
        Termination::Signaled(signal) => {
            return Err(format!("schema extraction was killed by signal {signal}"))
        }
        Termination::TimedOut => {
            return Err(format!(
                "schema extraction timed out after {}s; the process was killed",
                timeout.as_secs_f64()
            ))
        }
        Termination::OutputLimit(stream) => {
            let name = if stream == Stream::Stdout {
                "stdout"
            } else {
                "stderr"
            };
            return Err(format!(
                "schema extraction printed more than 1 MiB on {name}; the process was killed"
            ));
        }
        Termination::Cancelled => return Err("schema extraction was cancelled".into()),
        Termination::DiskLimit => return Err("schema extraction wrote too much".into()),
    }
    let value = parse_printed_json(&output.stdout)?;
    ArgsMap::parse(value).map_err(|e| e.to_string())
}

/// The end of a crash report without stack frames: Node prints the error before about ten
/// `at ...` lines, Python after its `File ...` lines, and either way the error line stays.
fn crash_summary(stderr: &[u8]) -> String {
    let text = String::from_utf8_lossy(stderr);
    let kept: Vec<&str> = text
        .lines()
        .filter(|line| {
            let trimmed = line.trim_start();
            !(trimmed.starts_with("at ") || trimmed.starts_with("Node.js v") || trimmed.is_empty())
        })
        .collect();
    process::tail_text(kept.join("\n").as_bytes(), 500)
}

/// The whole of stdout as JSON, or else its last non-empty line (scripts that print a banner first).
fn parse_printed_json(stdout: &[u8]) -> Result<Value, String> {
    let text = String::from_utf8_lossy(stdout);
    let text = text.trim();
    if text.is_empty() {
        return Err(format!("schema extraction printed nothing on stdout (expected a JSON object after {SCHEMA_FLAG})"));
    }
    let whole_error = match serde_json::from_str::<Value>(text) {
        Ok(value) => return Ok(value),
        Err(e) => e,
    };
    if let Some(last) = text.lines().map(str::trim).rfind(|l| !l.is_empty()) {
        if let Ok(value @ Value::Object(_)) = serde_json::from_str::<Value>(last) {
            return Ok(value);
        }
    }
    let start: String = text.chars().take(120).collect();
    Err(format!(
        "schema output is not valid JSON ({whole_error}); it began with: {start}"
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn output(termination: Termination, stdout: &str, stderr: &str) -> Output {
        Output {
            termination,
            stdout: stdout.as_bytes().to_vec(),
            stderr: stderr.as_bytes().to_vec(),
            duration: Duration::from_millis(5),
            exhausted: Default::default(),
        }
    }

    #[test]
    fn reasons_say_what_went_wrong() {
        let t = Duration::from_secs(2);
        let cases = [
            (
                output(Termination::Exited(1), "", "Traceback...\nNameError: x"),
                "exited with code 1: Traceback...\nNameError: x",
            ),
            (
                output(Termination::Exited(3), "partial", ""),
                "exited with code 3: partial",
            ),
            (output(Termination::Exited(2), "", ""), "exited with code 2"),
            (
                output(Termination::TimedOut, "", ""),
                "timed out after 2s; the process was killed",
            ),
            (
                output(Termination::Signaled(9), "", ""),
                "killed by signal 9",
            ),
            (
                output(Termination::OutputLimit(Stream::Stdout), "", ""),
                "more than 1 MiB on stdout",
            ),
            (
                output(Termination::Exited(0), "  \n", ""),
                "printed nothing on stdout",
            ),
            (
                output(Termination::Exited(0), "hello world", ""),
                "not valid JSON (expected value at line 1 column 1); it began with: hello world",
            ),
            (
                output(Termination::Exited(0), "[1,2]", ""),
                "schema is an array",
            ),
            (
                output(Termination::Exited(0), "{\"a\": {\"type\": \"int\"}}", ""),
                "entry \"a\": has no \"flag\"",
            ),
        ];
        for (out, expected) in cases {
            let err = interpret(&out, t).expect_err(expected);
            assert!(
                err.ends_with(expected) || err.contains(expected),
                "got {err:?}, want {expected:?}"
            );
        }
    }

    #[test]
    fn a_node_crash_keeps_its_error_line() {
        let mut stderr = String::from(
            "/r/js/x.js:3\n  throw new TypeError('bad input')\n  ^\n\nTypeError: bad input\n",
        );
        for i in 0..40 {
            stderr.push_str(&format!(
                "    at Module._compile (node:internal/modules/cjs/loader:{i}:14)\n"
            ));
        }
        stderr.push_str("\nNode.js v20.20.2\n");
        let err = interpret(
            &output(Termination::Exited(1), "", &stderr),
            Duration::from_secs(1),
        )
        .unwrap_err();
        assert!(err.contains("TypeError: bad input"), "{err}");
        assert!(!err.contains("Module._compile"), "{err}");
    }

    #[test]
    fn accepts_a_banner_before_the_schema() {
        let out = output(
            Termination::Exited(0),
            "loading model...\n{\"n\": {\"flag\": \"--n\", \"type\": \"int\"}}\n",
            "",
        );
        let map = interpret(&out, Duration::from_secs(1)).unwrap();
        assert_eq!(map.specs()[0].name, "n");
    }
}
