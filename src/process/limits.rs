//! Resource limits for a child, set by the child itself between fork and exec, so that no
//! instruction of the script runs without them.

use std::io;

/// Each `None` leaves the inherited limit alone.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash)]
pub struct ResourceLimits {
    pub cpu_seconds: Option<u64>,
    pub address_space_bytes: Option<u64>,
    pub open_files: Option<u64>,
    pub processes: Option<u64>,
    pub file_size_bytes: Option<u64>,
}

/// One `setrlimit` call, prepared before the fork.
#[derive(Debug, Clone, Copy)]
pub struct Rlimit {
    resource: libc::__rlimit_resource_t,
    limit: libc::rlimit,
}

impl ResourceLimits {
    /// The calls to make in the child. `per_user_processes` is false when a cgroup already
    /// caps the run's processes: RLIMIT_NPROC counts every process of the user, so runs
    /// sharing a run user would count against each other.
    pub fn rlimits(&self, per_user_processes: bool) -> Vec<Rlimit> {
        let processes = self.processes.filter(|_| per_user_processes);
        [
            (libc::RLIMIT_CPU, self.cpu_seconds),
            (libc::RLIMIT_AS, self.address_space_bytes),
            (libc::RLIMIT_NOFILE, self.open_files),
            (libc::RLIMIT_NPROC, processes),
            (libc::RLIMIT_FSIZE, self.file_size_bytes),
        ]
        .into_iter()
        .filter_map(|(resource, value)| value.map(|v| Rlimit::new(resource, v)))
        .collect()
    }
}

impl Rlimit {
    fn new(resource: libc::__rlimit_resource_t, value: u64) -> Rlimit {
        // For CPU time the hard limit is one second above the soft one, so the child first
        // gets SIGXCPU (reported as a limit) rather than an anonymous SIGKILL.
        let hard = if resource == libc::RLIMIT_CPU {
            value.saturating_add(1)
        } else {
            value
        };
        Rlimit {
            resource,
            limit: libc::rlimit {
                rlim_cur: value,
                rlim_max: hard,
            },
        }
    }

    /// (resource, soft limit, hard limit), for a child that sets its limits itself.
    pub fn parts(&self) -> (u32, u64, u64) {
        (self.resource, self.limit.rlim_cur, self.limit.rlim_max)
    }

    /// Applies the limit to the calling process (async-signal-safe: one system call).
    pub fn set_own(&self) -> io::Result<()> {
        // SAFETY: setrlimit only reads `limit`.
        if unsafe { libc::setrlimit(self.resource, &self.limit) } == 0 {
            Ok(())
        } else {
            Err(io::Error::last_os_error())
        }
    }
}
