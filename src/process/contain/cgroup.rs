//! A control group per child tree: the kernel counts every process and byte of the tree
//! together, and can stop all of it at once, whatever sessions or groups it made.

use std::fs;
use std::io::{self, Write};
use std::path::{Path, PathBuf};

const BASE: &str = "/sys/fs/cgroup";
/// How the empty cgroup marking a live gateway's instance folder starts (then its pid).
pub(super) const OWNER_PREFIX: &str = "owner-";
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
    pub(super) fn instance_dirs(&self, instance: &str) -> Vec<PathBuf> {
        self.roots()
            .into_iter()
            .map(|root| root.join(PARENT).join(instance))
            .collect()
    }

    /// Creates this instance's folders (controllers delegated on v2), after removing those
    /// of gateways that are gone.
    fn prepare(&self, instance: &str) -> io::Result<()> {
        self.prune_idle_instances();
        self.ensure_dirs(instance)?;
        fs::create_dir_all(self.owner_marker(instance, std::process::id()))
    }

    /// An empty cgroup named after the gateway holding the instance, in the first hierarchy:
    /// while that process lives, other gateways' starts leave the instance alone.
    fn owner_marker(&self, instance: &str, pid: u32) -> PathBuf {
        self.roots()[0]
            .join(PARENT)
            .join(instance)
            .join(format!("{OWNER_PREFIX}{pid}"))
    }

    /// Whether a live process other than this one holds the instance (a pid from another
    /// pid namespace may look alive: its kept cells then stay, which costs only folders).
    fn held_by_another_live_gateway(&self, instance: &str) -> bool {
        let Ok(entries) = fs::read_dir(self.roots()[0].join(PARENT).join(instance)) else {
            return false;
        };
        entries.flatten().any(|entry| {
            let name = entry.file_name();
            let pid = name
                .to_str()
                .and_then(|n| n.strip_prefix(OWNER_PREFIX))
                .and_then(|pid| pid.parse::<i32>().ok());
            pid.is_some_and(|pid| {
                u32::try_from(pid).ok() != Some(std::process::id())
                    && nix::sys::signal::kill(nix::unistd::Pid::from_raw(pid), None)
                        .map_or_else(|errno| errno == nix::errno::Errno::EPERM, |()| true)
            })
        })
    }

    /// This instance's folders, controllers passed down to them on v2.
    pub(super) fn ensure_dirs(&self, instance: &str) -> io::Result<()> {
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

    /// Removes the folders of gateways that were killed, with the empty cells they kept (a
    /// cell with processes in it stays); a live gateway's folder is left alone.
    fn prune_idle_instances(&self) {
        // Decided once per instance: its owner marker lives in the first hierarchy only.
        let held: Vec<std::ffi::OsString> = fs::read_dir(self.roots()[0].join(PARENT))
            .into_iter()
            .flatten()
            .flatten()
            .map(|entry| entry.file_name())
            .filter(|name| self.held_by_another_live_gateway(&name.to_string_lossy()))
            .collect();
        for root in self.roots() {
            let Ok(entries) = fs::read_dir(root.join(PARENT)) else {
                continue;
            };
            for entry in entries.flatten().filter(|entry| entry.path().is_dir()) {
                if held.contains(&entry.file_name()) {
                    continue;
                }
                // Empty cells a gateway kept for reuse, then died holding; busy cells stay.
                for cell in fs::read_dir(entry.path()).into_iter().flatten().flatten() {
                    let _ = fs::remove_dir(cell.path());
                }
                let _ = fs::remove_dir(entry.path());
            }
        }
    }

    /// Removes this instance's folders when the gateway stops (after its cells went).
    pub fn remove_instance_dirs(&self, instance: &str) {
        let _ = fs::remove_dir(self.owner_marker(instance, std::process::id()));
        for dir in self.instance_dirs(instance) {
            let _ = fs::remove_dir(dir);
        }
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

pub(super) fn write_file(path: &Path, value: &str) -> io::Result<()> {
    let mut file = fs::OpenOptions::new().write(true).open(path)?;
    file.write_all(value.as_bytes())
}
