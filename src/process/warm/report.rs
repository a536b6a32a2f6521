//! What the API shows of warm execution: each fork server, and the pool's counts.

use std::sync::atomic::Ordering;
use std::sync::Arc;

use serde::Serialize;

use super::server::ForkServer;

/// What the pool did so far, and its servers.
#[derive(Debug, Clone, Serialize)]
pub struct WarmReport {
    /// Runs forked by a fork server.
    pub warm_starts: u64,
    /// Runs that would have started warm but started cold (no server ready, or it failed).
    pub cold_starts: u64,
    pub servers: Vec<WarmServerView>,
    /// Pre-started `node` processes waiting for a run, and the dependency sets they serve.
    pub idle_node_processes: usize,
    pub node_sets: usize,
}

/// A fork server as the API shows it.
#[derive(Debug, Clone, Serialize)]
pub struct WarmServerView {
    pub pid: u32,
    pub interpreter: String,
    /// The dependency folders on its `PYTHONPATH`.
    pub python_path: Option<String>,
    pub preloaded: Vec<String>,
    pub runs: u64,
    pub running: usize,
    pub rss_bytes: Option<u64>,
    pub age_s: u64,
    pub idle_s: u64,
}

pub(super) fn view(server: &Arc<ForkServer>) -> WarmServerView {
    let idle = server.last_used.lock().expect("last used lock").elapsed();
    WarmServerView {
        pid: server.pid,
        interpreter: server.key.describe(),
        python_path: server.key.python_path(),
        preloaded: server.preloaded.clone(),
        runs: server.served.load(Ordering::Relaxed),
        running: server.running.load(Ordering::Acquire),
        rss_bytes: server.rss_bytes(),
        age_s: server.started.elapsed().as_secs(),
        idle_s: idle.as_secs(),
    }
}
