//! One live session: its folders, its worker, and when it was last used.

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Mutex;
use std::time::{Duration, Instant, SystemTime};

use serde::Serialize;

use crate::clock::utc_timestamp;
use crate::deps::RunDeps;
use crate::process::{WorkerChild, WorkerKill};

use super::worker::{self, Bounds, CallReply, CallStatus, EventSink};
use super::SessionError;

/// The interpreter behind a session.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum SessionRuntime {
    Python,
    Node,
}

/// A session as clients see it.
#[derive(Debug, Clone, Serialize)]
pub struct SessionView {
    pub id: String,
    pub runtime: SessionRuntime,
    /// `idle` or `busy` (running a call).
    pub status: &'static str,
    pub created_at: String,
    pub last_used_at: String,
    /// The worker's pid, which is also its process group.
    pub pid: u32,
    /// Calls made so far.
    pub calls: u64,
}

struct Used {
    at: Instant,
    stamp: String,
}

pub struct Session {
    pub id: String,
    pub runtime: SessionRuntime,
    created_at: String,
    folder: PathBuf,
    pid: u32,
    used: Mutex<Used>,
    busy: AtomicBool,
    calls: AtomicU64,
    /// Set before the worker is ended, after which its pid may belong to someone else.
    ended: AtomicBool,
    kill: WorkerKill,
    worker: tokio::sync::Mutex<Option<WorkerChild>>,
    /// The dependency environment it started with: while it is held, cleanup keeps the cache.
    _deps: Option<RunDeps>,
}

impl Session {
    pub fn new(
        id: String,
        runtime: SessionRuntime,
        folder: PathBuf,
        worker: WorkerChild,
        deps: Option<RunDeps>,
    ) -> Session {
        let now = utc_timestamp(SystemTime::now());
        Session {
            id,
            runtime,
            created_at: now.clone(),
            folder,
            pid: worker.pid(),
            used: Mutex::new(Used {
                at: Instant::now(),
                stamp: now,
            }),
            busy: AtomicBool::new(false),
            calls: AtomicU64::new(0),
            ended: AtomicBool::new(false),
            kill: worker.kill_switch(),
            worker: tokio::sync::Mutex::new(Some(worker)),
            _deps: deps,
        }
    }

    /// The folder the code runs in, whose files the API lists, reads and writes.
    pub fn work(&self) -> PathBuf {
        work_of(&self.folder)
    }

    pub fn folder(&self) -> &Path {
        &self.folder
    }

    pub fn view(&self) -> SessionView {
        SessionView {
            id: self.id.clone(),
            runtime: self.runtime,
            status: if self.busy.load(Ordering::Acquire) {
                "busy"
            } else {
                "idle"
            },
            created_at: self.created_at.clone(),
            last_used_at: self.used.lock().expect("used lock").stamp.clone(),
            pid: self.pid,
            calls: self.calls.load(Ordering::Relaxed),
        }
    }

    fn touch(&self) {
        let mut used = self.used.lock().expect("used lock");
        *used = Used {
            at: Instant::now(),
            stamp: utc_timestamp(SystemTime::now()),
        };
    }

    /// Time since the last call began or ended; zero while a call runs.
    pub fn idle_for(&self) -> Duration {
        if self.busy.load(Ordering::Acquire) {
            return Duration::ZERO;
        }
        self.used.lock().expect("used lock").at.elapsed()
    }

    /// Runs one call, its output sent to `sink` as it comes when there is one; calls to one
    /// session wait for each other. A call that ends the session (status `exit`) ends its
    /// worker's tree before returning.
    pub async fn execute(
        &self,
        code: &str,
        bounds: &Bounds,
        sink: Option<&EventSink>,
    ) -> Result<CallReply, SessionError> {
        let mut guard = self.worker.lock().await;
        let Some(worker) = guard.as_mut() else {
            return Err(SessionError::NotFound(self.id.clone()));
        };
        self.busy.store(true, Ordering::Release);
        self.touch();
        let id = self.calls.fetch_add(1, Ordering::Relaxed) + 1;
        let reply = worker::call(worker, id, code, bounds, sink).await;
        if reply.status == CallStatus::Exit {
            self.end_worker(&mut guard).await;
        }
        self.busy.store(false, Ordering::Release);
        self.touch();
        Ok(reply)
    }

    /// Whether the worker is gone (it died between calls); None while a call runs.
    pub async fn worker_gone(&self) -> Option<bool> {
        let mut guard = self.worker.try_lock().ok()?;
        Some(match guard.as_mut() {
            Some(worker) => worker.has_exited().await,
            None => true,
        })
    }

    /// Kills the worker's tree, even in the middle of a call, and waits for it to end.
    pub async fn stop(&self) {
        if !self.ended.load(Ordering::Acquire) {
            self.kill.kill();
        }
        let mut guard = self.worker.lock().await;
        self.end_worker(&mut guard).await;
    }

    async fn end_worker(&self, guard: &mut Option<WorkerChild>) {
        self.ended.store(true, Ordering::Release);
        if let Some(worker) = guard.take() {
            worker.end().await;
        }
    }
}

pub fn work_of(folder: &Path) -> PathBuf {
    folder.join("work")
}
