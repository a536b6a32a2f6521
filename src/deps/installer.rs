//! The commands that install a set: `uv pip install --target` (or `python -m pip install
//! --target`) for Python, then `python -m compileall` over the ready cache, and
//! `npm install --prefix` for JS. Requirements are argv entries
//! after `--`, or JSON in a package.json; no shell ever sees them.

use std::ffi::{OsStr, OsString};
use std::io;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use serde_json::{Map, Value};

use crate::config::DepsSettings;
use crate::domain::Runtime;
use crate::process::{self, find_program, Interpreters, Output, ProcessSpec, Termination};

use super::set::{entry_name, DepSet};

const OUTPUT_LIMIT: usize = 4 * 1024 * 1024;
const REASON_CHARS: usize = 600;

/// Finds and runs the installers.
pub struct Installer {
    settings: DepsSettings,
    interpreters: Arc<Interpreters>,
    child_path: OsString,
    home: PathBuf,
    uv: Option<PathBuf>,
    npm: Option<PathBuf>,
}

/// One install command, ready to run.
pub struct InstallCommand {
    pub spec: ProcessSpec,
    pub tool: &'static str,
    /// The command line, for the install log.
    pub display: String,
}

impl Installer {
    pub fn new(
        settings: DepsSettings,
        interpreters: Arc<Interpreters>,
        child_path: OsString,
        home: PathBuf,
    ) -> Installer {
        let uv = settings
            .uv
            .as_deref()
            .and_then(|uv| find_program(uv, &settings.search_path));
        let npm = find_program(&settings.npm, &settings.search_path);
        Installer {
            settings,
            interpreters,
            child_path,
            home,
            uv,
            npm,
        }
    }

    /// `uv` or `pip`.
    pub fn python_tool(&self) -> &'static str {
        if self.uv.is_some() {
            "uv"
        } else {
            "pip"
        }
    }

    /// The command that installs `set` into the empty folder `target`.
    pub fn command(&self, set: &DepSet, target: &Path) -> Result<InstallCommand, String> {
        let (tool, program, args) = match set.runtime {
            Runtime::Python => self.python_command(set, target)?,
            Runtime::Js => self.npm_command(target)?,
        };
        let display = std::iter::once(program.as_os_str())
            .chain(args.iter().map(OsString::as_os_str))
            .map(display_word)
            .collect::<Vec<_>>()
            .join(" ");
        let spec = ProcessSpec::new(program, args, target, self.environment(tool))
            .timeout(self.settings.install_timeout)
            .output_limit(OUTPUT_LIMIT)
            .kill_grace(Duration::from_secs(2));
        Ok(InstallCommand {
            spec,
            tool,
            display,
        })
    }

    fn python_command(
        &self,
        set: &DepSet,
        target: &Path,
    ) -> Result<(&'static str, PathBuf, Vec<OsString>), String> {
        let python = self.interpreters.executable(Runtime::Python)?.to_path_buf();
        let (options, requirements): (Vec<&String>, Vec<&String>) =
            set.entries.iter().partition(|e| e.starts_with('-'));
        let mut args: Vec<OsString> = Vec::new();
        let program = match &self.uv {
            Some(uv) => {
                args.extend(["pip", "install", "--no-progress"].map(OsString::from));
                args.extend(["--python".into(), python.into_os_string()]);
                uv.clone()
            }
            None => {
                args.extend(
                    [
                        "-m",
                        "pip",
                        "install",
                        "--no-input",
                        "--disable-pip-version-check",
                    ]
                    .map(OsString::from),
                );
                args.extend(
                    [
                        "--no-warn-script-location",
                        "--progress-bar",
                        "off",
                        "--no-compile",
                    ]
                    .map(OsString::from),
                );
                python
            }
        };
        args.extend(["--target".into(), target.as_os_str().to_os_string()]);
        args.extend(options.into_iter().map(OsString::from));
        args.extend(self.settings.python_install_args.iter().map(OsString::from));
        args.push("--".into());
        args.extend(requirements.into_iter().map(OsString::from));
        Ok((self.python_tool(), program, args))
    }

    /// Writes the bytecode of a ready Python cache. It runs after the install, not inside
    /// it: compiling made every large set (numpy: 2.2 s against 0.4 s with uv's cache warm)
    /// and so the whole first load of a repo wait, while a run that starts before the
    /// bytecode is there only imports from source once more (numpy: 0.2 s against 0.1 s).
    pub fn bytecode_command(&self, dir: &Path) -> Result<ProcessSpec, String> {
        let python = self.interpreters.executable(Runtime::Python)?.to_path_buf();
        let mut args: Vec<OsString> = ["-m", "compileall", "-q"].map(OsString::from).into();
        args.push(dir.as_os_str().to_os_string());
        Ok(ProcessSpec::new(python, args, dir, self.environment("pip"))
            .timeout(self.settings.install_timeout)
            .output_limit(OUTPUT_LIMIT)
            .kill_grace(Duration::from_secs(2)))
    }

    fn npm_command(&self, target: &Path) -> Result<(&'static str, PathBuf, Vec<OsString>), String> {
        let npm = self.npm.clone().ok_or_else(|| {
            format!(
                "npm ({}) was not found on PATH; install npm or set --npm",
                self.settings.npm
            )
        })?;
        let mut args: Vec<OsString> = vec!["install".into(), "--prefix".into(), target.into()];
        args.extend(
            [
                "--no-audit",
                "--no-fund",
                "--no-update-notifier",
                "--install-links",
            ]
            .map(OsString::from),
        );
        args.extend(self.settings.npm_install_args.iter().map(OsString::from));
        Ok(("npm", npm, args))
    }

    /// A clean environment with the installers' HOME, plus the gateway's index, proxy and
    /// certificate settings (translated for uv, which ignores pip's).
    fn environment(&self, tool: &str) -> Vec<(OsString, OsString)> {
        let mut env = process::clean_env(&self.child_path, &self.home);
        env.extend(self.settings.installer_env.iter().cloned());
        if tool == "uv" {
            let has = |key: &str| env.iter().any(|(k, _)| k == key);
            let mut extra: Vec<(OsString, OsString)> = Vec::new();
            for (pip, uv) in UV_FROM_PIP {
                if let Some((_, value)) = env.iter().find(|(k, _)| k == pip) {
                    if !has(uv) {
                        extra.push((uv.into(), value.clone()));
                    }
                }
            }
            for (key, value) in [("UV_SYSTEM_CERTS", "1"), ("UV_PYTHON_DOWNLOADS", "never")] {
                if !has(key) {
                    extra.push((key.into(), value.into()));
                }
            }
            env.extend(extra);
        }
        env
    }
}

const UV_FROM_PIP: [(&str, &str); 4] = [
    ("PIP_INDEX_URL", "UV_DEFAULT_INDEX"),
    ("PIP_EXTRA_INDEX_URL", "UV_EXTRA_INDEX_URL"),
    ("PIP_FIND_LINKS", "UV_FIND_LINKS"),
    ("PIP_NO_INDEX", "UV_NO_INDEX"),
];

/// Writes the package.json npm installs a JS set from (devDependencies merged in).
pub fn write_manifest(set: &DepSet, target: &Path) -> io::Result<()> {
    let mut dependencies = Map::new();
    for entry in &set.entries {
        let name = entry_name(Runtime::Js, entry).unwrap_or(entry);
        let spec = entry.get(name.len() + 1..).unwrap_or("*");
        dependencies.insert(name.to_string(), Value::String(spec.to_string()));
    }
    let manifest = serde_json::json!({
        "name": format!("sg-deps-{}", set.hash),
        "private": true,
        "description": "Installed by ScriptGateway; do not edit.",
        "dependencies": dependencies,
    });
    let text = serde_json::to_string_pretty(&manifest).map_err(io::Error::other)?;
    std::fs::write(target.join("package.json"), text)
}

/// `Ok` when the installer succeeded, else a reason that names the failing packages.
pub fn judge(set: &DepSet, tool: &str, output: &Output) -> Result<(), String> {
    let names = set.names();
    let all = names.join(", ");
    let reason = match output.termination {
        Termination::Exited(0) => return Ok(()),
        Termination::Exited(code) => return Err(exited_reason(&names, tool, code, output)),
        Termination::TimedOut => format!("{tool} did not finish in time and was stopped"),
        Termination::Signaled(signal) => format!("{tool} was killed by signal {signal}"),
        Termination::OutputLimit(_) => format!("{tool} printed too much and was stopped"),
        Termination::DiskLimit => format!("{tool} wrote more than it may and was stopped"),
        Termination::Cancelled => format!("{tool} was cancelled"),
    };
    Err(format!("installing {all} failed: {reason}"))
}

fn exited_reason(names: &[&str], tool: &str, code: i32, output: &Output) -> String {
    let text = format!(
        "{}\n{}",
        String::from_utf8_lossy(&output.stderr),
        String::from_utf8_lossy(&output.stdout)
    );
    let errors: Vec<&str> = text
        .lines()
        .map(str::trim)
        .filter(|line| is_error_line(line))
        .take(4)
        .collect();
    let detail = match errors.is_empty() {
        true => one_line(&process::tail_text(text.trim().as_bytes(), 300)),
        false => errors.join(" "),
    };
    let searched = match errors.is_empty() {
        true => text.to_lowercase(),
        false => errors.join("\n").to_lowercase(),
    };
    let mut culprits: Vec<&str> = names
        .iter()
        .copied()
        .filter(|n| searched.contains(&n.to_lowercase()))
        .collect();
    if culprits.is_empty() {
        culprits = names.to_vec();
    }
    let reason = format!(
        "{tool} could not install {} (exit code {code}): {detail}",
        culprits.join(", ")
    );
    truncate(&reason, REASON_CHARS)
}

fn one_line(text: &str) -> String {
    let lines: Vec<&str> = text
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty())
        .collect();
    lines.join(" ")
}

fn is_error_line(line: &str) -> bool {
    let lower = line.to_lowercase();
    lower.contains("error")
        || line.starts_with('×')
        || lower.contains("because ")
        || lower.starts_with("cause:")
}

fn truncate(text: &str, max_chars: usize) -> String {
    match text.char_indices().nth(max_chars) {
        Some((cut, _)) => format!("{}…", &text[..cut]),
        None => text.to_string(),
    }
}

/// The full record of an install: the command, then everything it printed.
pub fn log_text(display: &str, output: &Output) -> String {
    format!(
        "$ {display}\n{}{}\n[{:?} after {} ms]\n",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr),
        output.termination,
        output.duration.as_millis()
    )
}

fn display_word(word: &OsStr) -> String {
    let text = word.to_string_lossy();
    let plain = |c: char| c.is_ascii_alphanumeric() || "-_./=:@^~,+%".contains(c);
    match !text.is_empty() && text.chars().all(plain) {
        true => text.to_string(),
        false => format!("'{}'", text.replace('\'', "'\\''")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn output(code: i32, stderr: &str) -> Output {
        Output {
            termination: Termination::Exited(code),
            stdout: b"Collecting things\n".to_vec(),
            stderr: stderr.as_bytes().to_vec(),
            duration: Duration::from_millis(3),
            exhausted: Default::default(),
        }
    }

    #[test]
    fn a_failure_names_the_package_the_installer_complained_about() {
        let set = DepSet::new(Runtime::Python, vec!["six".into(), "nosuchpkg==1.0".into()]);
        let cases = [
            ("pip", "ERROR: Could not find a version that satisfies the requirement nosuchpkg==1.0 (from versions: none)\nERROR: No matching distribution found for nosuchpkg==1.0\n", "pip could not install nosuchpkg (exit code 1): ERROR: Could not find"),
            ("uv", "  × No solution found when resolving dependencies:\n  ╰─▶ Because nosuchpkg was not found in the package registry\n", "uv could not install nosuchpkg (exit code 1): × No solution found"),
            ("pip", "Traceback\nsomething odd\n", "pip could not install nosuchpkg, six (exit code 1): Traceback something odd Collecting things"),
        ];
        for (tool, stderr, want) in cases {
            let reason = judge(&set, tool, &output(1, stderr)).expect_err(want);
            assert!(reason.starts_with(want), "got {reason:?}, want {want:?}");
        }
        assert!(judge(&set, "pip", &output(0, "")).is_ok());
        let timed_out = Output {
            termination: Termination::TimedOut,
            ..output(1, "")
        };
        assert_eq!(
            judge(&set, "npm", &timed_out).unwrap_err(),
            "installing nosuchpkg, six failed: npm did not finish in time and was stopped"
        );
    }

    #[test]
    fn js_sets_become_a_package_json() {
        let set = DepSet::new(
            Runtime::Js,
            vec![
                "@scope/pkg@^1".into(),
                "uuid@npm:uuid@9".into(),
                "a@file:/x".into(),
            ],
        );
        let dir = tempfile::tempdir().unwrap();
        write_manifest(&set, dir.path()).unwrap();
        let text = std::fs::read_to_string(dir.path().join("package.json")).unwrap();
        let manifest: Value = serde_json::from_str(&text).unwrap();
        assert_eq!(
            manifest["dependencies"],
            serde_json::json!({"@scope/pkg": "^1", "a": "file:/x", "uuid": "npm:uuid@9"})
        );
    }

    #[test]
    fn command_lines_are_displayed_quoted() {
        assert_eq!(display_word(OsStr::new("--target=/a/b")), "--target=/a/b");
        assert_eq!(display_word(OsStr::new("foo; touch x")), "'foo; touch x'");
        assert_eq!(display_word(OsStr::new("it's")), "'it'\\''s'");
    }
}
