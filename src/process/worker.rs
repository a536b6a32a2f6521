//! A long-lived child that speaks a line protocol: commands go to its stdin, replies come
//! from its stdout, and its stderr is kept (a short tail) to say why it died. It is started
//! through the same launch path as a run: clean environment, own process group, cwd,
//! rlimits, its own cell where cgroups are in use, the run user, registered as ours.

use std::io;
use std::os::unix::process::ExitStatusExt;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use nix::sys::signal::Signal;
use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader};
use tokio::net::unix::pipe;

use super::child::Child;
use super::contain::Cell;
use super::fds::pipe as os_pipe;
use super::{launch, spawn, ProcessError, ProcessGroup, ProcessSpec, Tree};

/// Bytes of the worker's own stderr kept to explain a crash.
const STDERR_TAIL: usize = 4096;

/// A started worker. Dropping it kills its process group; [`WorkerChild::end`] also ends
/// its cell and waits for it.
pub struct WorkerChild {
    child: Child,
    cell: Option<Cell>,
    group: ProcessGroup,
    commands: pipe::Sender,
    replies: BufReader<pipe::Receiver>,
    stderr: Arc<Mutex<Vec<u8>>>,
}

/// Starts `spec`'s program as a worker. `spec.timeout` and `spec.output_limit` do not
/// apply: the caller bounds each exchange itself.
pub fn start_worker(spec: &ProcessSpec) -> Result<WorkerChild, ProcessError> {
    let program = spec.program.display().to_string();
    let failed = |source| ProcessError::Spawn {
        program: program.clone(),
        source,
    };
    let cell = spawn::enclose(spec).map_err(|source| ProcessError::Limits {
        program: program.clone(),
        source,
    })?;
    let (commands_r, commands_w) = os_pipe().map_err(failed)?;
    let (replies_r, replies_w) = os_pipe().map_err(failed)?;
    let (stderr_r, stderr_w) = os_pipe().map_err(failed)?;
    let launch =
        spawn::prepare(spec, cell.as_ref(), [commands_r, replies_w, stderr_w]).map_err(failed)?;
    let started = launch::start_registered(launch).map_err(failed)?;
    let mut child = Child::new(started, replies_r, stderr_r).map_err(failed)?;
    let group = ProcessGroup::of(&child);
    let replies = child.stdout.take().expect("stdout is piped");
    let stderr = child.stderr.take().expect("stderr is piped");
    Ok(WorkerChild {
        commands: pipe::Sender::from_owned_fd(commands_w).map_err(failed)?,
        replies: BufReader::new(replies),
        stderr: keep_tail(stderr),
        child,
        cell,
        group,
    })
}

/// Reads the worker's stderr to its end, keeping the last bytes.
fn keep_tail(mut stderr: pipe::Receiver) -> Arc<Mutex<Vec<u8>>> {
    let tail = Arc::new(Mutex::new(Vec::new()));
    let kept = tail.clone();
    tokio::spawn(async move {
        let mut buffer = [0u8; 1024];
        while let Ok(read @ 1..) = stderr.read(&mut buffer).await {
            let mut kept = kept.lock().expect("stderr tail lock");
            kept.extend_from_slice(&buffer[..read]);
            let excess = kept.len().saturating_sub(STDERR_TAIL);
            kept.drain(..excess);
        }
    });
    tail
}

impl WorkerChild {
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// Sends one command line (a newline is added).
    pub async fn send(&mut self, line: &[u8]) -> io::Result<()> {
        self.commands.write_all(line).await?;
        self.commands.write_all(b"\n").await?;
        self.commands.flush().await
    }

    /// The next reply line, without its newline; None once the worker closed its side.
    /// A line longer than `max` bytes is an error. Cancel-safe only between lines.
    pub async fn recv(&mut self, max: usize) -> io::Result<Option<Vec<u8>>> {
        let mut line = Vec::new();
        let limit = u64::try_from(max).unwrap_or(u64::MAX).saturating_add(1);
        let read = (&mut self.replies)
            .take(limit)
            .read_until(b'\n', &mut line)
            .await?;
        if read == 0 {
            return Ok(None);
        }
        if line.last() != Some(&b'\n') {
            return Err(io::Error::other(
                "the worker's reply is too long or cut off",
            ));
        }
        line.pop();
        Ok(Some(line))
    }

    /// A handle that kills the worker's process group from outside an exchange in progress.
    /// It must not be used once the worker was ended (its pid may be reused then).
    pub fn kill_switch(&self) -> WorkerKill {
        WorkerKill(self.child.id())
    }

    /// SIGINT to the worker's whole process group, as Ctrl-C in a terminal would.
    pub fn interrupt(&self) {
        self.group.signal(Signal::SIGINT);
    }

    /// Whether the worker has exited, without waiting.
    pub async fn has_exited(&mut self) -> bool {
        tokio::time::timeout(Duration::ZERO, self.child.wait())
            .await
            .is_ok()
    }

    /// How the worker ended, when it has: an exit code, or the signal that killed it.
    pub async fn exit_status(&mut self, within: Duration) -> Option<(Option<i32>, Option<i32>)> {
        let status = tokio::time::timeout(within, self.child.wait())
            .await
            .ok()?
            .ok()?;
        Some((status.code(), status.signal()))
    }

    /// The last bytes the worker itself wrote to its stderr, decoded leniently.
    pub fn stderr_tail(&self) -> String {
        let kept = self.stderr.lock().expect("stderr tail lock");
        String::from_utf8_lossy(&kept).trim_end().to_string()
    }

    /// Kills the worker's whole tree (its group, and its cell where cgroups are in use) and
    /// reaps it.
    pub async fn end(self) {
        let WorkerChild {
            mut child,
            cell,
            group,
            ..
        } = self;
        let pid = Some(child.id());
        group.kill_all();
        let _ = tokio::time::timeout(Duration::from_secs(2), child.wait()).await;
        drop(child);
        Tree { group, cell, pid }.end().await;
    }
}

/// Kills a worker's process group while another task holds the worker.
#[derive(Debug, Clone, Copy)]
pub struct WorkerKill(u32);

impl WorkerKill {
    pub fn kill(&self) {
        if let Ok(pgid) = i32::try_from(self.0) {
            let _ = nix::sys::signal::killpg(nix::unistd::Pid::from_raw(pgid), Signal::SIGKILL);
        }
    }
}

/// Kills the process group of every process whose environment holds `entry` (`KEY=value`):
/// the workers a killed gateway left behind, found by the mark they were started with.
pub fn kill_marked(entry: &str) -> usize {
    let mut groups: Vec<u32> = super::procfs::pids()
        .into_iter()
        .filter(|pid| super::procfs::has_env_entry(*pid, entry))
        .filter_map(super::procfs::process_group_of)
        .collect();
    groups.sort_unstable();
    groups.dedup();
    let own = u32::try_from(nix::unistd::getpgrp().as_raw()).unwrap_or(0);
    groups.retain(|pgid| *pgid != own && *pgid > 1);
    for pgid in &groups {
        if let Ok(raw) = i32::try_from(*pgid) {
            let group = ProcessGroup(Some(nix::unistd::Pid::from_raw(raw)));
            group.kill_all();
            std::mem::forget(group);
        }
    }
    groups.len()
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;

    fn shell(script: &str, env: Vec<(std::ffi::OsString, std::ffi::OsString)>) -> ProcessSpec {
        let mut env = env;
        env.push(("PATH".into(), "/usr/bin:/bin".into()));
        ProcessSpec::new(
            "/bin/sh",
            vec!["-c".into(), script.into()],
            std::env::temp_dir(),
            env,
        )
    }

    fn alive(pid: u32) -> bool {
        std::fs::read_to_string(format!("/proc/{pid}/stat"))
            .is_ok_and(|stat| !stat[stat.rfind(')').unwrap() + 2..].starts_with('Z'))
    }

    #[tokio::test]
    async fn a_worker_answers_line_by_line_and_ends_with_its_group() {
        let script = "sleep 300 & echo $! >&2; while read line; do echo \"got $line\"; done";
        let mut worker = start_worker(&shell(script, Vec::new())).unwrap();
        worker.send(b"one").await.unwrap();
        assert_eq!(worker.recv(100).await.unwrap().unwrap(), b"got one");
        worker.send(b"a longer line").await.unwrap();
        assert!(
            worker.recv(4).await.is_err(),
            "a reply over the cap is refused"
        );
        assert!(!worker.has_exited().await);
        let sleeper: u32 = loop {
            if let Ok(pid) = worker.stderr_tail().parse() {
                break pid;
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        };
        let pid = worker.pid();
        worker.end().await;
        let deadline = std::time::Instant::now() + Duration::from_secs(5);
        while (alive(pid) || alive(sleeper)) && std::time::Instant::now() < deadline {
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        assert!(
            !alive(pid) && !alive(sleeper),
            "the worker and its background child"
        );
    }

    #[tokio::test]
    async fn a_worker_that_exits_reports_its_status_and_closes_its_replies() {
        let mut worker = start_worker(&shell("read line; exit 3", Vec::new())).unwrap();
        worker.send(b"bye").await.unwrap();
        assert_eq!(worker.recv(100).await.unwrap(), None);
        let status = worker.exit_status(Duration::from_secs(5)).await;
        assert_eq!(status, Some((Some(3), None)));
        worker.end().await;
    }

    #[tokio::test]
    async fn marked_groups_are_killed_and_unmarked_ones_spared() {
        let marker = format!("SG_TEST_MARK={}", std::process::id());
        let (name, value) = marker.split_once('=').unwrap();
        let marked = shell("sleep 300", vec![(name.into(), value.into())]);
        let unmarked = shell("sleep 300", vec![(name.into(), "other".into())]);
        let (mut marked, mut unmarked) = (
            start_worker(&marked).unwrap(),
            start_worker(&unmarked).unwrap(),
        );
        assert_eq!(kill_marked(&marker), 1);
        let status = marked.exit_status(Duration::from_secs(5)).await;
        assert_eq!(status, Some((None, Some(libc::SIGKILL))));
        assert!(!unmarked.has_exited().await, "the unmarked worker runs on");
        unmarked.end().await;
        marked.end().await;
    }
}
