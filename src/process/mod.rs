//! The one place that spawns child processes. Every child gets a clean environment,
//! its own process group, a working directory, closed stdin, capped concurrent capture
//! of stdout and stderr, and a deadline after which its whole group is stopped.

mod capture;
mod child;
pub mod contain;
mod disk;
mod fds;
mod interpreters;
mod launch;
mod limits;
mod procfs;
mod search_path;
mod spawn;
pub mod warm;
mod worker;

use std::ffi::OsString;
use std::io;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};

use nix::sys::signal::{killpg, Signal};
use nix::unistd::Pid;

use capture::{collect, Reader};
use tokio_util::sync::CancellationToken;

pub use disk::DiskCap;
pub use fds::seal_inherited_descriptors;
pub use interpreters::{Interpreter, Interpreters};
pub use limits::ResourceLimits;
pub use search_path::{find_program, join_search_path, split_search_path};
pub use worker::{kill_marked, start_worker, WorkerChild, WorkerKill};

/// What to run and within which limits.
#[derive(Debug, Clone)]
pub struct ProcessSpec {
    pub program: PathBuf,
    pub args: Vec<OsString>,
    pub cwd: PathBuf,
    /// The complete environment of the child: nothing is inherited.
    pub env: Vec<(OsString, OsString)>,
    pub timeout: Duration,
    /// Bytes kept per stream; a child that writes more is stopped.
    pub output_limit: usize,
    /// Time between SIGTERM and SIGKILL when the child must be stopped.
    pub kill_grace: Duration,
    pub limits: ResourceLimits,
    /// Runs the script's own code: as the run user, where one is configured.
    pub user_code: bool,
    /// The folder the tree may fill, and how far.
    pub disk: Option<DiskCap>,
    /// Where this child may start warm from (a fork server, or a pre-started node).
    pub warm: Option<warm::WarmStart>,
}

impl ProcessSpec {
    /// A child with the usual defaults: a minute to run, 1 MiB kept per stream, two seconds
    /// between SIGTERM and SIGKILL, no resource limits, not the script's own code, no disk cap.
    pub fn new(
        program: impl Into<PathBuf>,
        args: Vec<OsString>,
        cwd: impl Into<PathBuf>,
        env: Vec<(OsString, OsString)>,
    ) -> ProcessSpec {
        ProcessSpec {
            program: program.into(),
            args,
            cwd: cwd.into(),
            env,
            timeout: Duration::from_secs(60),
            output_limit: 1024 * 1024,
            kill_grace: Duration::from_secs(2),
            limits: ResourceLimits::default(),
            user_code: false,
            disk: None,
            warm: None,
        }
    }

    pub fn timeout(mut self, timeout: Duration) -> ProcessSpec {
        self.timeout = timeout;
        self
    }

    pub fn output_limit(mut self, bytes: usize) -> ProcessSpec {
        self.output_limit = bytes;
        self
    }

    pub fn kill_grace(mut self, grace: Duration) -> ProcessSpec {
        self.kill_grace = grace;
        self
    }

    pub fn limits(mut self, limits: ResourceLimits) -> ProcessSpec {
        self.limits = limits;
        self
    }

    /// Marks the child as running the script's own code (as the run user, where configured).
    pub fn user_code(mut self) -> ProcessSpec {
        self.user_code = true;
        self
    }

    pub fn disk(mut self, disk: Option<DiskCap>) -> ProcessSpec {
        self.disk = disk;
        self
    }
}

/// Which output stream a message is about.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Stream {
    Stdout,
    Stderr,
}

/// How a child ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Termination {
    Exited(i32),
    Signaled(i32),
    TimedOut,
    OutputLimit(Stream),
    /// The run's folder held more than its disk cap.
    DiskLimit,
    Cancelled,
}

/// Caps the kernel enforced on the tree as a whole while it ran.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Exhausted {
    /// The tree reached its memory cap and the kernel killed a member.
    pub memory: bool,
    /// A fork failed at the tree's process cap.
    pub processes: bool,
}

/// Everything a finished child left behind.
#[derive(Debug, Clone)]
pub struct Output {
    pub termination: Termination,
    pub stdout: Vec<u8>,
    pub stderr: Vec<u8>,
    pub duration: Duration,
    pub exhausted: Exhausted,
}

impl From<contain::Enforced> for Exhausted {
    fn from(enforced: contain::Enforced) -> Exhausted {
        Exhausted {
            memory: enforced.memory,
            processes: enforced.processes,
        }
    }
}

impl Output {
    pub fn success(&self) -> bool {
        self.termination == Termination::Exited(0)
    }

    pub fn stderr_tail(&self, max_chars: usize) -> String {
        tail_text(&self.stderr, max_chars)
    }
}

#[derive(Debug, thiserror::Error)]
pub enum ProcessError {
    #[error("cannot start {program}: {source}")]
    Spawn { program: String, source: io::Error },
    #[error("cannot apply resource limits to {program}: {source}")]
    Limits { program: String, source: io::Error },
    #[error("waiting for {program} failed: {source}")]
    Wait { program: String, source: io::Error },
}

impl ProcessError {
    /// The cause without the program's path, for messages shown to clients.
    pub fn reason(&self) -> String {
        match self {
            ProcessError::Spawn { source, .. }
            | ProcessError::Limits { source, .. }
            | ProcessError::Wait { source, .. } => source.to_string(),
        }
    }
}

/// Runs a child to completion (or until its deadline, output cap or cancellation).
pub async fn run(
    spec: &ProcessSpec,
    cancel: Option<&CancellationToken>,
) -> Result<Output, ProcessError> {
    run_observed(spec, cancel, None).await
}

/// Sees a child while it runs: its pid once started, and its output as it arrives.
pub trait Observer: Send + Sync {
    fn spawned(&self, _pid: u32) {}
    fn output(&self, _stream: Stream, _bytes: &[u8]) {}
}

/// [`run`], reporting the child's pid and output to `observer` as they happen.
pub async fn run_observed(
    spec: &ProcessSpec,
    cancel: Option<&CancellationToken>,
    observer: Option<Arc<dyn Observer>>,
) -> Result<Output, ProcessError> {
    let started = Instant::now();
    let (mut child, cell) = spawn::start(spec).await?;
    let group = ProcessGroup::of(&child);
    if let Some(observer) = &observer {
        observer.spawned(child.id());
    }
    let (readers, mut over_limit) = capture::start(&mut child, spec.output_limit, observer);
    let never_cancelled = CancellationToken::new();
    let cancel = cancel.unwrap_or(&never_cancelled);
    let ended = tokio::select! {
        status = child.wait() => Ended::Exited(status),
        _ = tokio::time::sleep(spec.timeout) => Ended::Stopped(Termination::TimedOut),
        Some(stream) = over_limit.recv() => Ended::Stopped(Termination::OutputLimit(stream)),
        _ = cancel.cancelled() => Ended::Stopped(Termination::Cancelled),
        _ = disk::exceeded(spec.disk.as_ref()) => Ended::Stopped(Termination::DiskLimit),
    };
    let termination = match ended {
        Ended::Stopped(termination) => {
            // A tree filling the disk gets no grace to write more.
            let grace = match termination {
                Termination::DiskLimit => Duration::ZERO,
                _ => spec.kill_grace,
            };
            group.stop(&mut child, grace).await;
            termination
        }
        // A reader that hit the cap closes its pipe first, so the child may die of SIGPIPE
        // before the cap is noticed: the cap is the real cause.
        Ended::Exited(status) => match over_limit.try_recv() {
            Ok(stream) => Termination::OutputLimit(stream),
            Err(_) => exit_termination(status.map_err(|source| ProcessError::Wait {
                program: spec.program.display().to_string(),
                source,
            })?),
        },
    };
    let pid = Some(child.id());
    drop(child);
    Ok(finish(termination, readers, started, Tree { group, cell, pid }).await)
}

/// Everything a child may have started: its process group, and its cell where cgroups are
/// in use (which also holds whatever left the group).
struct Tree {
    group: ProcessGroup,
    cell: Option<contain::Cell>,
    pid: Option<u32>,
}

impl Tree {
    /// Kills what is left of the tree, and reports which caps the kernel enforced.
    async fn end(self) -> Exhausted {
        let Tree { group, cell, pid } = self;
        group.kill_all();
        std::mem::forget(group);
        if let Some(pid) = pid {
            contain::forget_child(pid);
        }
        let sweep = contain::current().sweeps();
        // Most trees are gone by now: their cell is settled here, without a trip to the
        // blocking pool; a tree that left processes behind is killed there. (Cells exist only
        // under cgroups, where nothing is swept.)
        let mut cell = cell;
        if let Some(enforced) = contain::current().end_if_empty(&mut cell) {
            return enforced.into();
        }
        if cell.is_none() && !sweep {
            return Exhausted::default();
        }
        tokio::task::spawn_blocking(move || {
            let enforced = cell.map_or_else(contain::Enforced::default, |cell| {
                contain::current().end(cell)
            });
            if sweep {
                let swept = contain::sweep_orphans();
                if swept > 0 {
                    tracing::warn!(
                        processes = swept,
                        "stopped processes that detached from their run"
                    );
                }
            }
            Exhausted::from(enforced)
        })
        .await
        .unwrap_or_default()
    }
}

enum Ended {
    Exited(io::Result<std::process::ExitStatus>),
    Stopped(Termination),
}

async fn finish(
    termination: Termination,
    readers: [Reader; 2],
    started: Instant,
    tree: Tree,
) -> Output {
    // The direct child is gone; whatever it left running goes too, so a background
    // grandchild can neither outlive the run nor hold the pipes open.
    let exhausted = tree.end().await;
    let deadline = tokio::time::Instant::now() + Duration::from_secs(1);
    let [stdout, stderr] = readers;
    let (stdout, stderr) = tokio::join!(collect(stdout, deadline), collect(stderr, deadline));
    Output {
        termination,
        stdout,
        stderr,
        duration: started.elapsed(),
        exhausted,
    }
}

fn exit_termination(status: std::process::ExitStatus) -> Termination {
    use std::os::unix::process::ExitStatusExt;
    match (status.code(), status.signal()) {
        (Some(code), _) => Termination::Exited(code),
        (None, Some(signal)) => Termination::Signaled(signal),
        (None, None) => Termination::Signaled(0),
    }
}

/// The process group a child leads; dropping it kills whatever is left in it.
struct ProcessGroup(Option<Pid>);

impl ProcessGroup {
    fn of(child: &child::Child) -> ProcessGroup {
        ProcessGroup(i32::try_from(child.id()).ok().map(Pid::from_raw))
    }

    fn signal(&self, signal: Signal) {
        if let Some(pgid) = self.0 {
            let _ = killpg(pgid, signal);
        }
    }

    /// SIGKILL until the group is empty: a child forking in a loop can add members
    /// between one kill and the next.
    fn kill_all(&self) {
        let Some(pgid) = self.0 else { return };
        for _ in 0..50 {
            if killpg(pgid, Signal::SIGKILL).is_err() {
                return;
            }
            std::thread::yield_now();
        }
    }

    /// SIGTERM to the group, then SIGKILL if the child has not exited within `grace`.
    async fn stop(&self, child: &mut child::Child, grace: Duration) {
        self.signal(Signal::SIGTERM);
        if tokio::time::timeout(grace, child.wait()).await.is_err() {
            self.signal(Signal::SIGKILL);
            let _ = child.wait().await;
        }
    }
}

impl Drop for ProcessGroup {
    fn drop(&mut self) {
        self.signal(Signal::SIGKILL);
    }
}

/// The last `max_chars` characters of some output, decoded leniently.
pub fn tail_text(bytes: &[u8], max_chars: usize) -> String {
    let text = String::from_utf8_lossy(bytes);
    let text = text.trim_end();
    let count = text.chars().count();
    if count <= max_chars {
        return text.to_string();
    }
    let skip = count - max_chars;
    format!("…{}", text.chars().skip(skip).collect::<String>())
}

#[cfg(test)]
mod tests;

/// The environment every child starts from: a PATH, a UTF-8 locale, and a HOME and
/// TMPDIR of its own. Nothing of the gateway's own environment (keys, tokens) leaks in.
pub fn clean_env(path: &std::ffi::OsStr, home: &std::path::Path) -> Vec<(OsString, OsString)> {
    vec![
        ("PATH".into(), path.to_os_string()),
        ("LANG".into(), "C.UTF-8".into()),
        ("HOME".into(), home.as_os_str().to_os_string()),
        ("TMPDIR".into(), home.as_os_str().to_os_string()),
        ("PYTHONUNBUFFERED".into(), "1".into()),
        ("PYTHONIOENCODING".into(), "utf-8".into()),
        ("PYTHONDONTWRITEBYTECODE".into(), "1".into()),
    ]
}

/// Kills the process group a crashed gateway left behind, but only if a process still in
/// it carries the run's `marker` in its environment (a group id cannot be reused while any
/// member lives, so a recycled id is never touched). The leader may have exited already
/// while its children live on: every member is looked at.
pub fn kill_leftover_group(pgid: u32, marker: &str) -> bool {
    let Ok(raw) = i32::try_from(pgid) else {
        return false;
    };
    let ours = group_members(pgid)
        .into_iter()
        .any(|pid| procfs::has_env_entry(pid, marker));
    if ours {
        ProcessGroup(Some(Pid::from_raw(raw))).kill_all();
    }
    ours
}

/// Pids whose process group is `pgid`, read from /proc.
fn group_members(pgid: u32) -> Vec<u32> {
    procfs::pids()
        .into_iter()
        .filter(|pid| procfs::process_group_of(*pid) == Some(pgid))
        .collect()
}
