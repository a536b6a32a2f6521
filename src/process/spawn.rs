//! Starting one child inside its enclosure: between clone and exec the child joins its
//! cgroup, sets its limits and drops to the run user, so no instruction of the script runs
//! outside them.

use std::ffi::OsStr;
use std::io;
use std::os::fd::OwnedFd;
use std::path::PathBuf;

use super::child::Child;
use super::contain::{self, Cell};
use super::fds::{dev_null, pipe};
use super::launch::{self, c_string, Launch, RunUser};
use super::warm::WarmRuntime;
use super::{find_program, split_search_path, ProcessError, ProcessSpec};

/// The child for `spec` and the cell it is in: warm (a pre-started node in the cell it was
/// started in, or a fork server's child that joins a new cell) where the spec allows it and
/// one is ready, else (and whenever a warm start fails) started cold in a new cell.
pub(super) async fn start(spec: &ProcessSpec) -> Result<(Child, Option<Cell>), ProcessError> {
    let warm = spec.warm.as_ref();
    if let Some(warm) = warm.filter(|w| w.runtime == WarmRuntime::Node) {
        if let Some(started) = warm.pool.take_node(spec) {
            return Ok(started);
        }
    }
    let cell = enclose(spec).map_err(|source| ProcessError::Limits {
        program: spec.program.display().to_string(),
        source,
    })?;
    if let Some(warm) = warm.filter(|w| w.runtime == WarmRuntime::Python) {
        if let Some(child) = warm.pool.fork(spec, cell.as_ref()).await {
            return Ok((child, cell));
        }
    }
    Ok((spawn(spec, cell.as_ref())?, cell))
}

/// A new cell for the child's tree, where cgroups are in use.
pub(super) fn enclose(spec: &ProcessSpec) -> io::Result<Option<Cell>> {
    contain::current().enclose(spec.limits.processes, spec.limits.address_space_bytes)
}

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
    let started = launch::start_registered(launch).map_err(failed)?;
    Child::new(started, stdout, stderr).map_err(failed)
}

pub(super) fn prepare(
    spec: &ProcessSpec,
    cell: Option<&Cell>,
    stdio: [OwnedFd; 3],
) -> io::Result<Launch> {
    let program = resolve(spec)?;
    let argv = std::iter::once(spec.program.as_os_str())
        .chain(spec.args.iter().map(|arg| arg.as_os_str()))
        .map(c_string)
        .collect::<io::Result<_>>()?;
    let envp = launch::envp(spec.env.iter().map(|(k, v)| (k.as_os_str(), v.as_os_str())))?;
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

#[cfg(test)]
mod tests {
    use super::*;

    /// Kernels before 5.2 refuse CLONE_PIDFD: a child is then waited for by a thread, with
    /// the same result.
    #[tokio::test]
    async fn a_child_started_without_a_pidfd_is_waited_for_all_the_same() {
        let spec = ProcessSpec::new(
            "/bin/sh",
            vec!["-c".into(), "echo out; exit 3".into()],
            std::env::temp_dir(),
            vec![("PATH".into(), "/usr/bin:/bin".into())],
        );
        let (stdout, stdout_w) = pipe().unwrap();
        let (stderr, stderr_w) = pipe().unwrap();
        let launch = prepare(&spec, None, [dev_null().unwrap(), stdout_w, stderr_w]).unwrap();
        let started = launch::start_with(&launch, false).unwrap();
        drop(launch);
        assert!(started.pidfd.is_none());
        let mut child = Child::new(started, stdout, stderr).unwrap();
        // A wait given up half way and started again still gets the status.
        let early = tokio::time::timeout(std::time::Duration::from_millis(1), child.wait()).await;
        assert!(early.is_err() || early.unwrap().unwrap().code() == Some(3));
        let status = child.wait().await.unwrap();
        assert_eq!(status.code(), Some(3));
        let mut out = String::new();
        let mut pipe = child.stdout.take().unwrap();
        tokio::io::AsyncReadExt::read_to_string(&mut pipe, &mut out)
            .await
            .unwrap();
        assert_eq!(out, "out\n");
    }
}
