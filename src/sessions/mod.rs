//! Interpreter sessions for trusted callers: a Python or Node.js worker per session, kept
//! alive between calls so variables and imports persist, in a folder of its own under the data folder, with
//! the same clean environment, process group, limits and run user as a run. Sessions live
//! in memory only: a restarted gateway kills what a killed one left and starts empty.

mod files;
mod folder;
mod launch;
mod session;
mod worker;

use std::collections::HashMap;
use std::ffi::OsString;
use std::os::unix::fs::PermissionsExt;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;

use crate::deps::RunDeps;
use crate::process;
use crate::settings::Settings;

pub use files::{FileEntry, FileError};
pub use session::{SessionRuntime, SessionView};
pub use worker::{CallError, CallEvent, CallReply, CallStatus};

use session::Session;
use worker::Bounds;

/// The workers sessions run, shipped inside the binary.
const PYTHON_WORKER: &str = include_str!("python_worker.py");
const NODE_WORKER: &str = include_str!("node_worker.js");

#[derive(Debug, thiserror::Error)]
pub enum SessionError {
    #[error("interpreter sessions are off; the operator turns them on with the exec_enabled setting (--exec-enabled, SG_EXEC_ENABLED)")]
    Disabled,
    #[error("interpreter sessions need an API key on a non-loopback address: configure --api-key, or create a key, before turning them on")]
    NeedsKey,
    #[error("there is no session {0:?} (sessions end on exit, idle expiry, deletion and gateway restarts)")]
    NotFound(String),
    #[error("{0} sessions are alive, the most the max_sessions setting allows; end one first")]
    TooMany(usize),
    #[error("{0}")]
    Invalid(String),
    #[error("the session's interpreter is not available: {0}")]
    Interpreter(String),
    #[error("cannot start the session's worker: {0}")]
    Start(String),
    #[error(transparent)]
    File(#[from] FileError),
    #[error("session I/O failed: {0}")]
    Io(#[from] std::io::Error),
}

/// What a new session is made with.
#[derive(Debug)]
pub struct NewSession {
    pub runtime: SessionRuntime,
    /// Variables added to the clean environment.
    pub env: Vec<(String, String)>,
    /// A script's dependency environment, held (and its cache kept from cleanup) for the
    /// session's life.
    pub deps: Option<RunDeps>,
}

/// What the manager is built from.
pub struct SessionParts {
    /// `DATA_DIR/sessions`.
    pub root: PathBuf,
    pub python: Result<PathBuf, String>,
    pub node: Result<PathBuf, String>,
    pub child_path: OsString,
    pub settings: Arc<Settings>,
    /// The gateway listens on a loopback address only.
    pub loopback: bool,
}

#[derive(Default)]
struct Table {
    live: HashMap<String, Arc<Session>>,
    starting: usize,
}

pub struct SessionManager {
    parts: SessionParts,
    /// The Python and the Node worker programs.
    scripts: [PathBuf; 2],
    /// `KEY=value` in every worker's environment: what a restarted gateway looks for.
    marker: String,
    table: Mutex<Table>,
}

/// Whether exec may be on: with no key in use, only on a loopback address.
pub fn exec_allowed(keys_in_use: bool, loopback: bool) -> Result<(), SessionError> {
    match keys_in_use || loopback {
        true => Ok(()),
        false => Err(SessionError::NeedsKey),
    }
}

impl SessionManager {
    /// Prepares `root`, and kills and removes whatever sessions an earlier gateway left.
    pub fn open(parts: SessionParts) -> std::io::Result<Arc<SessionManager>> {
        let root = &parts.root;
        std::fs::create_dir_all(root)?;
        std::fs::set_permissions(root, std::fs::Permissions::from_mode(0o711))?;
        let marker = format!("SG_SESSIONS_OF={}", root.display());
        let killed = process::kill_marked(&marker);
        if killed > 0 {
            tracing::warn!(
                groups = killed,
                "killed session workers an earlier gateway left"
            );
        }
        let code = root.join(".worker");
        for entry in std::fs::read_dir(root)? {
            let path = entry?.path();
            if path != code {
                std::fs::remove_dir_all(&path)?;
            }
        }
        std::fs::create_dir_all(&code)?;
        std::fs::set_permissions(&code, std::fs::Permissions::from_mode(0o755))?;
        let scripts = [
            (code.join("python_worker.py"), PYTHON_WORKER),
            (code.join("node_worker.js"), NODE_WORKER),
        ];
        for (path, program) in &scripts {
            std::fs::write(path, program)?;
            std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o644))?;
        }
        Ok(Arc::new(SessionManager {
            parts,
            scripts: scripts.map(|(path, _)| path),
            marker,
            table: Mutex::default(),
        }))
    }

    /// Refuses every session request while exec is off, or on without a key off loopback.
    pub fn check_enabled(&self, keys_in_use: bool) -> Result<(), SessionError> {
        if !self.parts.settings.current().exec_enabled {
            return Err(SessionError::Disabled);
        }
        exec_allowed(keys_in_use, self.parts.loopback)
    }

    pub fn loopback(&self) -> bool {
        self.parts.loopback
    }

    pub async fn create(&self, request: NewSession) -> Result<SessionView, SessionError> {
        let program = self.program(request.runtime)?;
        let env = launch::check_env(request.env).map_err(SessionError::Invalid)?;
        let max = self.parts.settings.current().max_sessions;
        {
            let mut table = self.table.lock().expect("sessions lock");
            if table.live.len() + table.starting >= max {
                return Err(SessionError::TooMany(max));
            }
            table.starting += 1;
        }
        let started = self
            .start(request.runtime, program, env, request.deps)
            .await;
        let mut table = self.table.lock().expect("sessions lock");
        table.starting -= 1;
        let session = Arc::new(started?);
        table.live.insert(session.id.clone(), session.clone());
        crate::metrics::sessions_active(table.live.len());
        Ok(session.view())
    }

    /// The interpreter and worker program of `runtime`, if the interpreter is there.
    fn program(&self, runtime: SessionRuntime) -> Result<launch::Program<'_>, SessionError> {
        let [python, node] = &self.scripts;
        let missing = |why: &String| SessionError::Interpreter(why.clone());
        Ok(match runtime {
            SessionRuntime::Python => launch::Program::Python {
                python: self.parts.python.clone().map_err(|e| missing(&e))?,
                script: python,
            },
            SessionRuntime::Node => launch::Program::Node {
                node: self.parts.node.clone().map_err(|e| missing(&e))?,
                script: node,
            },
        })
    }

    async fn start(
        &self,
        runtime: SessionRuntime,
        program: launch::Program<'_>,
        env: Vec<(String, String)>,
        deps: Option<RunDeps>,
    ) -> Result<Session, SessionError> {
        let id = launch::new_id();
        let folder = self.parts.root.join(&id);
        let mut spec = launch::worker_spec(
            launch::Worker {
                program,
                child_path: &self.parts.child_path,
                marker: &self.marker,
            },
            &id,
            launch::prepare_folders(&folder)?,
            env,
            &self.parts.settings.current().run,
        );
        if let Some(deps) = &deps {
            deps.apply_to(&mut spec.env);
        }
        let mut child = process::start_worker(&spec).map_err(|e| {
            let _ = std::fs::remove_dir_all(&folder);
            SessionError::Start(e.reason())
        })?;
        if let Err(why) = worker::ready(&mut child).await {
            child.end().await;
            let _ = std::fs::remove_dir_all(&folder);
            return Err(SessionError::Start(why));
        }
        tracing::info!(session = %id, pid = child.pid(), "session started");
        Ok(Session::new(id, runtime, folder, child, deps))
    }

    fn find(&self, id: &str) -> Result<Arc<Session>, SessionError> {
        let table = self.table.lock().expect("sessions lock");
        table
            .live
            .get(id)
            .cloned()
            .ok_or_else(|| SessionError::NotFound(id.to_string()))
    }

    pub fn get(&self, id: &str) -> Result<SessionView, SessionError> {
        Ok(self.find(id)?.view())
    }

    pub fn list(&self) -> Vec<SessionView> {
        let table = self.table.lock().expect("sessions lock");
        let mut views: Vec<SessionView> = table.live.values().map(|s| s.view()).collect();
        views.sort_by(|a, b| a.created_at.cmp(&b.created_at).then(a.id.cmp(&b.id)));
        views
    }

    /// Runs `code` in a session, within `timeout` seconds (never beyond `timeout_sec`). The
    /// call runs in a task of its own: a caller that goes away does not cut it short.
    pub async fn execute(
        &self,
        id: &str,
        code: String,
        timeout: Option<f64>,
    ) -> Result<CallReply, SessionError> {
        let session = self.find(id)?;
        let bounds = self.bounds(timeout);
        let running = session.clone();
        let reply = tokio::spawn(async move { running.execute(&code, &bounds, None).await })
            .await
            .map_err(|e| SessionError::Start(format!("the call's task failed: {e}")))??;
        if reply.status == CallStatus::Exit {
            self.end(id).await;
        }
        Ok(reply)
    }

    /// Starts `code` as [`SessionManager::execute`] does, answering at once with the call's
    /// events: its output as the code writes it, then its end (the reply `execute` would
    /// give). A receiver dropped early leaves the call to run to its end (or its timeout).
    pub fn execute_streaming(
        self: &Arc<Self>,
        id: &str,
        code: String,
        timeout: Option<f64>,
    ) -> Result<mpsc::UnboundedReceiver<CallEvent>, SessionError> {
        let session = self.find(id)?;
        let bounds = self.bounds(timeout);
        let (sink, events) = mpsc::unbounded_channel();
        let manager = self.clone();
        tokio::spawn(async move {
            let reply = session.execute(&code, &bounds, Some(&sink)).await;
            if reply.as_ref().is_ok_and(|r| r.status == CallStatus::Exit) {
                manager.end(&session.id).await;
            }
            let _ = sink.send(CallEvent::End(reply));
        });
        Ok(events)
    }

    /// A call's bounds: `timeout` seconds if given and sensible, never beyond `timeout_sec`.
    fn bounds(&self, timeout: Option<f64>) -> Bounds {
        let settings = self.parts.settings.current();
        let limit = settings.run.timeout;
        let timeout = timeout
            .filter(|t| t.is_finite() && *t > 0.0)
            .map_or(limit, |t| {
                Duration::from_secs_f64(t.min(limit.as_secs_f64()))
            });
        Bounds {
            timeout,
            max_output: settings.run.max_output_bytes,
        }
    }

    /// Runs `code` in a session made for it and ended after.
    pub async fn execute_once(
        &self,
        code: String,
        timeout: Option<f64>,
        env: Vec<(String, String)>,
    ) -> Result<CallReply, SessionError> {
        let runtime = SessionRuntime::Python;
        let view = self
            .create(NewSession {
                runtime,
                env,
                deps: None,
            })
            .await?;
        let reply = self.execute(&view.id, code, timeout).await;
        self.end(&view.id).await;
        reply
    }

    /// Ends a session: its worker's tree killed, its folder removed. False if it was gone.
    pub async fn end(&self, id: &str) -> bool {
        let removed = {
            let mut table = self.table.lock().expect("sessions lock");
            let removed = table.live.remove(id);
            crate::metrics::sessions_active(table.live.len());
            removed
        };
        let Some(session) = removed else { return false };
        session.stop().await;
        let folder = session.folder().to_path_buf();
        let _ = tokio::task::spawn_blocking(move || std::fs::remove_dir_all(folder)).await;
        tracing::info!(session = %id, "session ended");
        true
    }

    /// Ends every session (at shutdown).
    pub async fn end_all(&self) {
        let ids: Vec<String> = self
            .table
            .lock()
            .expect("sessions lock")
            .live
            .keys()
            .cloned()
            .collect();
        for id in ids {
            self.end(&id).await;
        }
    }

    /// Ends sessions idle past `session_idle_sec`, those whose worker died, and all of them
    /// once exec is turned off.
    pub async fn reap(&self) {
        let settings = self.parts.settings.current();
        let sessions: Vec<Arc<Session>> = self
            .table
            .lock()
            .expect("sessions lock")
            .live
            .values()
            .cloned()
            .collect();
        for session in sessions {
            let gone = !settings.exec_enabled
                || session.idle_for() > settings.session_idle
                || session.worker_gone().await == Some(true);
            if gone {
                self.end(&session.id).await;
            }
        }
    }

    /// Reaps once a second until `shutdown`.
    pub fn keep_reaping(self: &Arc<Self>, shutdown: CancellationToken) {
        let manager = self.clone();
        tokio::spawn(async move {
            let mut every = tokio::time::interval(Duration::from_secs(1));
            loop {
                tokio::select! {
                    _ = every.tick() => manager.reap().await,
                    _ = shutdown.cancelled() => break,
                }
            }
        });
    }
}
