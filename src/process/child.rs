//! A running child as the rest of `process` sees it: its pid, its stdout and stderr pipes,
//! and an exit awaited on a pidfd (no SIGCHLD handler, no thread per child); on kernels
//! without pidfds, a blocking-pool thread waits for it instead. A warm child is its fork
//! server's child: the server reports its exit.

use std::io;
use std::os::fd::OwnedFd;
use std::os::unix::process::ExitStatusExt;
use std::process::ExitStatus;

use tokio::io::unix::AsyncFd;
use tokio::net::unix::pipe;
use tokio::task::JoinHandle;

use super::launch::Started;

/// A child another process started and reaps: its wait status arrives on `status`, and
/// `_keep` holds whatever must live while it runs (the fork server that started it).
pub struct RemoteExit {
    pub status: tokio::sync::oneshot::Receiver<i32>,
    pub _keep: Box<dyn std::any::Any + Send + Sync>,
}

pub(super) struct Child {
    pid: u32,
    exit: Exit,
    status: Option<ExitStatus>,
    pub stdout: Option<pipe::Receiver>,
    pub stderr: Option<pipe::Receiver>,
}

/// How the child's exit is noticed.
enum Exit {
    Pidfd(AsyncFd<OwnedFd>),
    /// The waiting thread, once started (it reaps the child, so nothing else may).
    Thread(Option<JoinHandle<io::Result<ExitStatus>>>),
    /// Reaped by the fork server that started it, which reports its wait status.
    Remote(RemoteExit),
}

impl Child {
    /// Takes over a started child and the read ends of its output pipes.
    pub fn new(started: Started, stdout: OwnedFd, stderr: OwnedFd) -> io::Result<Child> {
        let exit = match started.pidfd {
            // SAFETY: the OwnedFd stays open, and the same descriptor, while the AsyncFd owns it.
            Some(pidfd) => Exit::Pidfd(
                unsafe { AsyncFd::register_with_interest(pidfd, tokio::io::Interest::READABLE) }
                    .map_err(io::Error::from)?,
            ),
            None => Exit::Thread(None),
        };
        Ok(Child {
            pid: started.pid,
            exit,
            status: None,
            stdout: Some(pipe::Receiver::from_owned_fd(stdout)?),
            stderr: Some(pipe::Receiver::from_owned_fd(stderr)?),
        })
    }

    /// A child a fork server started (and reaps).
    pub fn remote(
        pid: u32,
        exit: RemoteExit,
        stdout: OwnedFd,
        stderr: OwnedFd,
    ) -> io::Result<Child> {
        Ok(Child {
            pid,
            exit: Exit::Remote(exit),
            status: None,
            stdout: Some(pipe::Receiver::from_owned_fd(stdout)?),
            stderr: Some(pipe::Receiver::from_owned_fd(stderr)?),
        })
    }

    pub fn id(&self) -> u32 {
        self.pid
    }

    /// The exit status, once the child has exited (and been reaped, here). Cancel-safe: a
    /// wait given up and started again misses nothing.
    pub async fn wait(&mut self) -> io::Result<ExitStatus> {
        if let Some(status) = self.status {
            return Ok(status);
        }
        let pid = self.pid;
        let status = match &mut self.exit {
            Exit::Pidfd(pidfd) => loop {
                if let Some(status) = reap(pid, libc::WNOHANG)? {
                    break status;
                }
                let mut ready = pidfd.readable().await?;
                ready.clear_ready();
            },
            Exit::Thread(waiter) => {
                let waiting = waiter.get_or_insert_with(|| {
                    tokio::task::spawn_blocking(move || {
                        reap(pid, 0)?.ok_or_else(|| io::Error::other("waitpid returned early"))
                    })
                });
                let status = waiting.await.map_err(io::Error::other)?;
                *waiter = None;
                status?
            }
            Exit::Remote(exit) => (&mut exit.status)
                .await
                .map(ExitStatus::from_raw)
                .map_err(|_| io::Error::other("the fork server stopped before the run ended"))?,
        };
        self.status = Some(status);
        Ok(status)
    }
}

/// `waitpid` on our own child: its status once it has exited.
fn reap(pid: u32, flags: libc::c_int) -> io::Result<Option<ExitStatus>> {
    let mut raw = 0;
    // SAFETY: waitpid on our own child, with a valid status pointer.
    let reaped = unsafe { libc::waitpid(pid as libc::pid_t, &mut raw, flags) };
    match reaped {
        0 => Ok(None),
        found if found == pid as libc::pid_t => Ok(Some(ExitStatus::from_raw(raw))),
        _ => Err(io::Error::last_os_error()),
    }
}

impl Drop for Child {
    /// A child nobody waited for is killed, and reaped when it has gone, so it leaves no zombie.
    fn drop(&mut self) {
        if self.status.is_some() {
            return;
        }
        if let Exit::Remote(_) = self.exit {
            // Not ours to reap; its group goes (the server reaps it).
            // SAFETY: kill on an integer; a negative pid names the child's process group.
            unsafe { libc::kill(-(self.pid as libc::pid_t), libc::SIGKILL) };
            return;
        }
        let waited = matches!(self.exit, Exit::Thread(Some(_)));
        if !waited && !matches!(reap(self.pid, libc::WNOHANG), Ok(None)) {
            return;
        }
        // SAFETY: the pid is our unreaped child, so it cannot have been reused.
        unsafe { libc::kill(self.pid as libc::pid_t, libc::SIGKILL) };
        if waited {
            // The waiting thread reaps it.
            return;
        }
        let pid = self.pid;
        let reap_now = move || {
            let _ = reap(pid, 0);
        };
        match tokio::runtime::Handle::try_current() {
            Ok(runtime) => drop(runtime.spawn_blocking(reap_now)),
            Err(_) => reap_now(),
        }
    }
}
