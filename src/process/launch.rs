//! Starting a child without copying the gateway: `clone(CLONE_VM | CLONE_VFORK)` runs the
//! child on a small stack of its own inside the gateway's memory until it execs, as glibc's
//! `posix_spawn` does, so starting a run costs the same however large the gateway has grown.
//! Between clone and exec the child only makes system calls on what the parent prepared.

use std::ffi::{c_char, c_int, c_void, CString, OsStr};
use std::io;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd, RawFd};
use std::os::unix::ffi::OsStrExt;
use std::sync::atomic::{AtomicBool, AtomicI32, Ordering};

use super::limits::Rlimit;

/// Room for the child's few frames before exec.
const STACK_BYTES: usize = 64 * 1024;

/// The run user's ids, set by the child before exec.
#[derive(Debug, Clone, Copy)]
pub(super) struct RunUser {
    pub uid: u32,
    pub gid: u32,
}

/// Everything the child does to itself between clone and exec, prepared by the parent.
pub(super) struct Launch {
    pub program: CString,
    pub argv: Vec<CString>,
    pub envp: Vec<CString>,
    pub cwd: CString,
    /// What becomes the child's stdin, stdout and stderr.
    pub stdio: [OwnedFd; 3],
    /// `cgroup.procs`/`tasks` files the child writes itself into.
    pub join: Vec<RawFd>,
    pub rlimits: Vec<Rlimit>,
    pub user: Option<RunUser>,
}

/// Pointers into a [`Launch`], valid while it lives, and the slot where the child reports
/// the errno of the step that failed.
struct Prepared<'a> {
    launch: &'a Launch,
    argv: Vec<*const c_char>,
    envp: Vec<*const c_char>,
    failed: AtomicI32,
}

/// A started child: its pid and, where the kernel has them (Linux 5.2+), a pidfd that
/// becomes readable when it exits.
pub(super) struct Started {
    pub pid: u32,
    pub pidfd: Option<OwnedFd>,
}

/// Set once the kernel refused CLONE_PIDFD, so later children do not ask again.
static NO_PIDFD: AtomicBool = AtomicBool::new(false);

/// Clones and execs the child; returns once it runs the program (or reports why it could not).
pub(super) fn start(launch: Launch) -> io::Result<Started> {
    let [stdin, stdout, stderr] = launch.stdio;
    let stdio = [
        above_stdio(stdin)?,
        above_stdio(stdout)?,
        above_stdio(stderr)?,
    ];
    let launch = Launch { stdio, ..launch };
    if !NO_PIDFD.load(Ordering::Relaxed) {
        match start_with(&launch, true) {
            Err(error) if error.raw_os_error() == Some(libc::EINVAL) => {
                NO_PIDFD.store(true, Ordering::Relaxed);
                tracing::warn!("the kernel has no CLONE_PIDFD: a thread waits for each child");
            }
            started => return started,
        }
    }
    start_with(&launch, false)
}

/// [`start`] with stdio already above 2, asking the kernel for a pidfd or not.
pub(super) fn start_with(launch: &Launch, with_pidfd: bool) -> io::Result<Started> {
    let prepared = Prepared {
        argv: null_terminated(&launch.argv),
        envp: null_terminated(&launch.envp),
        launch,
        failed: AtomicI32::new(0),
    };
    // Left uninitialised: the child touches only the top few pages, so only those are
    // ever faulted in.
    let mut stack: Vec<u8> = Vec::with_capacity(STACK_BYTES);
    // SAFETY: the stack grows down on every architecture Linux runs this on; the top is
    // aligned to 16 bytes as the ABIs require; the capacity is allocated.
    let stack_top = unsafe { stack.as_mut_ptr().add(STACK_BYTES) };
    let stack_top = (stack_top as usize & !15) as *mut c_void;
    let mut pidfd: c_int = -1;
    let blocked = SignalMask::block_all();
    // SAFETY: CLONE_VFORK suspends this thread until the child execs or exits, so `prepared`
    // and `stack` outlive every use the child makes of them. The child makes only system
    // calls (see `child_main`), with every signal blocked until its handlers are reset.
    let pid = unsafe {
        libc::clone(
            child_main,
            stack_top,
            libc::CLONE_VM
                | libc::CLONE_VFORK
                | libc::SIGCHLD
                | if with_pidfd { libc::CLONE_PIDFD } else { 0 },
            &prepared as *const Prepared as *mut c_void,
            &mut pidfd as *mut c_int,
        )
    };
    let clone_error = io::Error::last_os_error();
    drop(blocked);
    drop(stack);
    if pid < 0 {
        return Err(clone_error);
    }
    // SAFETY: CLONE_PIDFD stored a new descriptor (close-on-exec) that nothing else owns.
    let pidfd = with_pidfd.then(|| unsafe { OwnedFd::from_raw_fd(pidfd) });
    match prepared.failed.load(Ordering::Acquire) {
        0 => Ok(Started {
            pid: pid as u32,
            pidfd,
        }),
        errno => {
            // SAFETY: the child has already exited (it reported before `_exit`); reap it.
            unsafe { libc::waitpid(pid, std::ptr::null_mut(), 0) };
            Err(io::Error::from_raw_os_error(errno))
        }
    }
}

extern "C" fn child_main(arg: *mut c_void) -> c_int {
    // SAFETY: `arg` is the `Prepared` the suspended parent keeps alive.
    let prepared = unsafe { &*(arg as *const Prepared) };
    let errno = prepared.enter_and_exec();
    prepared.failed.store(errno.max(1), Ordering::Release);
    // SAFETY: leaves without running anything of the parent's (no atexit handlers).
    unsafe { libc::_exit(127) }
}

impl Prepared<'_> {
    /// Only system calls, most of them raw: glibc's `setuid` and friends would try to change
    /// every thread of the gateway, whose memory this child shares.
    fn enter_and_exec(&self) -> c_int {
        let launch = self.launch;
        reset_signal_handlers();
        // SAFETY (whole block): system calls on integers and on memory the parent prepared.
        unsafe {
            if libc::setpgid(0, 0) != 0 {
                return errno();
            }
            for (fd, target) in launch.stdio.iter().zip(0..) {
                if libc::dup2(fd.as_raw_fd(), target) < 0 {
                    return errno();
                }
            }
            if libc::chdir(launch.cwd.as_ptr()) != 0 {
                return errno();
            }
            for fd in &launch.join {
                if libc::write(*fd, b"0".as_ptr().cast(), 1) != 1 {
                    return errno();
                }
            }
            for rlimit in &launch.rlimits {
                if rlimit.set_own().is_err() {
                    return errno();
                }
            }
            if let Some(user) = launch.user {
                if libc::prctl(libc::PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) != 0
                    || libc::syscall(libc::SYS_setgroups, 0, std::ptr::null::<libc::gid_t>()) != 0
                    || libc::syscall(libc::SYS_setgid, user.gid) != 0
                    || libc::syscall(libc::SYS_setuid, user.uid) != 0
                {
                    return errno();
                }
            }
            let mut empty: libc::sigset_t = std::mem::zeroed();
            libc::sigemptyset(&mut empty);
            libc::pthread_sigmask(libc::SIG_SETMASK, &empty, std::ptr::null_mut());
            libc::execve(
                launch.program.as_ptr(),
                self.argv.as_ptr(),
                self.envp.as_ptr(),
            );
            errno()
        }
    }
}

/// Every signal goes back to its default disposition: a signal arriving before exec must
/// not run one of the gateway's handlers on the child's stack, and a script expects the
/// defaults whatever the gateway ignores (SIGPIPE, or SIGHUP under `nohup`). glibc keeps
/// its two internal signals (32 and 33) to itself.
fn reset_signal_handlers() {
    for signal in 1..=64 {
        // SAFETY: sigaction with valid pointers; signals it refuses are simply skipped.
        unsafe {
            let mut current: libc::sigaction = std::mem::zeroed();
            if libc::sigaction(signal, std::ptr::null(), &mut current) != 0 {
                continue;
            }
            if current.sa_sigaction != libc::SIG_DFL {
                let mut default: libc::sigaction = std::mem::zeroed();
                default.sa_sigaction = libc::SIG_DFL;
                libc::sigaction(signal, &default, std::ptr::null_mut());
            }
        }
    }
}

fn errno() -> c_int {
    io::Error::last_os_error()
        .raw_os_error()
        .unwrap_or(libc::EINVAL)
}

/// The descriptor itself, or a copy above 2: dup2 onto 0, 1 and 2 in turn must not
/// overwrite a source it has yet to copy (a gateway started with stdin closed hands out 0).
fn above_stdio(fd: OwnedFd) -> io::Result<OwnedFd> {
    if fd.as_raw_fd() > 2 {
        return Ok(fd);
    }
    // SAFETY: F_DUPFD_CLOEXEC returns a new descriptor that nothing else owns.
    let copy = unsafe { libc::fcntl(fd.as_raw_fd(), libc::F_DUPFD_CLOEXEC, 3) };
    if copy < 0 {
        return Err(io::Error::last_os_error());
    }
    // SAFETY: as above.
    Ok(unsafe { OwnedFd::from_raw_fd(copy) })
}

fn null_terminated(strings: &[CString]) -> Vec<*const c_char> {
    strings
        .iter()
        .map(|s| s.as_ptr())
        .chain(std::iter::once(std::ptr::null()))
        .collect()
}

/// Every signal blocked in the calling thread while it lives, the old mask restored after.
struct SignalMask(libc::sigset_t);

impl SignalMask {
    fn block_all() -> SignalMask {
        // SAFETY: sigset operations on owned, initialised sets.
        unsafe {
            let mut all: libc::sigset_t = std::mem::zeroed();
            let mut old: libc::sigset_t = std::mem::zeroed();
            libc::sigfillset(&mut all);
            libc::pthread_sigmask(libc::SIG_SETMASK, &all, &mut old);
            SignalMask(old)
        }
    }
}

impl Drop for SignalMask {
    fn drop(&mut self) {
        // SAFETY: restores the mask saved in `block_all`.
        unsafe { libc::pthread_sigmask(libc::SIG_SETMASK, &self.0, std::ptr::null_mut()) };
    }
}

/// A C string for the child, refusing interior NULs (which exec could not pass on).
/// `NAME=value` entries for `execve`.
pub(super) fn envp<'a>(
    pairs: impl IntoIterator<Item = (&'a OsStr, &'a OsStr)>,
) -> io::Result<Vec<CString>> {
    pairs
        .into_iter()
        .map(|(name, value)| {
            let mut entry = name.to_os_string();
            entry.push("=");
            entry.push(value);
            c_string(&entry)
        })
        .collect()
}

/// [`start`], with the child registered as the gateway's own while it starts, so the
/// subreaper's sweep never takes it for an orphan.
pub(super) fn start_registered(launch: Launch) -> io::Result<Started> {
    let mut children = super::contain::child_registry();
    let started = start(launch)?;
    children.push(started.pid);
    Ok(started)
}

pub(super) fn c_string(value: &OsStr) -> io::Result<CString> {
    CString::new(value.as_bytes()).map_err(|_| {
        io::Error::new(
            io::ErrorKind::InvalidInput,
            "an argument, variable or path holds a NUL byte",
        )
    })
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use crate::process::{run, ProcessSpec, Termination};

    fn sh(script: &str) -> ProcessSpec {
        ProcessSpec::new(
            "/bin/sh",
            vec!["-c".into(), script.into()],
            std::env::temp_dir(),
            vec![("PATH".into(), "/usr/bin:/bin".into())],
        )
        .timeout(Duration::from_secs(10))
    }

    #[tokio::test]
    async fn the_child_starts_with_default_signals_and_nothing_blocked() {
        // The test binary ignores SIGPIPE, as every Rust program does: the child must not.
        let out = run(&sh("grep -E '^Sig(Blk|Ign)' /proc/self/status"), None)
            .await
            .unwrap();
        let status = String::from_utf8(out.stdout).unwrap();
        let mask = |name: &str| {
            let line = status.lines().find(|l| l.starts_with(name)).unwrap();
            u64::from_str_radix(line.split_whitespace().nth(1).unwrap(), 16).unwrap()
        };
        assert_eq!(mask("SigBlk:"), 0, "{status}");
        // Signals 32 and 33 (bits 31 and 32) belong to glibc, which refuses to touch them.
        assert_eq!(mask("SigIgn:") & !(0b11 << 31), 0, "{status}");
    }

    #[tokio::test]
    async fn the_child_leads_its_own_process_group_with_its_folder_as_cwd() {
        let folder = tempfile::tempdir().unwrap();
        let mut spec = sh("ps -o pid=,pgid= -p $$; pwd");
        spec.cwd = folder.path().to_path_buf();
        let out = run(&spec, None).await.unwrap();
        let text = String::from_utf8(out.stdout).unwrap();
        let mut lines = text.lines();
        let ids: Vec<&str> = lines.next().unwrap().split_whitespace().collect();
        assert_eq!(ids[0], ids[1], "{text}");
        let cwd = std::fs::canonicalize(folder.path()).unwrap();
        assert_eq!(lines.next().unwrap(), cwd.to_str().unwrap());
    }

    #[tokio::test]
    async fn a_bare_program_name_is_looked_up_on_the_childs_path() {
        let mut spec = sh("echo found");
        spec.program = "sh".into();
        let out = run(&spec, None).await.unwrap();
        assert_eq!(out.termination, Termination::Exited(0));
        assert_eq!(out.stdout, b"found\n");
    }

    #[tokio::test]
    async fn a_nul_byte_in_an_argument_is_refused_before_anything_starts() {
        let spec = sh("echo a\0b");
        let error = run(&spec, None).await.unwrap_err();
        assert!(error.reason().contains("NUL"), "{error}");
    }

    #[tokio::test]
    async fn a_file_that_cannot_be_executed_says_why() {
        let folder = tempfile::tempdir().unwrap();
        let plain = folder.path().join("not-executable");
        std::fs::write(&plain, "#!/bin/sh\necho never\n").unwrap();
        let mut spec = sh("");
        spec.program = plain;
        spec.args = Vec::new();
        let error = run(&spec, None).await.unwrap_err();
        assert!(error.reason().contains("ermission denied"), "{error}");
    }

    #[tokio::test]
    async fn a_missing_working_folder_is_a_start_error() {
        let mut spec = sh("echo never");
        spec.cwd = "/nonexistent/run/folder".into();
        let error = run(&spec, None).await.unwrap_err();
        assert!(error.reason().contains("No such file"), "{error}");
    }
}
