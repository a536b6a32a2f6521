//! What a run executes: a script from the catalog, or code sent to `POST /api/exec`. The
//! rest of a run (slot, folder, limits, capture, record) does not care which.

use std::ffi::OsString;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::SystemTime;

use crate::catalog::Script;
use crate::deps::{DepSet, DepsError, DepsManager, RunDeps};
use crate::domain::Runtime;
use crate::process;

use super::script_file;

pub enum Subject {
    Script(Box<Script>),
    Code(Code),
}

/// Ad-hoc code, ready to run: its file and its input files sit in the run's uploads.
pub struct Code {
    pub runtime: Runtime,
    /// The packages to install through the dependency caches.
    pub packages: Option<DepSet>,
    /// The caller's variables, added last to the clean environment.
    pub env: Vec<(OsString, OsString)>,
    /// Input files, where they were staged (moved into `work/` before the start).
    pub inputs: Vec<Input>,
}

/// An input file as staged: its name in the working folder, where it waits, its size.
#[derive(Debug, Clone)]
pub struct Input {
    pub name: String,
    pub staged: PathBuf,
    pub size: u64,
}

/// An input file as it was put in the working folder, to tell it from files the run made.
#[derive(Debug, Clone)]
pub struct PlacedInput {
    pub name: String,
    pub size: u64,
    pub modified: Option<SystemTime>,
}

impl Subject {
    /// The script behind the run, if there is one.
    pub fn script(&self) -> Option<&Script> {
        match self {
            Subject::Script(script) => Some(script),
            Subject::Code(_) => None,
        }
    }

    /// The dependency environment of the run (installing first when needed).
    pub async fn prepare_deps(&self, deps: &Arc<DepsManager>) -> Result<RunDeps, DepsError> {
        match self {
            Subject::Script(script) => deps.prepare_for_run(script).await,
            Subject::Code(code) => {
                deps.prepare_for_packages(code.runtime, code.packages.as_ref())
                    .await
            }
        }
    }

    /// Why the run must not start: a script file that changed since it was scanned.
    pub fn changed_since_accepted(&self, scripts_repo: &Path) -> Option<String> {
        let Subject::Script(script) = self else {
            return None;
        };
        script_file::check(scripts_repo, &script.path)
            .err()
            .map(|reason| {
                format!(
                    "{} changed since it was scanned and is not run: {reason}",
                    script.path
                )
            })
    }

    /// The caller's variables (none for a script run).
    pub fn extra_env(&self) -> &[(OsString, OsString)] {
        match self {
            Subject::Script(_) => &[],
            Subject::Code(code) => &code.env,
        }
    }

    /// Moves an ad-hoc run's input files from where they were staged (now under
    /// `uploads`, which replaced `staged_root`) into the working folder.
    pub fn place_inputs(
        &self,
        staged_root: Option<&Path>,
        uploads: &Path,
        work: &Path,
    ) -> std::io::Result<Vec<PlacedInput>> {
        let (Subject::Code(code), Some(staged_root)) = (self, staged_root) else {
            return Ok(Vec::new());
        };
        let mut placed = Vec::with_capacity(code.inputs.len());
        for input in &code.inputs {
            let Ok(rest) = input.staged.strip_prefix(staged_root) else {
                continue;
            };
            let target = work.join(&input.name);
            std::fs::rename(uploads.join(rest), &target)?;
            // The working folder is the run user's; so are the inputs put in it.
            if let Some(user) = process::contain::current().run_as() {
                user.hand_over_file(&target)?;
            }
            let metadata = std::fs::symlink_metadata(&target)?;
            placed.push(PlacedInput {
                name: input.name.clone(),
                size: metadata.len(),
                modified: metadata.modified().ok(),
            });
        }
        Ok(placed)
    }
}
