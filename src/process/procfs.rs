//! What /proc says about other processes: which exist, their parent and process group, and
//! their environment.

/// Every pid in /proc.
pub(crate) fn pids() -> Vec<u32> {
    let Ok(entries) = std::fs::read_dir("/proc") else {
        return Vec::new();
    };
    entries
        .filter_map(|entry| entry.ok()?.file_name().to_str()?.parse::<u32>().ok())
        .collect()
}

/// The processes whose parent is the gateway. The kernel lists them per thread (an orphan
/// handed to the gateway lands on any of its threads) in `/proc/self/task/<tid>/children`:
/// a read per thread of the gateway rather than one per process on the machine. Where the
/// kernel has no such file, every process's parent is read.
pub(crate) fn own_children() -> Vec<u32> {
    let own = std::process::id();
    static LISTED: std::sync::OnceLock<bool> = std::sync::OnceLock::new();
    let listed = *LISTED
        .get_or_init(|| std::path::Path::new(&format!("/proc/self/task/{own}/children")).exists());
    let tasks = std::fs::read_dir("/proc/self/task").ok().filter(|_| listed);
    let Some(tasks) = tasks else {
        return pids()
            .into_iter()
            .filter(|pid| parent_of(*pid) == Some(own))
            .collect();
    };
    let mut children: Vec<u32> = tasks
        .flatten()
        // A thread that ended since the folder was read has no file left: it had no children.
        .filter_map(|task| std::fs::read_to_string(task.path().join("children")).ok())
        .flat_map(|list| {
            list.split_whitespace()
                .filter_map(|pid| pid.parse().ok())
                .collect::<Vec<u32>>()
        })
        .collect();
    children.sort_unstable();
    children.dedup();
    children
}

/// The parent of `pid` (field 4 of its stat line).
pub(crate) fn parent_of(pid: u32) -> Option<u32> {
    stat_field(pid, 1)
}

/// The process group of `pid` (field 5 of its stat line).
pub(crate) fn process_group_of(pid: u32) -> Option<u32> {
    stat_field(pid, 2)
}

/// Whether `pid`'s environment holds exactly `entry` (`KEY=value`).
pub(crate) fn has_env_entry(pid: u32, entry: &str) -> bool {
    let environ = std::fs::read(format!("/proc/{pid}/environ")).unwrap_or_default();
    environ.split(|b| *b == 0).any(|e| e == entry.as_bytes())
}

/// The `n`th field of /proc/<pid>/stat after the command name (which may hold spaces), from 0
/// for the state.
fn stat_field(pid: u32, n: usize) -> Option<u32> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    let after_name = &stat[stat.rfind(')')? + 1..];
    after_name.split_whitespace().nth(n)?.parse().ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A child started on another thread is listed under that thread, and still found.
    #[test]
    fn own_children_are_found_whichever_thread_started_them() {
        let spawn = || {
            std::process::Command::new("sleep")
                .arg("30")
                .spawn()
                .unwrap()
        };
        let mut here = spawn();
        let mut there = std::thread::spawn(spawn).join().unwrap();
        let children = own_children();
        for child in [&mut here, &mut there] {
            assert!(children.contains(&child.id()), "{children:?}");
            child.kill().unwrap();
            child.wait().unwrap();
        }
        assert!(!own_children().contains(&here.id()));
    }
}
