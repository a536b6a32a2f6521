//! One fork server: started from its interpreter with the dependency set's environment,
//! asked to fork one child per run, and listened to for the pids, the exits and the modules
//! its runs imported.

use std::collections::HashMap;
use std::ffi::{OsStr, OsString};
use std::io;
use std::os::fd::RawFd;
use std::path::Path;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, Weak};
use std::time::{Duration, Instant};

use serde_json::{json, Value};
use tokio::sync::oneshot;

use super::super::child::{Child, RemoteExit};
use super::super::contain;
use super::super::fds::pipe;
use super::super::launch;
use super::wire::{self, Channel};
use super::WarmKey;

/// How long a server may take to import its preloaded modules and say it is ready.
const READY_WITHIN: Duration = Duration::from_secs(20);
/// How long a server may take to answer a request with the child's pid.
const FORKED_WITHIN: Duration = Duration::from_secs(5);
const MAX_REPLY: usize = 1 << 20;

/// What a run asks its fork server for.
pub(super) struct RunRequest<'a> {
    /// The interpreter, as a cold start would be shown running it.
    pub program: &'a Path,
    pub argv: &'a [OsString],
    pub cwd: &'a Path,
    pub env: &'a [(OsString, OsString)],
    pub rlimits: Vec<(u32, u64, u64)>,
    pub user: Option<(u32, u32)>,
    /// stdin, stdout, stderr, then the cgroup files the child writes itself into.
    pub fds: Vec<RawFd>,
}

type Learn = Box<dyn Fn(Vec<String>) + Send + Sync>;

#[derive(Default)]
struct Waiters {
    forked: HashMap<u64, oneshot::Sender<Result<u32, String>>>,
    exits: HashMap<u64, oneshot::Sender<i32>>,
}

pub struct ForkServer {
    pub(super) key: WarmKey,
    channel: Arc<Channel>,
    waiters: Arc<Mutex<Waiters>>,
    alive: Arc<AtomicBool>,
    pub(super) pid: u32,
    pub(super) preloaded: Vec<String>,
    pub(super) started: Instant,
    pub(super) last_used: Mutex<Instant>,
    pub(super) running: AtomicUsize,
    pub(super) served: AtomicU64,
    /// Its runs imported modules it did not preload: the next server preloads them.
    pub(super) stale: AtomicBool,
    next_id: AtomicU64,
}

impl ForkServer {
    /// Starts a server for `key` that preloads `preload`, and waits until it is ready.
    pub(super) async fn start(
        key: WarmKey,
        script: &Path,
        scratch: &Path,
        options: Value,
        learn: Learn,
    ) -> io::Result<Arc<ForkServer>> {
        let (ours, theirs) = wire::pair()?;
        let (stdout, stdout_w) = pipe()?;
        let (stderr, stderr_w) = pipe()?;
        let options = options.to_string();
        let args = [script.as_os_str(), OsStr::new(&options)];
        let launch = key.launch(&args, scratch, [theirs, stdout_w, stderr_w])?;
        let started = launch::start_registered(launch)?;
        let pid = started.pid;
        let process = Child::new(started, stdout, stderr)?;
        let channel = Arc::new(Channel::new(ours)?);
        let alive = Arc::new(AtomicBool::new(true));
        watch_process(process, alive.clone(), pid);
        let mut buffer = vec![0; MAX_REPLY];
        let ready = tokio::time::timeout(READY_WITHIN, channel.recv(&mut buffer)).await;
        let preloaded = match ready {
            Ok(Ok(size)) if size > 0 => ready_message(&buffer[..size])?,
            Ok(Ok(_)) => return Err(io::Error::other("the fork server exited while starting")),
            Ok(Err(error)) => return Err(error),
            Err(_) => {
                channel.close();
                return Err(io::Error::other(
                    "the fork server did not become ready in time",
                ));
            }
        };
        let waiters = Arc::new(Mutex::new(Waiters::default()));
        let server = Arc::new(ForkServer {
            key,
            channel: channel.clone(),
            waiters: waiters.clone(),
            alive: alive.clone(),
            pid,
            preloaded,
            started: Instant::now(),
            last_used: Mutex::new(Instant::now()),
            running: AtomicUsize::new(0),
            served: AtomicU64::new(0),
            stale: AtomicBool::new(false),
            next_id: AtomicU64::new(1),
        });
        tokio::spawn(listen(
            channel,
            waiters,
            alive,
            Arc::downgrade(&server),
            learn,
            buffer,
        ));
        Ok(server)
    }

    pub(super) fn is_alive(&self) -> bool {
        self.alive.load(Ordering::Acquire)
    }

    /// Asks for a child; its pid once forked, and its exit to wait on.
    pub(super) async fn fork(
        self: &Arc<Self>,
        request: RunRequest<'_>,
    ) -> Result<(u32, RemoteExit), String> {
        let id = self.next_id.fetch_add(1, Ordering::Relaxed);
        let message = request_message(id, &request)?;
        let (forked_tx, forked_rx) = oneshot::channel();
        let (exit_tx, exit_rx) = oneshot::channel();
        {
            let mut waiters = self.waiters.lock().expect("waiters lock");
            waiters.forked.insert(id, forked_tx);
            waiters.exits.insert(id, exit_tx);
        }
        *self.last_used.lock().expect("last used lock") = Instant::now();
        let asked = self.channel.send(&message, &request.fds).await;
        let forked = match asked {
            Ok(()) => tokio::time::timeout(FORKED_WITHIN, forked_rx).await,
            Err(error) => {
                self.forget(id);
                return Err(format!("cannot reach the fork server: {error}"));
            }
        };
        match forked {
            Ok(Ok(Ok(pid))) => {
                self.served.fetch_add(1, Ordering::Relaxed);
                let exit = RemoteExit {
                    status: exit_rx,
                    _keep: Box::new(self.clone()),
                };
                Ok((pid, exit))
            }
            Ok(Ok(Err(reason))) => Err(format!("the fork server could not fork: {reason}")),
            Ok(Err(_)) => Err("the fork server stopped".into()),
            Err(_) => {
                // Whether it forked is unknown: it is not asked again.
                self.forget(id);
                self.shut_down();
                Err("the fork server did not answer in time".into())
            }
        }
    }

    fn forget(&self, id: u64) {
        let mut waiters = self.waiters.lock().expect("waiters lock");
        waiters.forked.remove(&id);
        waiters.exits.remove(&id);
    }

    /// Stops the server once its running children have ended (they hold it).
    pub(super) fn shut_down(&self) {
        self.alive.store(false, Ordering::Release);
    }

    /// Resident memory of the server, from /proc.
    pub(super) fn rss_bytes(&self) -> Option<u64> {
        let status = std::fs::read_to_string(format!("/proc/{}/status", self.pid)).ok()?;
        let line = status.lines().find(|l| l.starts_with("VmRSS:"))?;
        let kib: u64 = line.split_whitespace().nth(1)?.parse().ok()?;
        Some(kib * 1024)
    }
}

impl Drop for ForkServer {
    fn drop(&mut self) {
        self.channel.close();
    }
}

/// Logs what the server prints (it prints only when something is wrong) and reaps it.
fn watch_process(mut process: Child, alive: Arc<AtomicBool>, pid: u32) {
    let stderr = process.stderr.take();
    let stdout = process.stdout.take();
    tokio::spawn(async move {
        let (status, printed) = tokio::join!(process.wait(), async {
            let mut text = Vec::new();
            for pipe in [stderr, stdout].into_iter().flatten() {
                let mut pipe = pipe;
                let _ = tokio::io::AsyncReadExt::read_to_end(&mut pipe, &mut text).await;
            }
            text
        });
        alive.store(false, Ordering::Release);
        contain::forget_child(pid);
        let printed = String::from_utf8_lossy(&printed);
        let printed = printed.trim();
        if !printed.is_empty() || !matches!(&status, Ok(s) if s.success()) {
            tracing::warn!(pid, ?status, output = %printed, "a fork server ended");
        }
    });
}

fn ready_message(bytes: &[u8]) -> io::Result<Vec<String>> {
    let message: Value = serde_json::from_slice(bytes).map_err(io::Error::other)?;
    if let Some(refused) = message.get("refused") {
        return Err(io::Error::other(format!(
            "the fork server refused to start: {refused}"
        )));
    }
    let preloaded = message
        .get("ready")
        .and_then(Value::as_array)
        .ok_or_else(|| io::Error::other("the fork server said something unexpected"))?;
    Ok(preloaded
        .iter()
        .filter_map(|name| name.as_str().map(str::to_string))
        .collect())
}

fn request_message(id: u64, request: &RunRequest<'_>) -> Result<Vec<u8>, String> {
    let text = |value: &std::ffi::OsStr| {
        value
            .to_str()
            .map(str::to_string)
            .ok_or_else(|| "an argument or variable is not UTF-8".to_string())
    };
    let argv = request
        .argv
        .iter()
        .map(|a| text(a))
        .collect::<Result<Vec<_>, _>>()?;
    let mut env = serde_json::Map::new();
    for (name, value) in request.env {
        env.insert(text(name)?, Value::String(text(value)?));
    }
    let cwd = text(request.cwd.as_os_str())?;
    let user = request
        .user
        .map(|(uid, gid)| json!({"uid": uid, "gid": gid}));
    let program = text(request.program.as_os_str())?;
    let message = json!({
        "id": id, "program": program, "argv": argv, "cwd": cwd, "env": env,
        "rlimits": request.rlimits, "user": user,
    });
    Ok(message.to_string().into_bytes())
}

/// Reads the server's replies until it goes: pids and exits to their runs, imports learned.
async fn listen(
    channel: Arc<Channel>,
    waiters: Arc<Mutex<Waiters>>,
    alive: Arc<AtomicBool>,
    server: Weak<ForkServer>,
    learn: Learn,
    mut buffer: Vec<u8>,
) {
    loop {
        let size = match channel.recv(&mut buffer).await {
            Ok(size) if size > 0 => size,
            _ => break,
        };
        let Ok(message) = serde_json::from_slice::<Value>(&buffer[..size]) else {
            continue;
        };
        if let Some(names) = message.get("imports").and_then(Value::as_array) {
            let names = names.iter().filter_map(|n| n.as_str().map(str::to_string));
            learn(names.collect());
            if let Some(server) = server.upgrade() {
                server.stale.store(true, Ordering::Release);
            }
            continue;
        }
        let Some(id) = message.get("id").and_then(Value::as_u64) else {
            continue;
        };
        let mut waiters = waiters.lock().expect("waiters lock");
        if let Some(pid) = message.get("pid").and_then(Value::as_u64) {
            if let Some(forked) = waiters.forked.remove(&id) {
                let _ = forked.send(u32::try_from(pid).map_err(|e| e.to_string()));
            }
            if let Some(server) = server.upgrade() {
                server.running.fetch_add(1, Ordering::AcqRel);
            }
        } else if let Some(status) = message.get("status").and_then(Value::as_i64) {
            if let Some(exit) = waiters.exits.remove(&id) {
                let _ = exit.send(status as i32);
            }
            if let Some(server) = server.upgrade() {
                server.running.fetch_sub(1, Ordering::AcqRel);
            }
        } else if let Some(error) = message.get("error") {
            waiters.exits.remove(&id);
            if let Some(forked) = waiters.forked.remove(&id) {
                let _ = forked.send(Err(error.to_string()));
            }
        }
    }
    alive.store(false, Ordering::Release);
    let mut waiters = waiters.lock().expect("waiters lock");
    waiters.forked.clear();
    waiters.exits.clear();
}
