//! Starting one child inside its enclosure: between clone and exec the child joins its
//! cgroup, sets its limits and drops to the run user, so no instruction of the script runs
//! outside them.

use std::ffi::OsStr;
use std::io;
use std::os::fd::{FromRawFd, OwnedFd};
use std::path::PathBuf;

use super::child::Child;
use super::contain::{self, Cell};
use super::launch::{self, c_string, Launch, RunUser};
use super::{find_program, split_search_path, ProcessError, ProcessSpec};

pub(super) fn spawn(spec: &ProcessSpec, cell: Option<&Cell>) -> Result<Child, ProcessError> {
    let failed = |source| ProcessError::Spawn {
        program: spec.program.display().to_string(),
        source,
    };
    let (stdout, stdout_w) = pipe().map_err(failed)?;
    let (stderr, stderr_w) = pipe().map_err(failed)?;
    let launch = prepare(
        spec,
        cell,
        [dev_null().map_err(failed)?, stdout_w, stderr_w],
    )
    .map_err(failed)?;
    // Held across the start, so the subreaper's sweep never sees the child unregistered.
    let mut children = contain::child_registry();
    let started = launch::start(launch).map_err(failed)?;
    children.push(started.pid);
    drop(children);
    Child::new(started, stdout, stderr).map_err(failed)
}

fn prepare(spec: &ProcessSpec, cell: Option<&Cell>, stdio: [OwnedFd; 3]) -> io::Result<Launch> {
    let program = resolve(spec)?;
    let argv = std::iter::once(spec.program.as_os_str())
        .chain(spec.args.iter().map(|arg| arg.as_os_str()))
        .map(c_string)
        .collect::<io::Result<_>>()?;
    let envp = spec
        .env
        .iter()
        .map(|(key, value)| {
            let mut entry = key.clone();
            entry.push("=");
            entry.push(value);
            c_string(&entry)
        })
        .collect::<io::Result<_>>()?;
    Ok(Launch {
        program: c_string(program.as_os_str())?,
        argv,
        envp,
        cwd: c_string(spec.cwd.as_os_str())?,
        stdio,
        join: cell.map(Cell::join_fds).unwrap_or_default(),
        rlimits: spec.limits.rlimits(cell.is_none()),
        user: spec
            .user_code
            .then(|| contain::current().run_as())
            .flatten()
            .map(|user| RunUser {
                uid: user.uid,
                gid: user.gid,
            }),
    })
}

/// The program's path: a bare name is looked up on the child's own `PATH`, as a shell would.
fn resolve(spec: &ProcessSpec) -> io::Result<PathBuf> {
    let name = spec.program.as_os_str();
    if spec.program.components().count() > 1 {
        return Ok(spec.program.clone());
    }
    let search_path = spec
        .env
        .iter()
        .find(|(key, _)| key == "PATH")
        .map(|(_, value)| split_search_path(value))
        .unwrap_or_default();
    find_program(&name.to_string_lossy(), &search_path).ok_or_else(|| {
        io::Error::new(
            io::ErrorKind::NotFound,
            format!(
                "{} is not on the child's PATH",
                OsStr::new(name).to_string_lossy()
            ),
        )
    })
}

/// A pipe whose ends are both closed on exec; the child gets its write end through dup2.
fn pipe() -> io::Result<(OwnedFd, OwnedFd)> {
    let mut fds = [0; 2];
    // SAFETY: pipe2 fills two new descriptors that nothing else owns.
    if unsafe { libc::pipe2(fds.as_mut_ptr(), libc::O_CLOEXEC) } != 0 {
        return Err(io::Error::last_os_error());
    }
    // SAFETY: as above.
    Ok(unsafe { (OwnedFd::from_raw_fd(fds[0]), OwnedFd::from_raw_fd(fds[1])) })
}

fn dev_null() -> io::Result<OwnedFd> {
    Ok(std::fs::File::open("/dev/null")?.into())
}
