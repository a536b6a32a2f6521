//! Resource limits for a child, applied with `prlimit(2)` right after the spawn.
//!
//! Setting them from a `pre_exec` hook would force std to fork instead of using
//! posix_spawn, and fork's cost grows with the gateway's memory. prlimit on the new pid
//! keeps spawning cheap; the interpreter has not run any script code by the time it lands.

use std::io;

/// Each `None` leaves the inherited limit alone.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ResourceLimits {
    pub cpu_seconds: Option<u64>,
    pub address_space_bytes: Option<u64>,
    pub open_files: Option<u64>,
    pub processes: Option<u64>,
    pub file_size_bytes: Option<u64>,
}

impl ResourceLimits {
    pub fn apply(&self, pid: u32) -> io::Result<()> {
        let pid = libc::pid_t::try_from(pid).map_err(io::Error::other)?;
        let pairs = [
            (libc::RLIMIT_CPU, self.cpu_seconds),
            (libc::RLIMIT_AS, self.address_space_bytes),
            (libc::RLIMIT_NOFILE, self.open_files),
            (libc::RLIMIT_NPROC, self.processes),
            (libc::RLIMIT_FSIZE, self.file_size_bytes),
        ];
        for (resource, value) in pairs {
            if let Some(value) = value {
                set_limit(pid, resource, value)?;
            }
        }
        Ok(())
    }
}

fn set_limit(pid: libc::pid_t, resource: libc::__rlimit_resource_t, value: u64) -> io::Result<()> {
    // For CPU time the hard limit is one second above the soft one, so the child first
    // gets SIGXCPU (reported as a limit) rather than an anonymous SIGKILL.
    let hard = if resource == libc::RLIMIT_CPU {
        value.saturating_add(1)
    } else {
        value
    };
    let limit = libc::rlimit {
        rlim_cur: value,
        rlim_max: hard,
    };
    // SAFETY: prlimit only reads `limit`, and a null old-limit pointer is allowed.
    let result = unsafe { libc::prlimit(pid, resource, &limit, std::ptr::null_mut()) };
    if result == 0 {
        Ok(())
    } else {
        Err(io::Error::last_os_error())
    }
}
