//! Starting one child inside its enclosure: between fork and exec the child joins its
//! cgroup, sets its limits and drops to the run user, so no instruction of the script runs
//! outside them.

use std::os::fd::RawFd;
use std::process::Stdio;

use super::contain::{self, Cell};
use super::limits::Rlimit;
use super::{ProcessError, ProcessSpec};

/// Everything the child does to itself before exec, prepared before the fork.
struct Enter {
    join: Vec<RawFd>,
    rlimits: Vec<Rlimit>,
    user: Option<(u32, u32)>,
}

impl Enter {
    /// Only system calls: this runs in the forked child, where allocating is not safe.
    fn apply(&self) -> std::io::Result<()> {
        for fd in &self.join {
            // SAFETY: `fd` is a `cgroup.procs` file the parent keeps open; writing "0" moves
            // the calling process.
            if unsafe { libc::write(*fd, b"0".as_ptr().cast(), 1) } != 1 {
                return Err(std::io::Error::last_os_error());
            }
        }
        for rlimit in &self.rlimits {
            rlimit.set_own()?;
        }
        if let Some((uid, gid)) = self.user {
            // SAFETY: plain system calls on integers; the order drops groups before the uid.
            let failed = unsafe {
                libc::prctl(libc::PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) != 0
                    || libc::setgroups(0, std::ptr::null()) != 0
                    || libc::setgid(gid) != 0
                    || libc::setuid(uid) != 0
            };
            if failed {
                return Err(std::io::Error::last_os_error());
            }
        }
        Ok(())
    }
}

pub(super) fn spawn(
    spec: &ProcessSpec,
    cell: Option<&Cell>,
) -> Result<tokio::process::Child, ProcessError> {
    let containment = contain::current();
    let enter = Enter {
        join: cell.map(Cell::join_fds).unwrap_or_default(),
        rlimits: spec.limits.rlimits(cell.is_none()),
        user: spec
            .user_code
            .then(|| containment.run_as())
            .flatten()
            .map(|user| (user.uid, user.gid)),
    };
    let mut command = tokio::process::Command::new(&spec.program);
    command
        .args(&spec.args)
        .current_dir(&spec.cwd)
        .env_clear()
        .envs(spec.env.iter().map(|(k, v)| (k, v)))
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .process_group(0)
        .kill_on_drop(true);
    // SAFETY: `Enter::apply` makes only async-signal-safe system calls.
    unsafe {
        command.pre_exec(move || enter.apply());
    }
    let mut children = contain::child_registry();
    let child = command.spawn().map_err(|source| ProcessError::Spawn {
        program: spec.program.display().to_string(),
        source,
    })?;
    if let Some(pid) = child.id() {
        children.push(pid);
    }
    Ok(child)
}
