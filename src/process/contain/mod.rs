//! Containment of every child tree, chosen once at start-up from what the kernel offers:
//! a cgroup per child (v2, else v1) that caps and kills the whole tree, else the gateway as
//! child subreaper sweeping what detaches. Where the gateway may, user code runs as a
//! separate unprivileged user that cannot reach the gateway's own state.

mod cell;
mod cells;
mod cgroup;
mod reaper;
mod user;

use std::io;
use std::path::{Path, PathBuf};
use std::sync::OnceLock;

use serde::Serialize;

pub use cell::{Cell, Enforced};
use cells::CellPool;
pub use cgroup::{CellLimits, Layout};
pub use user::{close_gateway_state, RunAs, RunAsChoice};

/// What the operator asked for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Choice {
    /// The best the host offers.
    #[default]
    Auto,
    /// cgroups or refuse to start.
    Cgroup,
    /// The subreaper fallback even where cgroups exist.
    Subreaper,
}

impl std::str::FromStr for Choice {
    type Err = String;

    fn from_str(text: &str) -> Result<Choice, String> {
        match text.trim() {
            "auto" => Ok(Choice::Auto),
            "cgroup" => Ok(Choice::Cgroup),
            "subreaper" => Ok(Choice::Subreaper),
            other => Err(format!("{other:?} is not auto, cgroup or subreaper")),
        }
    }
}

/// Where containment starts from.
#[derive(Debug, Clone)]
pub struct Request {
    pub choice: Choice,
    pub run_as: RunAsChoice,
    pub data_dir: PathBuf,
    /// Folders the run user must reach: the scripts, the run folders, the scratch folder.
    pub reachable: Vec<PathBuf>,
}

#[derive(Debug)]
enum Mechanism {
    Cgroup(Layout),
    Subreaper,
    /// Neither could be had: only process groups.
    GroupsOnly,
}

/// The containment in force for this gateway.
#[derive(Debug)]
pub struct Containment {
    mechanism: Mechanism,
    instance: String,
    run_as: Option<RunAs>,
    warnings: Vec<String>,
    cells: CellPool,
}

/// Which mechanism is active and which guarantees hold, for the start-up log and the API.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct ContainmentReport {
    /// `cgroup_v2`, `cgroup_v1`, `subreaper` or `process_group`.
    pub mechanism: &'static str,
    /// Every process a run starts is stopped when the run ends, in every ending.
    pub whole_tree_stopped: bool,
    /// `max_processes` counts every process of a run together (also as root).
    pub process_cap_per_run: bool,
    /// `memory_limit_mb` caps a run's processes together, not each one.
    pub memory_cap_per_run: bool,
    /// After a crash of the gateway (kill -9), its next start stops what runs left running,
    /// also processes that detached from them.
    pub crash_cleanup: bool,
    /// The user scripts run as, when it is not the gateway's own.
    pub run_as: Option<String>,
    /// Scripts cannot read or write the database, keys or other runs' folders.
    pub gateway_state_closed: bool,
    pub warnings: Vec<String>,
}

static INSTALLED: OnceLock<Containment> = OnceLock::new();
static BEFORE_INSTALL: OnceLock<Containment> = OnceLock::new();

#[derive(Debug, thiserror::Error)]
pub enum ContainError {
    #[error("--containment cgroup was asked for, but {0}")]
    NoCgroups(String),
    #[error("--run-as: {0}")]
    RunAs(String),
}

/// Chooses the containment once, for the life of the process.
pub fn install(request: &Request) -> Result<&'static Containment, ContainError> {
    let containment = Containment::choose(request)?;
    Ok(INSTALLED.get_or_init(|| containment))
}

/// The installed containment; before `install` (the interpreter probes that run first, and
/// unit tests) children get their own process group only.
pub fn current() -> &'static Containment {
    INSTALLED.get().unwrap_or_else(|| {
        BEFORE_INSTALL.get_or_init(|| Containment {
            mechanism: Mechanism::GroupsOnly,
            instance: String::new(),
            run_as: None,
            warnings: Vec::new(),
            cells: CellPool::default(),
        })
    })
}

fn mechanism(choice: Choice, instance: &str) -> Result<(Mechanism, Vec<String>), ContainError> {
    let mut warnings = Vec::new();
    if choice != Choice::Subreaper {
        match Layout::detect(instance) {
            Ok(layout) => {
                // Whatever an earlier gateway on the same data folder left running goes now.
                let swept = cell::sweep(&layout, instance);
                if swept > 0 {
                    tracing::warn!(
                        cells = swept,
                        "stopped process trees an earlier stop left running"
                    );
                }
                return Ok((Mechanism::Cgroup(layout), warnings));
            }
            Err(reason) if choice == Choice::Cgroup => return Err(ContainError::NoCgroups(reason)),
            Err(reason) => warnings.push(format!("no cgroups ({reason})")),
        }
    }
    match reaper::become_subreaper() {
        Ok(()) => Ok((Mechanism::Subreaper, warnings)),
        Err(error) => {
            warnings.push(format!("cannot become child subreaper: {error}"));
            Ok((Mechanism::GroupsOnly, warnings))
        }
    }
}

impl Containment {
    fn choose(request: &Request) -> Result<Containment, ContainError> {
        let instance = instance_name(&request.data_dir);
        let (mechanism, mut warnings) = mechanism(request.choice, &instance)?;
        let run_as = user::resolve(&request.run_as, &request.reachable, &mut warnings)
            .map_err(ContainError::RunAs)?;
        let root = user::is_root();
        match (&mechanism, &run_as) {
            (Mechanism::Cgroup(_), _) => {}
            (_, None) if root => warnings.push(
                "max_processes does nothing for scripts running as root without cgroups".into(),
            ),
            _ => warnings.push(
                "max_processes counts the run user's processes, memory_limit_mb each process"
                    .into(),
            ),
        }
        if run_as.is_none() {
            warnings.push(
                "scripts run as the gateway's own user: they can read the data folder".into(),
            );
        }
        Ok(Containment {
            mechanism,
            instance,
            run_as,
            warnings,
            cells: CellPool::default(),
        })
    }

    pub fn report(&self) -> ContainmentReport {
        let cgroups = matches!(self.mechanism, Mechanism::Cgroup(_));
        ContainmentReport {
            mechanism: match &self.mechanism {
                Mechanism::Cgroup(layout) => layout.name(),
                Mechanism::Subreaper => "subreaper",
                Mechanism::GroupsOnly => "process_group",
            },
            whole_tree_stopped: !matches!(self.mechanism, Mechanism::GroupsOnly),
            process_cap_per_run: cgroups,
            memory_cap_per_run: cgroups,
            crash_cleanup: cgroups,
            run_as: self.run_as.as_ref().map(|u| u.name.clone()),
            gateway_state_closed: self.run_as.is_some(),
            warnings: self.warnings.clone(),
        }
    }

    pub fn run_as(&self) -> Option<&RunAs> {
        self.run_as.as_ref()
    }

    /// A fresh enclosure for one child tree.
    pub fn enclose(&self, processes: Option<u64>, memory: Option<u64>) -> io::Result<Option<Cell>> {
        let Mechanism::Cgroup(layout) = &self.mechanism else {
            return Ok(None);
        };
        let limits = CellLimits {
            processes,
            memory_bytes: memory,
        };
        self.cells.take(layout, &self.instance, limits).map(Some)
    }

    /// [`Containment::end`] for a cell whose tree is already gone, which needs only a few
    /// reads of in-memory cgroup files: takes the cell and reports. A cell with processes
    /// left, or not yet reaped, stays where it is.
    pub fn end_if_empty(&self, cell: &mut Option<Cell>) -> Option<Enforced> {
        // `pids.current` counts every process of the tree until it is reaped: at zero the
        // tree is gone and the cell is ready for the next one (one read, not two).
        if !cell.as_ref().is_some_and(Cell::is_released) {
            return None;
        }
        let mut cell = cell.take()?;
        let enforced = cell.settle();
        self.cells.give_back(cell);
        Some(enforced)
    }

    /// Ends a tree's enclosure: kills what is left in it and reports which caps the kernel
    /// enforced; an emptied cell is kept for the next tree. Blocks (up to two seconds for a
    /// tree that will not die).
    pub fn end(&self, mut cell: Cell) -> Enforced {
        let emptied = cell.kill_all(std::time::Duration::from_secs(2));
        let enforced = cell.settle();
        if emptied && cell.is_released() {
            self.cells.give_back(cell);
        }
        enforced
    }

    /// At a clean stop, after the last run: removes this gateway's cgroup folders.
    pub fn release(&self) {
        if let Mechanism::Cgroup(layout) = &self.mechanism {
            self.cells.clear();
            cell::sweep(layout, &self.instance);
            layout.remove_instance_dirs(&self.instance);
        }
    }

    /// Whether the next start stops whatever trees a crashed gateway left, by itself (its
    /// cells outlive it); otherwise a run's pid must be recorded to find its group then.
    pub fn recovers_crashed_trees(&self) -> bool {
        matches!(self.mechanism, Mechanism::Cgroup(_))
    }

    /// Whether orphans are swept (the subreaper fallback).
    pub fn sweeps(&self) -> bool {
        matches!(self.mechanism, Mechanism::Subreaper)
    }

    /// Under the subreaper fallback, sweeps once a second for processes that detached from a
    /// run and were handed to the gateway after their run's own sweep.
    pub fn keep_sweeping(&'static self) {
        if !self.sweeps() {
            return;
        }
        tokio::spawn(async {
            let mut every = tokio::time::interval(std::time::Duration::from_secs(1));
            loop {
                every.tick().await;
                let swept = tokio::task::spawn_blocking(reaper::sweep)
                    .await
                    .unwrap_or(0);
                if swept > 0 {
                    tracing::warn!(
                        processes = swept,
                        "stopped processes that detached from their run"
                    );
                }
            }
        });
    }
}

pub use reaper::{forget as forget_child, registry as child_registry, sweep as sweep_orphans};

/// A short stable name per data folder, so that gateways on one host keep their cells apart
/// and a restarted gateway finds what its predecessor left.
fn instance_name(data_dir: &Path) -> String {
    use sha2::{Digest, Sha256};
    let canonical = data_dir
        .canonicalize()
        .unwrap_or_else(|_| data_dir.to_path_buf());
    let digest = Sha256::digest(canonical.as_os_str().as_encoded_bytes());
    format!("gw-{}", &hex::encode(digest)[..16])
}
