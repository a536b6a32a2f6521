//! Warm starts for Node.js, which cannot fork: a few idle `node` processes per dependency
//! set, each started with the set's environment and a run's limits, user and process group,
//! inside a cgroup cell of its own (which becomes its run's), waiting on stdin for exactly one
//! run (argv, environment, working folder). The pool refills in the background.

use std::collections::HashMap;
use std::io::{self, Write};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use serde_json::json;

use super::super::child::Child;
use super::super::contain::{self, Cell};
use super::super::fds::pipe;
use super::super::launch::{self, RunUser};
use super::super::{ProcessSpec, ResourceLimits};
use super::WarmKey;

/// Idle processes kept per dependency set.
const IDLE_PER_SET: usize = 2;
/// An idle process older than this is replaced rather than used.
const IDLE_FOR: Duration = Duration::from_secs(600);

/// What an idle process was started with, which a run must match to take it.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
struct Fit {
    key: WarmKey,
    limits: ResourceLimits,
    user: Option<(u32, u32)>,
}

struct Idle {
    /// Taken by its run; until then it is registered as the gateway's own child.
    child: Option<Child>,
    cell: Option<Cell>,
    commands: std::fs::File,
    started: Instant,
}

impl Drop for Idle {
    /// An idle process nobody took is killed and reaped (by its Child) and forgotten.
    fn drop(&mut self) {
        if let Some(child) = self.child.take() {
            contain::forget_child(child.id());
        }
    }
}

#[derive(Default)]
struct Set {
    idle: Vec<Idle>,
    filling: bool,
    last_used: Option<Instant>,
}

pub(super) struct NodePool {
    worker: PathBuf,
    scratch: PathBuf,
    sets: Mutex<HashMap<Fit, Set>>,
}

impl NodePool {
    pub fn new(worker: PathBuf, scratch: PathBuf) -> NodePool {
        NodePool {
            worker,
            scratch,
            sets: Mutex::default(),
        }
    }

    /// Idle processes now, and the sets they belong to.
    pub fn counts(&self) -> (usize, usize) {
        let sets = self.sets.lock().expect("node sets lock");
        (sets.values().map(|s| s.idle.len()).sum(), sets.len())
    }

    pub fn clear(&self) {
        self.sets.lock().expect("node sets lock").clear();
    }

    /// An idle process that became this run, with its cell; or None (the run starts cold;
    /// the set's pool is filled for the next runs).
    pub fn take(
        self: &Arc<Self>,
        spec: &ProcessSpec,
        max_sets: usize,
    ) -> Option<(Child, Option<Cell>)> {
        let fit = Fit {
            key: WarmKey::of(spec),
            limits: spec.limits,
            user: spec
                .user_code
                .then(|| contain::current().run_as())
                .flatten()
                .map(|user| (user.uid, user.gid)),
        };
        let taken = self.take_idle(&fit, max_sets);
        self.fill(fit);
        let mut idle = taken?;
        let run = json!({
            "program": spec.program.to_string_lossy(),
            "argv": spec.args.iter().map(|a| a.to_string_lossy()).collect::<Vec<_>>(),
            "env": spec.env.iter().map(|(k, v)| (k.to_string_lossy().into_owned(), json!(v.to_string_lossy()))).collect::<serde_json::Map<_, _>>(),
            "cwd": spec.cwd.to_string_lossy(),
        });
        match idle.commands.write_all(run.to_string().as_bytes()) {
            Ok(()) => {
                let child = idle.child.take()?;
                let cell = idle.cell.take();
                drop(idle);
                Some((child, cell))
            }
            Err(error) => {
                tracing::warn!(%error, "a pre-started node is gone; the run starts cold");
                None
            }
        }
    }

    fn take_idle(&self, fit: &Fit, max_sets: usize) -> Option<Idle> {
        let mut sets = self.sets.lock().expect("node sets lock");
        if !sets.contains_key(fit) && sets.len() >= max_sets {
            let oldest = sets
                .iter()
                .min_by_key(|(_, set)| set.last_used)
                .map(|(fit, _)| fit.clone());
            if let Some(oldest) = oldest {
                sets.remove(&oldest);
            }
        }
        let set = sets.entry(fit.clone()).or_default();
        set.last_used = Some(Instant::now());
        set.idle.retain(|idle| idle.started.elapsed() < IDLE_FOR);
        set.idle.pop()
    }

    /// Starts processes until the set has its idle ones again, in the background.
    fn fill(self: &Arc<Self>, fit: Fit) {
        {
            let mut sets = self.sets.lock().expect("node sets lock");
            let set = sets.entry(fit.clone()).or_default();
            if set.filling || set.idle.len() >= IDLE_PER_SET {
                return;
            }
            set.filling = true;
        }
        let pool = self.clone();
        tokio::spawn(async move {
            loop {
                let started = prestart(&pool.worker, &pool.scratch, &fit);
                let mut sets = pool.sets.lock().expect("node sets lock");
                let Some(set) = sets.get_mut(&fit) else {
                    return;
                };
                match started {
                    Ok(idle) => set.idle.push(idle),
                    Err(error) => {
                        tracing::warn!(%error, "cannot pre-start node; its runs start cold");
                        set.filling = false;
                        return;
                    }
                }
                if set.idle.len() >= IDLE_PER_SET {
                    set.filling = false;
                    return;
                }
            }
        });
    }
}

/// One idle `node` waiting for its run, already in the cell its run will have.
fn prestart(worker: &Path, scratch: &Path, fit: &Fit) -> io::Result<Idle> {
    let (commands_r, commands_w) = pipe()?;
    let (stdout, stdout_w) = pipe()?;
    let (stderr, stderr_w) = pipe()?;
    let cell = contain::current().enclose(fit.limits.processes, fit.limits.address_space_bytes)?;
    let mut launch = fit.key.launch(
        &[worker.as_os_str()],
        scratch,
        [commands_r, stdout_w, stderr_w],
    )?;
    launch.join = cell.as_ref().map(Cell::join_fds).unwrap_or_default();
    launch.rlimits = fit.limits.rlimits(cell.is_none());
    launch.user = fit.user.map(|(uid, gid)| RunUser { uid, gid });
    let started = launch::start_registered(launch)?;
    Ok(Idle {
        child: Some(Child::new(started, stdout, stderr)?),
        cell,
        commands: std::fs::File::from(commands_w),
        started: Instant::now(),
    })
}
