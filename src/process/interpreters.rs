//! Python and Node.js, found once at start and resolved to their real executables.

use std::ffi::{OsStr, OsString};
use std::path::{Path, PathBuf};
use std::time::Duration;

use crate::domain::Runtime;

use super::{find_program, run, ProcessSpec};

/// An interpreter resolved once at start: the real executable, not a shell shim in
/// front of it (a pyenv shim costs ~50 ms per spawn).
#[derive(Debug, Clone)]
pub enum Interpreter {
    Ready(PathBuf),
    Missing(String),
}

/// The interpreter of each runtime.
#[derive(Debug, Clone)]
pub struct Interpreters {
    python: Interpreter,
    node: Interpreter,
}

impl Interpreters {
    /// Finds `python` and `node` (names looked up in `search_path`, or absolute paths) and
    /// asks each for its real executable, with `path_env` as the probe's PATH.
    pub async fn resolve(
        python: &str,
        node: &str,
        path_env: &OsStr,
        search_path: &[PathBuf],
    ) -> Interpreters {
        let lookup = Lookup {
            path_env,
            search_path,
        };
        Interpreters {
            python: resolve_one(
                python,
                &["-c", "import sys; print(sys.executable)"],
                &lookup,
            )
            .await,
            node: resolve_one(node, &["-p", "process.execPath"], &lookup).await,
        }
    }

    pub fn get(&self, runtime: Runtime) -> &Interpreter {
        match runtime {
            Runtime::Python => &self.python,
            Runtime::Js => &self.node,
        }
    }

    /// The interpreters found, as paths.
    pub fn executables(&self) -> Vec<PathBuf> {
        [&self.python, &self.node]
            .into_iter()
            .filter_map(|i| match i {
                Interpreter::Ready(path) => Some(path.clone()),
                Interpreter::Missing(_) => None,
            })
            .collect()
    }

    pub fn executable(&self, runtime: Runtime) -> Result<&Path, String> {
        match self.get(runtime) {
            Interpreter::Ready(path) => Ok(path),
            Interpreter::Missing(reason) => Err(reason.clone()),
        }
    }
}

/// The gateway's PATH as children get it, and split into folders (both read once by config).
struct Lookup<'a> {
    path_env: &'a OsStr,
    search_path: &'a [PathBuf],
}

async fn resolve_one(program: &str, probe: &[&str], lookup: &Lookup<'_>) -> Interpreter {
    let Some(found) = find_program(program, lookup.search_path) else {
        return Interpreter::Missing(format!("interpreter \"{program}\" was not found on PATH"));
    };
    let spec = ProcessSpec::new(
        found.clone(),
        probe.iter().map(OsString::from).collect(),
        // The probe only prints a path; any folder that exists will do.
        "/",
        vec![("PATH".into(), lookup.path_env.to_os_string())],
    )
    .timeout(Duration::from_secs(20))
    .output_limit(64 * 1024)
    .kill_grace(Duration::from_millis(200));
    match run(&spec, None).await {
        Ok(output) if output.success() => {
            let reported = PathBuf::from(String::from_utf8_lossy(&output.stdout).trim());
            if reported.is_absolute() && reported.is_file() {
                Interpreter::Ready(reported)
            } else {
                Interpreter::Ready(found)
            }
        }
        Ok(output) => Interpreter::Missing(format!(
            "interpreter {} does not work: {:?} {}",
            found.display(),
            output.termination,
            output.stderr_tail(300)
        )),
        Err(error) => Interpreter::Missing(error.to_string()),
    }
}
