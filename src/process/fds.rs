//! Descriptors around a child's start: its pipes, its stdin, and the gateway's own
//! inherited descriptors kept out of every child.

use std::io;
use std::os::fd::{FromRawFd, OwnedFd};

/// Marks every descriptor the gateway inherited (beyond stdio) close-on-exec, so nothing its
/// own parent left open reaches a child. Called once at start, before any child exists.
pub fn seal_inherited_descriptors() {
    // SAFETY: close_range only changes flags of descriptors; none is closed.
    let sealed = unsafe {
        libc::syscall(
            libc::SYS_close_range,
            3u32,
            u32::MAX,
            libc::CLOSE_RANGE_CLOEXEC,
        )
    };
    if sealed != 0 {
        for fd in inherited_descriptors() {
            // SAFETY: fcntl on an integer descriptor number; a closed one just fails.
            unsafe { libc::fcntl(fd, libc::F_SETFD, libc::FD_CLOEXEC) };
        }
    }
}

/// Open descriptors above stdio (for kernels before 5.11, without CLOSE_RANGE_CLOEXEC).
fn inherited_descriptors() -> Vec<i32> {
    std::fs::read_dir("/proc/self/fd")
        .map(|entries| {
            entries
                .filter_map(|e| e.ok()?.file_name().to_str()?.parse().ok())
                .filter(|fd| *fd > 2)
                .collect()
        })
        .unwrap_or_default()
}

/// A pipe whose ends are both closed on exec; the child gets its write end through dup2.
pub(super) fn pipe() -> io::Result<(OwnedFd, OwnedFd)> {
    let mut fds = [0; 2];
    // SAFETY: pipe2 fills two new descriptors that nothing else owns.
    if unsafe { libc::pipe2(fds.as_mut_ptr(), libc::O_CLOEXEC) } != 0 {
        return Err(io::Error::last_os_error());
    }
    // SAFETY: as above.
    Ok(unsafe { (OwnedFd::from_raw_fd(fds[0]), OwnedFd::from_raw_fd(fds[1])) })
}

pub(super) fn dev_null() -> io::Result<OwnedFd> {
    Ok(std::fs::File::open("/dev/null")?.into())
}
