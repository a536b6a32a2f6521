//! A control group per child tree: the kernel counts every process and byte of the tree
//! together, and can stop all of it at once, whatever sessions or groups it made.

use std::fs;
use std::io::{self, Write};
use std::os::fd::{AsRawFd, OwnedFd, RawFd};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

const BASE: &str = "/sys/fs/cgroup";
const PARENT: &str = "scriptgateway";

/// Which cgroup hierarchies this host offers, and where.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Layout {
    /// The unified hierarchy with the `pids` and `memory` controllers.
    V2 { root: PathBuf },
    /// Separate v1 hierarchies for `pids`, `memory` and `freezer`.
    V1 {
        pids: PathBuf,
        memory: PathBuf,
        freezer: PathBuf,
    },
}

/// Per-tree caps the kernel enforces.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct CellLimits {
    pub processes: Option<u64>,
    pub memory_bytes: Option<u64>,
}

impl Layout {
    /// The best layout the host offers, checked by creating this instance's folder in it.
    pub fn detect(instance: &str) -> Result<Layout, String> {
        let base = Path::new(BASE);
        let mut reasons = Vec::new();
        for root in [base.to_path_buf(), base.join("unified")] {
            match v2_at(&root) {
                Ok(()) => {
                    let layout = Layout::V2 { root };
                    return match layout.prepare(instance) {
                        Ok(()) => Ok(layout),
                        Err(e) => Err(format!("cgroup v2 at {}: {e}", BASE)),
                    };
                }
                Err(reason) => reasons.push(reason),
            }
        }
        let v1 = Layout::V1 {
            pids: base.join("pids"),
            memory: base.join("memory"),
            freezer: base.join("freezer"),
        };
        if v1.roots().iter().all(|r| r.join("cgroup.procs").is_file()) {
            return match v1.prepare(instance) {
                Ok(()) => Ok(v1),
                Err(e) => Err(format!("cgroup v1 hierarchies: {e}")),
            };
        }
        reasons.push("no cgroup v1 pids/memory/freezer hierarchies".into());
        Err(reasons.join("; "))
    }

    pub fn name(&self) -> &'static str {
        match self {
            Layout::V2 { .. } => "cgroup_v2",
            Layout::V1 { .. } => "cgroup_v1",
        }
    }

    fn roots(&self) -> Vec<&Path> {
        match self {
            Layout::V2 { root } => vec![root],
            Layout::V1 {
                pids,
                memory,
                freezer,
            } => vec![pids, memory, freezer],
        }
    }

    /// This instance's folder in each hierarchy.
    fn instance_dirs(&self, instance: &str) -> Vec<PathBuf> {
        self.roots()
            .into_iter()
            .map(|root| root.join(PARENT).join(instance))
            .collect()
    }

    /// Creates this instance's folders (controllers delegated on v2) and stops whatever an
    /// earlier gateway on the same data folder left in them.
    fn prepare(&self, instance: &str) -> io::Result<()> {
        self.prune_idle_instances();
        self.ensure_dirs(instance)?;
        let swept = self.sweep(instance);
        if swept > 0 {
            tracing::warn!(
                cells = swept,
                "stopped process trees an earlier stop left running"
            );
        }
        Ok(())
    }

    /// This instance's folders, controllers passed down to them on v2.
    fn ensure_dirs(&self, instance: &str) -> io::Result<()> {
        if let Layout::V2 { root } = self {
            let parent = root.join(PARENT);
            fs::create_dir_all(parent.join(instance))?;
            // Each level down to the cells' parent passes the controllers on.
            for level in [root.clone(), parent.clone(), parent.join(instance)] {
                write_file(&level.join("cgroup.subtree_control"), "+pids +memory")?;
            }
        }
        for dir in self.instance_dirs(instance) {
            fs::create_dir_all(&dir)?;
        }
        Ok(())
    }

    /// Removes the folders of gateways that were killed while idle (a folder that still holds
    /// a cell is busy and stays). A gateway whose folder goes this way makes it again.
    fn prune_idle_instances(&self) {
        for root in self.roots() {
            let Ok(entries) = fs::read_dir(root.join(PARENT)) else {
                continue;
            };
            for entry in entries.flatten() {
                if entry.path().is_dir() {
                    let _ = fs::remove_dir(entry.path());
                }
            }
        }
    }

    /// Removes this instance's (empty) folders when the gateway stops.
    pub fn release(&self, instance: &str) {
        self.sweep(instance);
        for dir in self.instance_dirs(instance) {
            let _ = fs::remove_dir(dir);
        }
    }

    /// Kills and removes every cell left in this instance's folders; returns how many.
    pub fn sweep(&self, instance: &str) -> usize {
        let mut names: Vec<String> = Vec::new();
        for dir in self.instance_dirs(instance) {
            let Ok(entries) = fs::read_dir(&dir) else {
                continue;
            };
            for entry in entries.flatten() {
                if entry.path().is_dir() {
                    let name = entry.file_name().to_string_lossy().into_owned();
                    if !names.contains(&name) {
                        names.push(name);
                    }
                }
            }
        }
        for name in &names {
            let cell = Cell {
                layout: self.clone(),
                dirs: self
                    .instance_dirs(instance)
                    .into_iter()
                    .map(|d| d.join(name))
                    .filter(|d| d.is_dir())
                    .collect(),
                procs: Vec::new(),
            };
            drop(cell);
        }
        names.len()
    }
}

fn v2_at(root: &Path) -> Result<(), String> {
    let controllers = fs::read_to_string(root.join("cgroup.controllers"))
        .map_err(|_| format!("no cgroup v2 hierarchy at {}", root.display()))?;
    let offered: Vec<&str> = controllers.split_whitespace().collect();
    for needed in ["pids", "memory"] {
        if !offered.contains(&needed) {
            return Err(format!(
                "the cgroup v2 hierarchy at {} lacks the {needed} controller",
                root.display()
            ));
        }
    }
    Ok(())
}

/// One child tree's cgroup (one folder per hierarchy). Dropping it kills what is left in
/// it and removes it.
#[derive(Debug)]
pub struct Cell {
    layout: Layout,
    dirs: Vec<PathBuf>,
    /// The file of each folder the child writes itself into before it execs.
    procs: Vec<OwnedFd>,
}

impl Cell {
    pub fn create(
        layout: &Layout,
        instance: &str,
        name: &str,
        limits: CellLimits,
    ) -> io::Result<Cell> {
        let dirs: Vec<PathBuf> = layout
            .instance_dirs(instance)
            .into_iter()
            .map(|d| d.join(name))
            .collect();
        let mut cell = Cell {
            layout: layout.clone(),
            dirs: Vec::new(),
            procs: Vec::new(),
        };
        for dir in &dirs {
            if let Err(error) = fs::create_dir(dir) {
                if error.kind() != io::ErrorKind::NotFound {
                    return Err(error);
                }
                // Another gateway's start pruned this one's idle folder.
                layout.ensure_dirs(instance)?;
                fs::create_dir(dir)?;
            }
            cell.dirs.push(dir.clone());
        }
        cell.limit(limits)?;
        // On v1 the child moves its one thread through `tasks`: moving a whole thread group
        // through `cgroup.procs` takes a global lock whose RCU grace period cost ~10 ms a run.
        let join_file = match layout {
            Layout::V2 { .. } => "cgroup.procs",
            Layout::V1 { .. } => "tasks",
        };
        for dir in &cell.dirs {
            let file = fs::OpenOptions::new()
                .write(true)
                .open(dir.join(join_file))?;
            cell.procs.push(OwnedFd::from(file));
        }
        Ok(cell)
    }

    fn limit(&self, limits: CellLimits) -> io::Result<()> {
        let (pids, memory) = match &self.layout {
            Layout::V2 { .. } => (self.dirs[0].clone(), self.dirs[0].clone()),
            Layout::V1 { .. } => (self.dirs[0].clone(), self.dirs[1].clone()),
        };
        if let Some(max) = limits.processes {
            write_file(&pids.join("pids.max"), &max.to_string())?;
        }
        if let Some(bytes) = limits.memory_bytes {
            match &self.layout {
                Layout::V2 { .. } => {
                    write_file(&memory.join("memory.max"), &bytes.to_string())?;
                    // Swap would let a tree hold more than its cap; not every host has it.
                    let _ = write_file(&memory.join("memory.swap.max"), "0");
                }
                Layout::V1 { .. } => {
                    write_file(&memory.join("memory.limit_in_bytes"), &bytes.to_string())?;
                    let _ = write_file(
                        &memory.join("memory.memsw.limit_in_bytes"),
                        &bytes.to_string(),
                    );
                }
            }
        }
        Ok(())
    }

    /// Descriptors the child writes `0` to, between fork and exec, to join the cell (it is
    /// single-threaded then, so moving its thread moves the process).
    pub fn join_fds(&self) -> Vec<RawFd> {
        self.procs.iter().map(AsRawFd::as_raw_fd).collect()
    }

    /// Whether the kernel's OOM killer acted in this cell.
    pub fn memory_exhausted(&self) -> bool {
        let (dir, file) = match &self.layout {
            Layout::V2 { .. } => (&self.dirs[0], "memory.events"),
            Layout::V1 { .. } => (&self.dirs[1], "memory.oom_control"),
        };
        counter(&dir.join(file), "oom_kill") > 0
    }

    /// Whether a fork in this cell failed at the process cap.
    pub fn processes_exhausted(&self) -> bool {
        counter(&self.dirs[0].join("pids.events"), "max") > 0
    }

    fn members(&self) -> Vec<i32> {
        let Some(dir) = self.dirs.last() else {
            return Vec::new();
        };
        fs::read_to_string(dir.join("cgroup.procs"))
            .unwrap_or_default()
            .lines()
            .filter_map(|l| l.trim().parse().ok())
            .collect()
    }

    /// Kills every process in the cell and waits (up to `wait`) until it is empty.
    pub fn kill_all(&self, wait: Duration) -> bool {
        // An empty cell stays empty: nothing is inside to fork, nothing outside can enter.
        if self.members().is_empty() {
            return true;
        }
        match &self.layout {
            Layout::V2 { .. } => {
                let dir = &self.dirs[0];
                if write_file(&dir.join("cgroup.kill"), "1").is_err() {
                    // Before Linux 5.14: freeze, kill each member, thaw.
                    let _ = write_file(&dir.join("cgroup.freeze"), "1");
                    self.kill_members();
                    let _ = write_file(&dir.join("cgroup.freeze"), "0");
                }
            }
            Layout::V1 { .. } => {
                let freezer = &self.dirs[2];
                let frozen = write_file(&freezer.join("freezer.state"), "FROZEN").is_ok()
                    && poll(Duration::from_millis(500), || {
                        fs::read_to_string(freezer.join("freezer.state"))
                            .is_ok_and(|s| s.trim() == "FROZEN")
                    });
                self.kill_members();
                if frozen {
                    let _ = write_file(&freezer.join("freezer.state"), "THAWED");
                }
            }
        }
        poll(wait, || {
            self.kill_members();
            self.members().is_empty()
        })
    }

    fn kill_members(&self) {
        for pid in self.members() {
            // SAFETY: kill(2) with a pid read from the cell; a pid that already exited is ESRCH.
            unsafe { libc::kill(pid, libc::SIGKILL) };
        }
    }
}

impl Drop for Cell {
    fn drop(&mut self) {
        if self.dirs.is_empty() {
            return;
        }
        self.procs.clear();
        let emptied = self.kill_all(Duration::from_secs(2));
        for dir in &self.dirs {
            if let Err(error) = fs::remove_dir(dir) {
                if emptied {
                    tracing::warn!(%error, dir = %dir.display(), "cannot remove a run's cgroup");
                }
            }
        }
    }
}

/// Polls `done` until it holds or `limit` passes.
fn poll(limit: Duration, mut done: impl FnMut() -> bool) -> bool {
    let started = Instant::now();
    loop {
        if done() {
            return true;
        }
        if started.elapsed() >= limit {
            return false;
        }
        std::thread::sleep(Duration::from_millis(2));
    }
}

/// A `name value` line of a cgroup events file.
fn counter(path: &Path, name: &str) -> u64 {
    fs::read_to_string(path)
        .unwrap_or_default()
        .lines()
        .filter_map(|line| line.split_once(' '))
        .find(|(key, _)| *key == name)
        .and_then(|(_, value)| value.trim().parse().ok())
        .unwrap_or(0)
}

fn write_file(path: &Path, value: &str) -> io::Result<()> {
    let mut file = fs::OpenOptions::new().write(true).open(path)?;
    file.write_all(value.as_bytes())
}
