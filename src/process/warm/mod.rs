//! Warm starts for Python runs: a fork server per interpreter and dependency set, started
//! on demand (never the gateway forking itself), forks one child per run that becomes what
//! a cold start would be. Which modules a server preloads is learned from what its runs
//! imported. Anything wrong with a server makes the run start cold instead.

mod key;
mod node;
mod report;
mod server;
mod wire;

use std::collections::{BTreeSet, HashMap};
use std::io;
use std::os::fd::AsRawFd;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, Weak};
use std::time::Duration;

use super::child::Child;
use super::contain::{self, Cell};
use super::fds::{dev_null, pipe};
use super::ProcessSpec;

pub use key::WarmKey;
use report::view;
pub use report::{WarmReport, WarmServerView};
use server::{ForkServer, RunRequest};

/// The fork server's program, written next to the dependency caches.
const FORK_SERVER: &str = include_str!("fork_server.py");
/// What a pre-started node runs while it waits for its run.
const NODE_WORKER: &str = include_str!("node_worker.js");

/// Which kind of warm start a run can have.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum WarmRuntime {
    /// Forked from a fork server.
    Python,
    /// A pre-started `node` takes the run.
    Node,
}

/// A run's way to start warm.
#[derive(Debug, Clone)]
pub struct WarmStart {
    pub pool: Arc<WarmPool>,
    pub runtime: WarmRuntime,
}
/// A server is replaced after this many runs, so nothing it slowly accumulates matters.
const RECYCLE_AFTER_RUNS: u64 = 1000;
/// A server nobody used for this long is stopped.
const IDLE_FOR: Duration = Duration::from_secs(600);
/// How long a run waits for its set's first server before it starts cold instead: about
/// what a cold start costs, so the first run of a set is no slower either way.
const FIRST_START_WAIT: Duration = Duration::from_millis(300);
enum Slot {
    Starting,
    Ready(Arc<ForkServer>),
}

/// The fork servers of this gateway.
pub struct WarmPool {
    script: PathBuf,
    scratch: PathBuf,
    /// Folders whose modules are never preloaded (the gateway's helper modules).
    exclude: Vec<PathBuf>,
    max_servers: AtomicUsize,
    slots: Mutex<HashMap<WarmKey, Slot>>,
    /// Replaced servers, alive until their last run ends.
    retiring: Mutex<Vec<Weak<ForkServer>>>,
    learned: Arc<Mutex<HashMap<WarmKey, BTreeSet<String>>>>,
    starts: AtomicU64,
    fallbacks: AtomicU64,
    nodes: Arc<node::NodePool>,
}

impl std::fmt::Debug for WarmPool {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("WarmPool")
            .field("script", &self.script)
            .finish()
    }
}

impl WarmPool {
    /// Writes the fork server's program into `folder` (alone there: Python puts a script's
    /// folder first on `sys.path`).
    pub fn open(
        folder: &Path,
        exclude: Vec<PathBuf>,
        max_servers: usize,
    ) -> io::Result<Arc<WarmPool>> {
        let scratch = folder.join("home");
        std::fs::create_dir_all(&scratch)?;
        let code = folder.join("server");
        std::fs::create_dir_all(&code)?;
        let script = write_program(&code.join("fork_server.py"), FORK_SERVER)?;
        let worker = write_program(&code.join("node_worker.js"), NODE_WORKER)?;
        // A pre-started node runs as the run user: it must reach its program and folder.
        for folder in [folder, &code, &scratch] {
            std::fs::set_permissions(folder, std::fs::Permissions::from_mode(0o755))?;
        }
        Ok(Arc::new(WarmPool {
            script,
            scratch: scratch.clone(),
            exclude,
            max_servers: AtomicUsize::new(max_servers.max(1)),
            slots: Mutex::default(),
            retiring: Mutex::default(),
            learned: Arc::default(),
            starts: AtomicU64::new(0),
            fallbacks: AtomicU64::new(0),
            nodes: Arc::new(node::NodePool::new(worker, scratch)),
        }))
    }

    pub fn set_max_servers(&self, max: usize) {
        self.max_servers.store(max.max(1), Ordering::Relaxed);
    }

    /// The running servers (replaced ones included while their runs finish), and counts.
    pub fn report(&self) -> WarmReport {
        let mut servers: Vec<Arc<ForkServer>> = self
            .slots
            .lock()
            .expect("warm slots lock")
            .values()
            .filter_map(|slot| match slot {
                Slot::Ready(server) => Some(server.clone()),
                Slot::Starting => None,
            })
            .collect();
        let mut retiring = self.retiring.lock().expect("retiring lock");
        retiring.retain(|server| server.strong_count() > 0);
        servers.extend(retiring.iter().filter_map(Weak::upgrade));
        drop(retiring);
        let mut views: Vec<WarmServerView> = servers
            .iter()
            .filter(|server| server.is_alive())
            .map(view)
            .collect();
        views.sort_by_key(|v| v.pid);
        let (idle_node_processes, node_sets) = self.nodes.counts();
        WarmReport {
            warm_starts: self.starts.load(Ordering::Relaxed),
            cold_starts: self.fallbacks.load(Ordering::Relaxed),
            servers: views,
            idle_node_processes,
            node_sets,
        }
    }

    fn retire(&self, slot: Option<Slot>) {
        if let Some(Slot::Ready(server)) = slot {
            self.retiring
                .lock()
                .expect("retiring lock")
                .push(Arc::downgrade(&server));
        }
    }

    /// Stops every server (their running children end with them) and idle node.
    pub fn clear(&self) {
        self.slots.lock().expect("warm slots lock").clear();
        self.nodes.clear();
    }

    /// A pre-started node that became this run, in the cell it was started in; None when
    /// none was ready (the run starts cold; the set's pool fills for the next runs).
    pub(super) fn take_node(&self, spec: &ProcessSpec) -> Option<(Child, Option<Cell>)> {
        let max = self.max_servers.load(Ordering::Relaxed);
        let taken = self.nodes.take(spec, max);
        self.count_start(taken.is_some());
        taken
    }

    /// A child forked for `spec` by its set's fork server, joining `cell`; None when the run
    /// should start cold (no server ready for its set — one is being started — or it failed).
    pub(super) async fn fork(
        self: &Arc<Self>,
        spec: &ProcessSpec,
        cell: Option<&Cell>,
    ) -> Option<Child> {
        let key = WarmKey::of(spec);
        let server = match self.server_for(&key) {
            Some(server) => Some(server),
            None => self.wait_for_start(&key).await,
        };
        let Some(server) = server else {
            self.count_start(false);
            return None;
        };
        let (stdout, stdout_w) = pipe().ok()?;
        let (stderr, stderr_w) = pipe().ok()?;
        let stdin = dev_null().ok()?;
        let mut fds = vec![
            stdin.as_raw_fd(),
            stdout_w.as_raw_fd(),
            stderr_w.as_raw_fd(),
        ];
        fds.extend(cell.map(Cell::join_fds).unwrap_or_default());
        let request = RunRequest {
            program: &spec.program,
            argv: &spec.args,
            cwd: &spec.cwd,
            env: &spec.env,
            rlimits: spec
                .limits
                .rlimits(cell.is_none())
                .iter()
                .map(|limit| limit.parts())
                .collect(),
            user: spec
                .user_code
                .then(|| contain::current().run_as())
                .flatten()
                .map(|user| (user.uid, user.gid)),
            fds,
        };
        let forked = server.fork(request).await;
        drop((stdin, stdout_w, stderr_w));
        match forked {
            Ok((pid, exit)) => {
                self.count_start(true);
                Child::remote(pid, exit, stdout, stderr).ok()
            }
            Err(reason) => {
                self.count_start(false);
                tracing::warn!(%reason, "a warm start failed; the run starts cold");
                self.remove(&key, &server);
                None
            }
        }
    }

    /// The ready server for `key`, starting or replacing one in the background as needed.
    fn server_for(self: &Arc<Self>, key: &WarmKey) -> Option<Arc<ForkServer>> {
        let mut slots = self.slots.lock().expect("warm slots lock");
        self.drop_idle(&mut slots);
        let current = match slots.get(key) {
            Some(Slot::Ready(server)) if server.is_alive() => Some(server.clone()),
            Some(Slot::Starting) => return None,
            _ => None,
        };
        let replace = current.as_ref().is_none_or(|server| {
            server.stale.load(Ordering::Acquire)
                || server.served.load(Ordering::Relaxed) >= RECYCLE_AFTER_RUNS
        });
        if replace && self.make_room(&mut slots, key) {
            if current.is_none() {
                slots.insert(key.clone(), Slot::Starting);
            }
            self.start_in_background(key.clone());
        }
        current
    }

    fn count_start(&self, warm: bool) {
        let (counter, label) = match warm {
            true => (&self.starts, "warm"),
            false => (&self.fallbacks, "cold"),
        };
        counter.fetch_add(1, Ordering::Relaxed);
        crate::metrics::warm_start(label);
    }

    /// The server being started for `key`, if it becomes ready soon.
    async fn wait_for_start(&self, key: &WarmKey) -> Option<Arc<ForkServer>> {
        let deadline = tokio::time::Instant::now() + FIRST_START_WAIT;
        while tokio::time::Instant::now() < deadline {
            tokio::time::sleep(Duration::from_millis(5)).await;
            match self.slots.lock().expect("warm slots lock").get(key) {
                Some(Slot::Ready(server)) if server.is_alive() => return Some(server.clone()),
                Some(Slot::Starting) => {}
                _ => return None,
            }
        }
        None
    }

    fn drop_idle(&self, slots: &mut HashMap<WarmKey, Slot>) {
        slots.retain(|_, slot| match slot {
            Slot::Ready(server) => {
                let idle = server.last_used.lock().expect("last used lock").elapsed();
                server.is_alive()
                    && !(idle > IDLE_FOR && server.running.load(Ordering::Acquire) == 0)
            }
            Slot::Starting => true,
        });
    }

    /// Room for one more server beside `key`'s: the least recently used idle one goes.
    fn make_room(&self, slots: &mut HashMap<WarmKey, Slot>, key: &WarmKey) -> bool {
        let others = slots.keys().filter(|k| *k != key).count();
        if others < self.max_servers.load(Ordering::Relaxed) {
            return true;
        }
        let victim = slots
            .iter()
            .filter(|(k, _)| *k != key)
            .filter_map(|(k, slot)| match slot {
                Slot::Ready(s) if s.running.load(Ordering::Acquire) == 0 => {
                    Some((k.clone(), *s.last_used.lock().expect("last used lock")))
                }
                _ => None,
            })
            .min_by_key(|(_, used)| *used);
        match victim {
            Some((victim, _)) => {
                self.retire(slots.remove(&victim));
                true
            }
            None => false,
        }
    }

    fn start_in_background(self: &Arc<Self>, key: WarmKey) {
        let pool = self.clone();
        tokio::spawn(async move {
            let preload: Vec<String> = pool
                .learned
                .lock()
                .expect("learned lock")
                .get(&key)
                .map(|names| names.iter().cloned().collect())
                .unwrap_or_default();
            let options = serde_json::json!({
                "preload": preload,
                "exclude": pool.exclude,
                "reports": report_address(),
            });
            let learned = pool.learned.clone();
            let learner = key.clone();
            let learn = Box::new(move |names: Vec<String>| {
                let mut learned = learned.lock().expect("learned lock");
                learned.entry(learner.clone()).or_default().extend(names);
            });
            let started =
                ForkServer::start(key.clone(), &pool.script, &pool.scratch, options, learn).await;
            let mut slots = pool.slots.lock().expect("warm slots lock");
            match started {
                Ok(server) => {
                    let replaced = slots.insert(key, Slot::Ready(server));
                    pool.retire(replaced);
                }
                Err(error) => {
                    tracing::warn!(%error, "cannot start a fork server; runs of its set start cold");
                    if matches!(slots.get(&key), Some(Slot::Starting)) {
                        slots.remove(&key);
                    }
                    // What it was asked to preload may be the cause: the next one starts bare.
                    pool.learned.lock().expect("learned lock").remove(&key);
                }
            }
        });
    }

    fn remove(&self, key: &WarmKey, failed: &Arc<ForkServer>) {
        let mut slots = self.slots.lock().expect("warm slots lock");
        if matches!(slots.get(key), Some(Slot::Ready(s)) if Arc::ptr_eq(s, failed)) {
            slots.remove(key);
        }
        failed.shut_down();
    }
}

/// Writes `program` at `path` (only when it changed), readable by the run user.
fn write_program(path: &Path, program: &str) -> io::Result<PathBuf> {
    if std::fs::read(path).ok().as_deref() != Some(program.as_bytes()) {
        std::fs::write(path, program)?;
    }
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o644))?;
    Ok(path.to_path_buf())
}

/// An unguessable abstract socket name on which a server hears what its runs imported.
fn report_address() -> String {
    let mut bytes = [0u8; 16];
    getrandom::fill(&mut bytes).expect("the operating system provides randomness");
    let hex: String = bytes.iter().map(|b| format!("{b:02x}")).collect();
    format!("scriptgateway-warm-{hex}")
}
