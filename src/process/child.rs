//! A running child as the rest of `process` sees it: its pid, its stdout and stderr pipes,
//! and an exit that is awaited on a pidfd (no SIGCHLD handler, no thread per child).

use std::io;
use std::os::fd::OwnedFd;
use std::os::unix::process::ExitStatusExt;
use std::process::ExitStatus;

use tokio::io::unix::AsyncFd;
use tokio::net::unix::pipe;

use super::launch::Started;

pub(super) struct Child {
    pid: u32,
    pidfd: AsyncFd<OwnedFd>,
    status: Option<ExitStatus>,
    pub stdout: Option<pipe::Receiver>,
    pub stderr: Option<pipe::Receiver>,
}

impl Child {
    /// Takes over a started child and the read ends of its output pipes.
    pub fn new(started: Started, stdout: OwnedFd, stderr: OwnedFd) -> io::Result<Child> {
        // SAFETY: the OwnedFd stays open, and the same descriptor, as long as the AsyncFd owns it.
        let pidfd = unsafe {
            AsyncFd::register_with_interest(started.pidfd, tokio::io::Interest::READABLE)
        }
        .map_err(io::Error::from)?;
        Ok(Child {
            pid: started.pid,
            pidfd,
            status: None,
            stdout: Some(pipe::Receiver::from_owned_fd(stdout)?),
            stderr: Some(pipe::Receiver::from_owned_fd(stderr)?),
        })
    }

    pub fn id(&self) -> u32 {
        self.pid
    }

    /// The exit status, once the child has exited (and been reaped, here).
    pub async fn wait(&mut self) -> io::Result<ExitStatus> {
        loop {
            if let Some(status) = self.try_wait()? {
                return Ok(status);
            }
            let mut ready = self.pidfd.readable().await?;
            ready.clear_ready();
        }
    }

    fn try_wait(&mut self) -> io::Result<Option<ExitStatus>> {
        if let Some(status) = self.status {
            return Ok(Some(status));
        }
        let mut raw = 0;
        // SAFETY: waitpid on our own child, with a valid status pointer.
        let reaped = unsafe { libc::waitpid(self.pid as libc::pid_t, &mut raw, libc::WNOHANG) };
        match reaped {
            0 => Ok(None),
            pid if pid == self.pid as libc::pid_t => {
                let status = ExitStatus::from_raw(raw);
                self.status = Some(status);
                Ok(Some(status))
            }
            _ => Err(io::Error::last_os_error()),
        }
    }
}

impl Drop for Child {
    /// A child nobody waited for is killed, and reaped when it has gone, so it leaves no zombie.
    fn drop(&mut self) {
        if matches!(self.try_wait(), Ok(Some(_)) | Err(_)) {
            return;
        }
        // SAFETY: the pid is our unreaped child, so it cannot have been reused.
        unsafe { libc::kill(self.pid as libc::pid_t, libc::SIGKILL) };
        let pid = self.pid as libc::pid_t;
        let reap = move || {
            // SAFETY: blocks until our killed child is gone; a pid is reaped only here.
            unsafe { libc::waitpid(pid, std::ptr::null_mut(), 0) };
        };
        match tokio::runtime::Handle::try_current() {
            Ok(runtime) => drop(runtime.spawn_blocking(reap)),
            Err(_) => reap(),
        }
    }
}
