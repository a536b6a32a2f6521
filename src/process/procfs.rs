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
