//! Which warm process a run can use (the same interpreter, started with the same
//! environment but for the run's own folders and identity), and how such a process is
//! started.

use std::ffi::{OsStr, OsString};
use std::io;
use std::os::fd::OwnedFd;
use std::path::{Path, PathBuf};

use super::super::launch::{self, c_string, Launch};
use super::super::ProcessSpec;

/// Variables that differ from run to run; the rest decide which warm process a run can use.
const PER_RUN: [&str; 2] = ["HOME", "TMPDIR"];
/// Bytes of command line a warm child can show in /proc beyond its process's own: the last
/// argument of every warm process is this much room (see `show_as_started` in the fork
/// server and `process.title` in the node worker).
const COMMAND_LINE_ROOM: usize = 4096;

#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct WarmKey {
    interpreter: PathBuf,
    env: Vec<(OsString, OsString)>,
}

impl WarmKey {
    pub(super) fn of(spec: &ProcessSpec) -> WarmKey {
        let mut env: Vec<(OsString, OsString)> = spec
            .env
            .iter()
            .filter(|(name, _)| {
                let name = name.to_string_lossy();
                !PER_RUN.contains(&name.as_ref()) && !name.starts_with("SG_")
            })
            .cloned()
            .collect();
        env.sort();
        WarmKey {
            interpreter: spec.program.clone(),
            env,
        }
    }

    pub(super) fn describe(&self) -> String {
        self.interpreter.to_string_lossy().into_owned()
    }

    /// The dependency folders on its `PYTHONPATH`.
    pub(super) fn python_path(&self) -> Option<String> {
        self.env
            .iter()
            .find(|(name, _)| name == "PYTHONPATH")
            .map(|(_, value)| value.to_string_lossy().into_owned())
    }

    /// A process of this key running `args` (its program and options), in `scratch` (also
    /// its HOME and TMPDIR), with no cell, limits or user of its own yet.
    pub(super) fn launch(
        &self,
        args: &[&OsStr],
        scratch: &Path,
        stdio: [OwnedFd; 3],
    ) -> io::Result<Launch> {
        let program = c_string(self.interpreter.as_os_str())?;
        let room = " ".repeat(COMMAND_LINE_ROOM);
        let mut argv = vec![program.clone()];
        for arg in args.iter().copied().chain([OsStr::new(&room)]) {
            argv.push(c_string(arg)?);
        }
        let folders = [("HOME", scratch), ("TMPDIR", scratch)];
        let envp = launch::envp(
            self.env
                .iter()
                .map(|(k, v)| (k.as_os_str(), v.as_os_str()))
                .chain(folders.iter().map(|(k, v)| (OsStr::new(*k), v.as_os_str()))),
        )?;
        Ok(Launch {
            program,
            argv,
            envp,
            cwd: c_string(scratch.as_os_str())?,
            stdio,
            join: Vec::new(),
            rlimits: Vec::new(),
            user: None,
        })
    }
}
