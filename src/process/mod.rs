//! The one place that spawns child processes. Every child gets a clean environment,
//! its own process group, a working directory, closed stdin, capped concurrent capture
//! of stdout and stderr, and a deadline after which its whole group is stopped.

mod interpreters;
mod limits;

use std::ffi::OsString;
use std::io;
use std::path::PathBuf;
use std::process::Stdio;
use std::time::{Duration, Instant};

use nix::sys::signal::{killpg, Signal};
use nix::unistd::Pid;
use tokio::io::{AsyncRead, AsyncReadExt};
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;

pub use interpreters::{Interpreter, Interpreters};
pub use limits::ResourceLimits;

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
    Cancelled,
}

/// Everything a finished child left behind.
#[derive(Debug, Clone)]
pub struct Output {
    pub termination: Termination,
    pub stdout: Vec<u8>,
    pub stderr: Vec<u8>,
    pub duration: Duration,
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

/// Runs a child to completion (or until its deadline, output cap or cancellation).
pub async fn run(
    spec: &ProcessSpec,
    cancel: Option<&CancellationToken>,
) -> Result<Output, ProcessError> {
    let started = Instant::now();
    let mut child = spawn(spec)?;
    let group = ProcessGroup::of(&child);
    if let Some(pid) = child.id() {
        spec.limits
            .apply(pid)
            .map_err(|source| ProcessError::Limits {
                program: spec.program.display().to_string(),
                source,
            })?;
    }
    let (over_limit_tx, mut over_limit) = mpsc::channel::<Stream>(2);
    let stdout = child.stdout.take().expect("stdout is piped");
    let stderr = child.stderr.take().expect("stderr is piped");
    let stdout_reader = tokio::spawn(read_capped(
        stdout,
        spec.output_limit,
        Stream::Stdout,
        over_limit_tx.clone(),
    ));
    let stderr_reader = tokio::spawn(read_capped(
        stderr,
        spec.output_limit,
        Stream::Stderr,
        over_limit_tx,
    ));
    let never_cancelled = CancellationToken::new();
    let cancel = cancel.unwrap_or(&never_cancelled);

    let ended = tokio::select! {
        status = child.wait() => Some(status),
        _ = tokio::time::sleep(spec.timeout) => None,
        Some(stream) = over_limit.recv() => { group.stop(&mut child, spec.kill_grace).await; return finish(Termination::OutputLimit(stream), stdout_reader, stderr_reader, started, group).await; }
        _ = cancel.cancelled() => { group.stop(&mut child, spec.kill_grace).await; return finish(Termination::Cancelled, stdout_reader, stderr_reader, started, group).await; }
    };
    let termination = match ended {
        Some(status) => exit_termination(status.map_err(|source| ProcessError::Wait {
            program: spec.program.display().to_string(),
            source,
        })?),
        None => {
            group.stop(&mut child, spec.kill_grace).await;
            Termination::TimedOut
        }
    };
    finish(termination, stdout_reader, stderr_reader, started, group).await
}

fn spawn(spec: &ProcessSpec) -> Result<tokio::process::Child, ProcessError> {
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
    command.spawn().map_err(|source| ProcessError::Spawn {
        program: spec.program.display().to_string(),
        source,
    })
}

async fn finish(
    termination: Termination,
    stdout_reader: tokio::task::JoinHandle<Vec<u8>>,
    stderr_reader: tokio::task::JoinHandle<Vec<u8>>,
    started: Instant,
    group: ProcessGroup,
) -> Result<Output, ProcessError> {
    // The direct child is gone; whatever it left running in its group goes too,
    // so a background grandchild can neither outlive the run nor hold the pipes open.
    group.signal(Signal::SIGKILL);
    std::mem::forget(group);
    let stdout = collect(stdout_reader).await;
    let stderr = collect(stderr_reader).await;
    Ok(Output {
        termination,
        stdout,
        stderr,
        duration: started.elapsed(),
    })
}

async fn collect(reader: tokio::task::JoinHandle<Vec<u8>>) -> Vec<u8> {
    // A process that left the group (setsid) may still hold the pipe: do not wait for it forever.
    let abort = reader.abort_handle();
    match tokio::time::timeout(Duration::from_secs(2), reader).await {
        Ok(Ok(bytes)) => bytes,
        _ => {
            abort.abort();
            Vec::new()
        }
    }
}

async fn read_capped(
    mut pipe: impl AsyncRead + Unpin,
    limit: usize,
    stream: Stream,
    over_limit: mpsc::Sender<Stream>,
) -> Vec<u8> {
    let mut kept = Vec::new();
    let mut chunk = vec![0u8; 64 * 1024];
    loop {
        match pipe.read(&mut chunk).await {
            Ok(0) | Err(_) => return kept,
            Ok(n) => {
                let room = limit.saturating_sub(kept.len());
                kept.extend_from_slice(&chunk[..n.min(room)]);
                if n > room {
                    let _ = over_limit.try_send(stream);
                    return kept;
                }
            }
        }
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
    fn of(child: &tokio::process::Child) -> ProcessGroup {
        ProcessGroup(
            child
                .id()
                .and_then(|id| i32::try_from(id).ok())
                .map(Pid::from_raw),
        )
    }

    fn signal(&self, signal: Signal) {
        if let Some(pgid) = self.0 {
            let _ = killpg(pgid, signal);
        }
    }

    /// SIGTERM to the group, then SIGKILL if the child has not exited within `grace`.
    async fn stop(&self, child: &mut tokio::process::Child, grace: Duration) {
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
