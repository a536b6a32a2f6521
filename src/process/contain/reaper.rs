//! The fallback when no cgroups can be had: the gateway becomes the child subreaper, so a
//! process that detaches from its run (a new session, a double fork) is reparented to the
//! gateway instead of init, and a sweep kills every such orphan it finds.

use std::collections::HashSet;
use std::io;
use std::sync::{Mutex, MutexGuard};

/// Direct children the gateway started and still waits for; everything else whose parent
/// is the gateway was reparented to it and is an orphan of some run.
static CHILDREN: Mutex<Vec<u32>> = Mutex::new(Vec::new());

pub fn become_subreaper() -> io::Result<()> {
    // SAFETY: prctl with integer arguments only.
    let result = unsafe { libc::prctl(libc::PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0) };
    if result == 0 {
        Ok(())
    } else {
        Err(io::Error::last_os_error())
    }
}

/// Held while a child is being spawned and registered, so a sweep never sees it unregistered.
pub fn registry() -> MutexGuard<'static, Vec<u32>> {
    CHILDREN
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
}

pub fn forget(pid: u32) {
    registry().retain(|p| *p != pid);
}

/// Kills and reaps every process reparented to the gateway; returns how many it found.
/// Repeats while it finds some: killing a detached parent hands its children to us next.
pub fn sweep() -> usize {
    let mut total = 0;
    for _ in 0..20 {
        let known: HashSet<u32> = registry().iter().copied().collect();
        let orphans: Vec<u32> = crate::process::procfs::own_children()
            .into_iter()
            .filter(|pid| !known.contains(pid))
            .collect();
        if orphans.is_empty() {
            break;
        }
        for pid in &orphans {
            let raw = *pid as libc::pid_t;
            // SAFETY: kill(2) and waitpid(2) on a process whose parent is this gateway; the pid
            // cannot be reused before we reap it.
            unsafe {
                libc::kill(raw, libc::SIGKILL);
                libc::waitpid(raw, std::ptr::null_mut(), 0);
            }
        }
        total += orphans.len();
    }
    total
}
