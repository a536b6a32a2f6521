//! The environment a run's process starts with (before its dependency paths), and the same
//! environment as a preview for a run that does not exist yet.

use std::ffi::{OsStr, OsString};
use std::path::{Path, PathBuf};

use crate::catalog::Script;
use crate::process;

use super::workspace::RunDir;

/// The id a preview shows where a real run has its number.
const PREVIEW_RUN_ID: &str = "{run_id}";

/// What a run of a script would start with: its working directory and its environment,
/// with `{run_id}` standing for the id it does not have yet.
#[derive(Debug, Clone)]
pub struct RunEnvironmentView {
    pub cwd: PathBuf,
    pub env: Vec<(OsString, OsString)>,
}

/// The working directory and environment a run of `script` starts with, before its
/// dependency paths are added (for showing, not for running: nothing is created).
pub fn preview_environment(
    runs_dir: &Path,
    child_path: &OsStr,
    script: &Script,
    base_url: Option<&str>,
) -> RunEnvironmentView {
    let run_dir = RunDir {
        root: runs_dir.join(PREVIEW_RUN_ID),
    };
    RunEnvironmentView {
        cwd: run_dir.work(),
        env: run_env(child_path, &run_dir, PREVIEW_RUN_ID, Some(script), base_url),
    }
}

/// The environment a run starts with (before its dependency paths): the clean base, HOME in
/// its working directory, TMPDIR in its scratch folder, the run's identity, and the gateway's
/// public URL when one is set (so a script can hand out links to its files).
pub fn run_env(
    child_path: &OsStr,
    run_dir: &RunDir,
    run_id: &str,
    script: Option<&Script>,
    base_url: Option<&str>,
) -> Vec<(OsString, OsString)> {
    let mut env = process::clean_env(child_path, &run_dir.work());
    env.retain(|(key, _)| key != "TMPDIR");
    env.push(("TMPDIR".into(), run_dir.tmp().into_os_string()));
    env.push(("SG_RUN_ID".into(), run_id.into()));
    // An ad-hoc run has no script to name.
    if let Some(script) = script {
        env.push(("SG_SCRIPT_ID".into(), script.id.to_string().into()));
        env.push(("SG_SCRIPT_PATH".into(), script.path.clone().into()));
    }
    if let Some(base_url) = base_url {
        env.push(("SG_BASE_URL".into(), base_url.into()));
    }
    env
}
