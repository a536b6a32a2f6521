//! How a session's worker is started: its folders, its environment (the clean one of runs,
//! the caller's variables, the gateway's mark) and the limits of runs.

use std::ffi::OsStr;
use std::path::{Path, PathBuf};

use crate::process::{self, ProcessSpec, ResourceLimits};
use crate::settings::RunSettings;

/// Variables a caller may set per session, at most.
const MAX_ENV: usize = 256;

/// Starts the Node worker: the gateway's pipes move to 3 (commands), 4 (replies) and 5 (the
/// worker's complaints); 1 and 2 append to the capture files.
const NODE_SHELL: &str = r#"exec "$0" "$1" 3<&0 4>&1 5>&2 </dev/null >>"$2/stdout" 2>>"$2/stderr""#;

/// A session's folders: `work` is the cwd (and what the files API sees), `home` is HOME,
/// `tmp` is TMPDIR, `io` holds a Node worker's capture files.
pub struct Layout {
    work: PathBuf,
    home: PathBuf,
    tmp: PathBuf,
    io: PathBuf,
}

/// The interpreter and the worker program it runs.
pub enum Program<'a> {
    Python { python: PathBuf, script: &'a Path },
    Node { node: PathBuf, script: &'a Path },
}

/// What every worker shares.
pub struct Worker<'a> {
    pub program: Program<'a>,
    pub child_path: &'a OsStr,
    /// `KEY=value`, in every worker's environment.
    pub marker: &'a str,
}

/// Makes a session's folders, given to the run user where there is one.
pub fn prepare_folders(folder: &Path) -> std::io::Result<Layout> {
    let layout = Layout {
        work: super::session::work_of(folder),
        home: folder.join("home"),
        tmp: folder.join("tmp"),
        io: folder.join("io"),
    };
    std::fs::create_dir(folder)?;
    for dir in [&layout.work, &layout.home, &layout.tmp, &layout.io] {
        std::fs::create_dir(dir)?;
        if let Some(user) = process::contain::current().run_as() {
            user.hand_over(dir)?;
        }
    }
    Ok(layout)
}

/// The worker's spec: run like a run's child, with the caller's variables (already checked).
pub fn worker_spec(
    worker: Worker<'_>,
    id: &str,
    layout: Layout,
    extra: Vec<(String, String)>,
    run: &RunSettings,
) -> ProcessSpec {
    let mut env = process::clean_env(worker.child_path, &layout.home);
    env.retain(|(key, _)| key != "TMPDIR");
    env.push(("TMPDIR".into(), layout.tmp.into_os_string()));
    env.push(("SG_SESSION_ID".into(), id.into()));
    env.retain(|(key, _)| !extra.iter().any(|(name, _)| key == name.as_str()));
    env.extend(extra.into_iter().map(|(k, v)| (k.into(), v.into())));
    let (name, value) = worker
        .marker
        .split_once('=')
        .expect("the marker is KEY=value");
    env.push((name.into(), value.into()));
    let limits = ResourceLimits {
        cpu_seconds: run.cpu_seconds,
        address_space_bytes: run.address_space_bytes,
        open_files: run.open_files,
        processes: run.processes,
        file_size_bytes: run.file_size_bytes,
    };
    let (program, args) = match worker.program {
        Program::Python { python, script } => (python, vec![script.as_os_str().into()]),
        Program::Node { node, script } => (
            PathBuf::from("/bin/sh"),
            vec![
                "-c".into(),
                NODE_SHELL.into(),
                node.into_os_string(),
                script.as_os_str().into(),
                layout.io.into_os_string(),
            ],
        ),
    };
    ProcessSpec::new(program, args, layout.work, env)
        .limits(limits)
        .user_code()
}

/// The caller's variables, checked: names a shell could set, values without NUL, and none
/// of the gateway's own session marks.
pub fn check_env(env: Vec<(String, String)>) -> Result<Vec<(String, String)>, String> {
    if env.len() > MAX_ENV {
        return Err(format!("at most {MAX_ENV} variables"));
    }
    for (name, value) in &env {
        if !crate::domain::is_variable_name(name) || name.starts_with("SG_SESSION") {
            return Err(format!("{name:?} is not a variable name a session may set"));
        }
        if value.contains('\0') {
            return Err(format!("the value of {name} holds a NUL byte"));
        }
    }
    Ok(env)
}

/// 128 random bits, hex: unguessable, so one caller cannot find another's session.
pub fn new_id() -> String {
    let mut bytes = [0u8; 16];
    getrandom::fill(&mut bytes).expect("the operating system provides randomness");
    hex::encode(bytes)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_plain_variable_names_without_the_gateways_marks_are_accepted() {
        let cases = [
            ("GREETING", "hi", true),
            ("_x1", "", true),
            ("PATH", "/opt/bin", true),
            ("1X", "v", false),
            ("A-B", "v", false),
            ("A=B", "v", false),
            ("", "v", false),
            ("SG_SESSIONS_OF", "/elsewhere", false),
            ("SG_SESSION_ID", "x", false),
            ("OK", "a\0b", false),
        ];
        for (name, value, accepted) in cases {
            let checked = check_env(vec![(name.into(), value.into())]);
            assert_eq!(checked.is_ok(), accepted, "{name:?}={value:?}: {checked:?}");
        }
        let many = (0..=MAX_ENV)
            .map(|i| (format!("V{i}"), String::new()))
            .collect();
        assert!(check_env(many).is_err());
    }

    #[test]
    fn the_callers_variables_replace_the_clean_ones_and_the_mark_comes_last() {
        let folder = tempfile::tempdir().unwrap();
        let layout = prepare_folders(&folder.path().join("s")).unwrap();
        let worker = Worker {
            program: Program::Python {
                python: "python3".into(),
                script: Path::new("/w.py"),
            },
            child_path: OsStr::new("/usr/bin"),
            marker: "SG_SESSIONS_OF=/data",
        };
        let extra = vec![("LANG".to_string(), "fr_FR.UTF-8".to_string())];
        let run = RunSettings {
            timeout: std::time::Duration::from_secs(1),
            max_output_bytes: 1,
            max_body_bytes: 1,
            max_json_body_bytes: 1,
            cpu_seconds: Some(5),
            address_space_bytes: None,
            open_files: None,
            processes: None,
            file_size_bytes: None,
            disk_bytes: None,
        };
        let spec = worker_spec(worker, "abc", layout, extra, &run);
        assert_eq!(spec.limits.cpu_seconds, Some(5));
        let value = |name: &str| -> Vec<String> {
            spec.env
                .iter()
                .filter(|(k, _)| k == name)
                .map(|(_, v)| v.to_string_lossy().into_owned())
                .collect()
        };
        assert_eq!(value("LANG"), ["fr_FR.UTF-8"]);
        assert_eq!(value("SG_SESSION_ID"), ["abc"]);
        assert!(value("TMPDIR")[0].ends_with("/s/tmp"));
        assert!(spec.cwd.ends_with("s/work"));
        assert_eq!(spec.env.last().unwrap().0, "SG_SESSIONS_OF");
    }
}
