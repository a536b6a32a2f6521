//! The settings in force, typed for the parts that use them: the one place keys become types.

use std::collections::BTreeMap;
use std::time::Duration;

use serde_json::Value;

/// Limits every run gets.
#[derive(Debug, Clone, PartialEq)]
pub struct RunSettings {
    pub timeout: Duration,
    pub max_output_bytes: usize,
    pub max_body_bytes: usize,
    pub max_json_body_bytes: usize,
    pub cpu_seconds: Option<u64>,
    pub address_space_bytes: Option<u64>,
    pub open_files: Option<u64>,
    pub processes: Option<u64>,
    pub file_size_bytes: Option<u64>,
    pub disk_bytes: Option<u64>,
}

/// The settings in force, typed for the parts that use them.
#[derive(Debug, Clone, PartialEq)]
pub struct Effective {
    pub run: RunSettings,
    pub max_concurrent_runs: usize,
    pub max_queued_runs: usize,
    pub schema_timeout: Duration,
    pub scan_interval: Option<Duration>,
    pub watch_debounce: Duration,
    pub notify_url: Option<String>,
    pub notify_timeout: Duration,
    pub base_url: Option<String>,
    pub run_retention: Option<Duration>,
    pub max_runs_per_script: Option<u64>,
    /// `/metrics` answers without a key.
    pub metrics_public: bool,
    /// Runs start warm (a fork server or a pre-started node).
    pub warm_execution: bool,
    pub max_warm_servers: usize,
    /// Interpreter sessions are on.
    pub exec_enabled: bool,
    pub session_idle: Duration,
    pub max_sessions: usize,
}

const MIB: u64 = 1024 * 1024;

/// Reads resolved values (already validated) by key.
struct Values<'a>(&'a BTreeMap<&'static str, Value>);

impl Values<'_> {
    fn int(&self, key: &str) -> u64 {
        self.0.get(key).and_then(Value::as_i64).unwrap_or(0).max(0) as u64
    }

    fn size(&self, key: &str) -> usize {
        usize::try_from(self.int(key)).unwrap_or(usize::MAX)
    }

    /// Zero turns a limit off.
    fn optional(&self, key: &str) -> Option<u64> {
        Some(self.int(key)).filter(|n| *n > 0)
    }

    fn secs(&self, key: &str) -> Duration {
        Duration::from_secs_f64(self.0.get(key).and_then(Value::as_f64).unwrap_or(1.0))
    }

    fn flag(&self, key: &str) -> bool {
        self.0.get(key).and_then(Value::as_bool).unwrap_or(false)
    }

    /// Empty is none.
    fn text(&self, key: &str) -> Option<String> {
        self.0
            .get(key)
            .and_then(Value::as_str)
            .filter(|s| !s.is_empty())
            .map(str::to_string)
    }
}

impl Effective {
    pub(super) fn from_values(values: &BTreeMap<&'static str, Value>) -> Effective {
        let v = Values(values);
        Effective {
            run: RunSettings {
                timeout: v.secs("timeout_sec"),
                max_output_bytes: v.size("max_output_bytes"),
                max_body_bytes: v.size("max_body_bytes"),
                max_json_body_bytes: v.size("max_json_body_bytes"),
                cpu_seconds: v.optional("cpu_limit_sec"),
                address_space_bytes: v.optional("memory_limit_mb").map(|mb| mb * MIB),
                open_files: v.optional("max_open_files"),
                processes: v.optional("max_processes"),
                file_size_bytes: v.optional("max_file_size_mb").map(|mb| mb * MIB),
                disk_bytes: v.optional("max_run_disk_mb").map(|mb| mb * MIB),
            },
            max_concurrent_runs: v.int("max_concurrent_runs").max(1) as usize,
            max_queued_runs: v.int("max_queued_runs") as usize,
            schema_timeout: v.secs("schema_timeout_sec"),
            scan_interval: v.optional("scan_interval_sec").map(Duration::from_secs),
            watch_debounce: Duration::from_millis(v.int("watch_debounce_ms")),
            notify_url: v.text("notify_url"),
            notify_timeout: v.secs("notify_timeout_sec"),
            base_url: v
                .text("base_url")
                .map(|u| u.trim_end_matches('/').to_string()),
            run_retention: v
                .optional("run_retention_days")
                .map(|d| Duration::from_secs(d * 86_400)),
            max_runs_per_script: v.optional("max_runs_per_script"),
            metrics_public: v.flag("metrics_public"),
            warm_execution: v.text("execution_mode").as_deref() == Some("warm"),
            max_warm_servers: v.size("max_warm_servers"),
            exec_enabled: v.flag("exec_enabled"),
            session_idle: Duration::from_secs(v.int("session_idle_sec")),
            max_sessions: v.size("max_sessions"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A key misspelt here would read as zero or empty, not as the table's default.
    #[test]
    fn the_table_defaults_read_as_the_documented_defaults() {
        let defaults = super::super::defs::all(2)
            .into_iter()
            .map(|def| (def.key, def.default))
            .collect();
        let effective = Effective::from_values(&defaults);
        let run = &effective.run;
        assert_eq!(run.timeout, Duration::from_secs(300));
        assert_eq!(run.max_output_bytes, 10 * 1024 * 1024);
        assert_eq!(run.max_body_bytes, 100 * 1024 * 1024);
        assert_eq!(run.max_json_body_bytes, 1024 * 1024);
        assert_eq!(run.cpu_seconds, Some(600));
        assert_eq!(run.address_space_bytes, Some(2048 * MIB));
        assert_eq!(run.open_files, Some(1024));
        assert_eq!(run.processes, Some(512));
        assert_eq!(run.file_size_bytes, Some(1024 * MIB));
        assert_eq!(run.disk_bytes, Some(4096 * MIB));
        assert_eq!(effective.max_concurrent_runs, 4);
        assert_eq!(effective.max_queued_runs, 100);
        assert_eq!(effective.schema_timeout, Duration::from_secs(10));
        assert_eq!(effective.scan_interval, Some(Duration::from_secs(60)));
        assert_eq!(effective.watch_debounce, Duration::from_millis(100));
        assert_eq!(
            (
                effective.notify_url.as_deref(),
                effective.base_url.as_deref()
            ),
            (None, None)
        );
        assert_eq!(effective.notify_timeout, Duration::from_secs(5));
        assert_eq!(
            effective.run_retention,
            Some(Duration::from_secs(30 * 86_400))
        );
        assert_eq!(effective.max_runs_per_script, Some(1000));
        assert!(!effective.metrics_public);
    }
}
