//! One child tree's cgroup: made (or kept from an earlier tree) before the child starts,
//! joined by the child before it execs, emptied and checked for enforced caps at its end.

use std::fs;
use std::io;
use std::os::fd::{AsRawFd, OwnedFd, RawFd};
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use super::cgroup::{write_file, CellLimits, Layout, OWNER_PREFIX};

/// One child tree's cgroup (one folder per hierarchy). Dropping it kills what is left in
/// it and removes it.
#[derive(Debug)]
pub struct Cell {
    layout: Layout,
    dirs: Vec<PathBuf>,
    /// The file of each folder the child writes itself into before it execs.
    procs: Vec<OwnedFd>,
    limits: CellLimits,
    /// The kernel's counters only grow: what they held when this cell's current tree began.
    baseline: Counters,
    /// Open where the cell was made here; a cell found from an earlier start is only emptied
    /// and removed, never handed a tree, so it has none.
    counter_files: Option<CounterFiles>,
}

/// The files read after every tree, kept open: reading an open cgroup file again from
/// offset 0 is one system call, where opening, reading and closing it took five.
#[derive(Debug)]
struct CounterFiles {
    pids_current: fs::File,
    oom_kills: fs::File,
    process_cap_hits: fs::File,
}

impl CounterFiles {
    fn open(pids_dir: &Path, oom_file: &Path) -> io::Result<CounterFiles> {
        Ok(CounterFiles {
            pids_current: fs::File::open(pids_dir.join("pids.current"))?,
            oom_kills: fs::File::open(oom_file)?,
            process_cap_hits: fs::File::open(pids_dir.join("pids.events"))?,
        })
    }
}

/// How often the kernel enforced a cell's caps, since the cell was made.
#[derive(Debug, Clone, Copy, Default)]
struct Counters {
    oom_kills: u64,
    process_cap_hits: u64,
}

/// Which caps the kernel enforced on one tree.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Enforced {
    pub memory: bool,
    pub processes: bool,
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
            limits,
            baseline: Counters::default(),
            counter_files: None,
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
        cell.counter_files = Some(CounterFiles::open(&cell.dirs[0], &cell.oom_file())?);
        Ok(cell)
    }

    /// The file whose `oom_kill` line counts the OOM killer's acts in this cell.
    fn oom_file(&self) -> PathBuf {
        match &self.layout {
            Layout::V2 { .. } => self.dirs[0].join("memory.events"),
            Layout::V1 { .. } => self.dirs[1].join("memory.oom_control"),
        }
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

    /// A cell found in this instance's folders (left by an earlier run of the gateway).
    pub(super) fn found(layout: &Layout, dirs: Vec<PathBuf>) -> Cell {
        Cell {
            layout: layout.clone(),
            dirs,
            procs: Vec::new(),
            limits: CellLimits::default(),
            baseline: Counters::default(),
            counter_files: None,
        }
    }

    pub(super) fn is_busy(&self) -> bool {
        !self.members().is_empty()
    }

    /// Whether the kernel has let go of every process of the tree: a killed process leaves
    /// `cgroup.procs` at once but counts against `pids.max` until it is reaped, so a cell
    /// handed to the next tree before that would start it short of processes.
    pub(super) fn is_released(&self) -> bool {
        self.counter_files.as_ref().is_some_and(|files| {
            read_from_start(&files.pids_current).is_ok_and(|n| n.trim() == "0")
        })
    }

    pub fn limits(&self) -> CellLimits {
        self.limits
    }

    pub fn is_present(&self) -> bool {
        self.dirs.iter().all(|dir| dir.is_dir())
    }

    /// Which caps the kernel enforced on the tree that just ended (the OOM killer acted, a
    /// fork failed at the process cap); the cell is then ready for the next tree.
    pub fn settle(&mut self) -> Enforced {
        let Some(files) = &self.counter_files else {
            return Enforced::default();
        };
        let read = |file| read_from_start(file).unwrap_or_default();
        let now = Counters {
            oom_kills: counter(&read(&files.oom_kills), "oom_kill"),
            process_cap_hits: counter(&read(&files.process_cap_hits), "max"),
        };
        let enforced = Enforced {
            memory: now.oom_kills > self.baseline.oom_kills,
            processes: now.process_cap_hits > self.baseline.process_cap_hits,
        };
        self.baseline = now;
        enforced
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
        self.counter_files = None;
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

/// An open cgroup file's whole text, generated afresh by the kernel for a read at offset 0.
fn read_from_start(file: &fs::File) -> io::Result<String> {
    let mut buffer = [0u8; 512];
    let length = file.read_at(&mut buffer, 0)?;
    Ok(String::from_utf8_lossy(&buffer[..length]).into_owned())
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
fn counter(text: &str, name: &str) -> u64 {
    text.lines()
        .filter_map(|line| line.split_once(' '))
        .find(|(key, _)| *key == name)
        .and_then(|(_, value)| value.trim().parse().ok())
        .unwrap_or(0)
}

/// Kills and removes every cell left in this instance's folders; returns how many still
/// held processes (the others were kept empty for reuse).
pub fn sweep(layout: &Layout, instance: &str) -> usize {
    let mut names: Vec<String> = Vec::new();
    for dir in layout.instance_dirs(instance) {
        let Ok(entries) = fs::read_dir(&dir) else {
            continue;
        };
        for entry in entries.flatten() {
            let name = entry.file_name().to_string_lossy().into_owned();
            if entry.path().is_dir() && !name.starts_with(OWNER_PREFIX) && !names.contains(&name) {
                names.push(name);
            }
        }
    }
    let mut busy = 0;
    for name in &names {
        let dirs = layout
            .instance_dirs(instance)
            .into_iter()
            .map(|d| d.join(name))
            .filter(|d| d.is_dir())
            .collect();
        let cell = Cell::found(layout, dirs);
        busy += usize::from(cell.is_busy());
        drop(cell);
    }
    busy
}
